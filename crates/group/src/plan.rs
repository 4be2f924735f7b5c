//! What a decision returns: the actions to execute, the memory to keep, and a report of what it
//! did, what it waits on and why.

use infrakit_spi::group::{ConfigHash, Counts, Phase, RolloutStatus};
use infrakit_spi::instance::{Description, DestroyReason, InstanceId, LogicalId, ProvisionToken};
use serde::{Deserialize, Serialize};

use crate::memory::Memory;

/// One side effect, fully specified: execution makes no choices.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create a member of the current config.
    Provision {
        /// Tagged on the instance to match it to its intent.
        token: ProvisionToken,
        /// The member's sequence number, passed to the flavor.
        sequence: u64,
        /// The pet, if any.
        logical_id: Option<LogicalId>,
        /// The config to create (the current one when decided).
        config: ConfigHash,
    },
    /// Drain (unless told not to), then destroy a member.
    Destroy {
        /// The member as listed, for the flavor's drain.
        instance: Description,
        /// Why, for the instance plugin.
        reason: DestroyReason,
        /// Whether to drain first.
        drain: bool,
    },
    /// Drain a member without destroying it (the instance running this controller).
    Drain {
        /// The member as listed.
        instance: Description,
    },
    /// Label a bootstrap instance as a member of the current config.
    Adopt {
        /// The instance.
        instance: InstanceId,
    },
}

/// The kind of a decision, which is also its event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A member is being created.
    Provision,
    /// A member is being destroyed.
    Destroy,
    /// A bootstrap instance was adopted.
    Adopt,
    /// A member is being drained.
    Drain,
    /// An unhealthy member is being replaced.
    Remediate,
    /// A member disappeared without this controller destroying it.
    Lost,
    /// The rollout changed state.
    Rollout,
    /// A brake engaged or released.
    Brake,
    /// An operation failed.
    Error,
    /// The group's spec was committed.
    Commit,
}

impl EventKind {
    /// The name used in event topics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provision => "provision",
            Self::Destroy => "destroy",
            Self::Adopt => "adopt",
            Self::Drain => "drain",
            Self::Remediate => "remediate",
            Self::Lost => "lost",
            Self::Rollout => "rollout",
            Self::Brake => "brake",
            Self::Error => "error",
            Self::Commit => "commit",
        }
    }
}

/// One decision and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// What kind of decision.
    pub kind: EventKind,
    /// The instance it is about, if any.
    pub instance: Option<String>,
    /// What and why: `replaced i-3: unhealthy for 45s`.
    pub message: String,
}

/// What a decision did and what it waits on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Where the group stands after this plan.
    pub phase: Phase,
    /// Member counts as observed.
    pub counts: Counts,
    /// The rollout's progress.
    pub rollout: RolloutStatus,
    /// Decisions taken, in order.
    pub notes: Vec<Note>,
    /// Conditions that hold progress back, and why.
    pub waiting: Vec<String>,
    /// Set when a group being destroyed has no instance left and nothing in flight.
    pub retired: bool,
}

impl Report {
    /// True when the group matches its spec and nothing is in progress.
    pub fn converged(&self) -> bool {
        self.phase == Phase::Converged
    }
}

/// The result of a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Side effects to execute.
    pub actions: Vec<Action>,
    /// The memory to keep.
    pub next: Memory,
    /// What and why.
    pub report: Report,
}
