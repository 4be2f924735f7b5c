//! The Group interface (`Group/0.1.1`): keep a group of instances at its spec.
//!
//! [`GroupPlugin`] is what the manager and the CLI call; [`properties`] is the schema of the
//! default group controller's spec, shared by everything that reads a group spec; [`updating`]
//! is its rollout and brake policy; [`status`] is what a controller reports beyond the original;
//! [`ceiling`] bounds a group's size.

pub mod ceiling;
pub mod properties;
pub mod status;
pub mod updating;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::instance::{Description, InstanceId, LogicalId};
use crate::types::{nullable, string_id};
use crate::{Error, Result};

pub use properties::{GroupProperties, PluginSpec};
pub use status::{Counts, Decision, GroupStatus, Phase, RolloutState, RolloutStatus};
pub use updating::{OnFailure, Quantity, Updating};

/// The tag that marks an instance as a member of a group.
pub const GROUP_TAG: &str = "infrakit.group";
/// The tag that carries the config hash a member was created from.
pub const CONFIG_HASH_TAG: &str = "infrakit.config.hash";
/// The config hash value that marks a hand-made instance to be adopted without a roll.
pub const BOOTSTRAP_CONFIG_HASH: &str = "bootstrap";

string_id!(
    /// A group's identifier, unique within a group plugin.
    GroupId
);
string_id!(
    /// The hash of a spec's Instance and Flavor sections, tagged on every member created from
    /// it: a member whose tag differs from the committed spec's runs an old config.
    ConfigHash
);

impl ConfigHash {
    /// The first eight characters, enough to tell configs apart in messages.
    pub fn short(&self) -> &str {
        self.0.get(..8).unwrap_or(&self.0)
    }
}

/// A group as committed: its ID and the controller-specific properties.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// The group's ID.
    #[serde(rename = "ID")]
    pub id: GroupId,
    /// The spec proper, opaque to everything but the group controller.
    #[serde(rename = "Properties", default)]
    pub properties: Option<Value>,
}

impl GroupSpec {
    /// The same spec with its `Allocation.Size` set to `size`, every other key kept as written:
    /// how a stored spec follows `SetSize` and `DestroyInstances`.
    pub fn with_size(mut self, size: u64) -> Result<Self> {
        let id = self.id.clone();
        let properties = self.properties.get_or_insert_with(|| Value::Object(Default::default()));
        let Some(properties) = properties.as_object_mut() else {
            return Err(Error::invalid(format!("the spec of {id} has no Properties object")));
        };
        let allocation = properties.entry("Allocation").or_insert_with(|| Value::Object(Default::default()));
        let Some(allocation) = allocation.as_object_mut() else {
            return Err(Error::invalid(format!("the spec of {id} has no Allocation object")));
        };
        allocation.insert("Size".to_owned(), Value::from(size));
        Ok(self)
    }
}

/// How a group is sized: a count of cattle, or one pet per logical ID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocationMethod {
    /// The number of interchangeable instances (cattle); 0 when pets are used.
    #[serde(default)]
    pub size: u64,
    /// One instance per logical ID (pets).
    #[serde(rename = "LogicalIDs", default, with = "nullable")]
    pub logical_ids: Vec<LogicalId>,
}

/// Where a new member sits in its group, passed to the flavor's `Prepare`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Index {
    /// The group.
    pub group: GroupId,
    /// The member's sequence number.
    pub sequence: u64,
}

/// A group's members and whether it has reached its spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupDescription {
    /// The members, as their instance plugin describes them.
    #[serde(default, with = "nullable")]
    pub instances: Vec<Description>,
    /// True when no change is in progress.
    #[serde(default)]
    pub converged: bool,
    /// The controller's detailed view; absent from the original's controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<GroupStatus>,
}

/// A controller of groups of instances.
#[async_trait]
pub trait GroupPlugin: Send + Sync {
    /// Starts managing a group, or changes a managed one; returns what it will do. With
    /// `pretend`, only says what it would do.
    async fn commit_group(&self, spec: GroupSpec, pretend: bool) -> Result<String>;

    /// Stops managing a group and leaves its instances running.
    async fn free_group(&self, id: &GroupId) -> Result<()>;

    /// Describes a group's members and progress.
    async fn describe_group(&self, id: &GroupId) -> Result<GroupDescription>;

    /// Stops managing a group and destroys its instances.
    async fn destroy_group(&self, id: &GroupId) -> Result<()>;

    /// The specs of all managed groups.
    async fn inspect_groups(&self) -> Result<Vec<GroupSpec>>;

    /// Destroys these members and shrinks the group by as many.
    async fn destroy_instances(&self, id: &GroupId, instances: &[InstanceId]) -> Result<()>;

    /// The group's target size.
    async fn size(&self, id: &GroupId) -> Result<u64>;

    /// Changes the group's target size.
    async fn set_size(&self, id: &GroupId, size: u64) -> Result<()>;

    /// Stops a rollout from replacing more members; healing goes on.
    async fn pause_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        let _ = id;
        Err(rollout_unsupported())
    }

    /// Lets a paused (or rolled back) rollout go on.
    async fn resume_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        let _ = id;
        Err(rollout_unsupported())
    }

    /// Stops a rollout and restores the spec that was in effect before it.
    async fn abort_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        let _ = id;
        Err(rollout_unsupported())
    }

    /// Where the group's rollout stands.
    async fn rollout_status(&self, id: &GroupId) -> Result<RolloutStatus> {
        let _ = id;
        Err(rollout_unsupported())
    }
}

fn rollout_unsupported() -> Error {
    Error::Unsupported("this group plugin does not control rollouts".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_and_description_write_go_nulls() {
        let allocation = AllocationMethod { size: 3, logical_ids: vec![] };
        assert_eq!(serde_json::to_string(&allocation).unwrap(), r#"{"Size":3,"LogicalIDs":null}"#);
        let description = GroupDescription::default();
        assert_eq!(serde_json::to_string(&description).unwrap(), r#"{"Instances":null,"Converged":false}"#);
    }
}
