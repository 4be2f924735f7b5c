//! The two inputs of a decision that come from outside: what the spec wants ([`Desired`]) and
//! what the plugins report ([`Observed`]).

use infrakit_spi::flavor::Health;
use infrakit_spi::group::{BOOTSTRAP_CONFIG_HASH, CONFIG_HASH_TAG, ConfigHash, GroupId};
use infrakit_spi::instance::{Description, InstanceId, LogicalId, Promises};
use infrakit_spi::types::Tags;

use crate::policy::Policy;

/// The tag that carries the token of the provision that created a member, so that a provision
/// whose answer was lost (a crash, a timeout) is still matched to the instance it made.
pub use infrakit_spi::instance::PROVISION_TOKEN_TAG;

/// How a group is sized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocation {
    /// This many interchangeable members.
    Cattle {
        /// The target size.
        size: u64,
    },
    /// One member per logical ID, in this order.
    Pets {
        /// The logical IDs.
        ids: Vec<LogicalId>,
    },
}

/// What the current spec wants of a group. Which config that is, and which one a rollback
/// would restore, is the rollout's (in the memory): the policy here is that config's.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// The group.
    pub group: GroupId,
    /// The size or the pets.
    pub allocation: Allocation,
    /// How to roll, heal and brake.
    pub policy: Policy,
    /// The logical ID of the instance running this controller, never destroyed by it.
    pub self_id: Option<LogicalId>,
    /// What the instance plugin promises.
    pub promises: Promises,
}

impl Desired {
    /// The number of members the group should have.
    pub fn size(&self) -> u64 {
        match &self.allocation {
            Allocation::Cattle { size } => *size,
            Allocation::Pets { ids } => ids.len() as u64,
        }
    }
}

/// Whether an instance with these tags counts as running `config`: tagged with it, or a
/// bootstrap instance (adopted into the current config, never rolled). The one definition of
/// "current" for the decision and for what a commit says it will do.
pub fn is_current(tags: &Tags, config: &ConfigHash) -> bool {
    match tags.get(CONFIG_HASH_TAG) {
        Some(tagged) => tagged == config.as_str() || tagged == BOOTSTRAP_CONFIG_HASH,
        None => false,
    }
}

/// A listed member and its health, as one pass observed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The instance plugin's description.
    pub description: Description,
    /// The logical ID, from the description or its tag.
    pub logical_id: Option<LogicalId>,
    /// What the flavor said (an error counts as `Unknown`, as in the original).
    pub health: Health,
}

impl Member {
    /// A member from its description and health.
    pub fn new(description: Description, health: Health) -> Self {
        let logical_id = description.effective_logical_id();
        Self { description, logical_id, health }
    }

    /// The instance's ID.
    pub fn id(&self) -> &InstanceId {
        &self.description.id
    }

    /// The config hash the member was created from, if tagged.
    pub fn config(&self) -> Option<&str> {
        self.description.tags.get(CONFIG_HASH_TAG).map(String::as_str)
    }

    /// Whether it counts as running `config` (see [`is_current`]).
    pub fn is_current(&self, config: &ConfigHash) -> bool {
        is_current(&self.description.tags, config)
    }

    /// True for a hand-made instance waiting to be adopted without a roll.
    pub fn is_bootstrap(&self) -> bool {
        self.config() == Some(BOOTSTRAP_CONFIG_HASH)
    }

    /// The token of the provision that created it, if it was created by this controller.
    pub fn token(&self) -> Option<&str> {
        self.description.tags.get(PROVISION_TOKEN_TAG).map(String::as_str)
    }
}

/// Everything one pass saw of a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// The members the instance plugin lists under the group's tag.
    pub members: Vec<Member>,
}
