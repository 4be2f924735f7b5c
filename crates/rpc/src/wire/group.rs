//! `Group.*` (`Group/0.1.1`). `Name` is the full plugin name the client was given
//! (`group-stateless`, `mystack/workers`); the server resolves the object from it.

use infrakit_spi::group::{GroupDescription, GroupId, GroupSpec, RolloutStatus};
use infrakit_spi::instance::InstanceId;
use infrakit_spi::types::nullable;
use serde::{Deserialize, Serialize};

/// `Group.CommitGroup` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommitGroupRequest {
    /// The plugin name, for object resolution.
    #[serde(default)]
    pub name: String,
    /// The group to manage.
    pub spec: GroupSpec,
    /// Only say what would happen.
    #[serde(default)]
    pub pretend: bool,
}

/// `Group.CommitGroup` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommitGroupResponse {
    /// The request's name, echoed.
    #[serde(default)]
    pub name: String,
    /// The committed group.
    #[serde(rename = "ID", default)]
    pub id: GroupId,
    /// What the controller will do, e.g. `Managing 3 instances`.
    #[serde(default)]
    pub details: String,
}

/// A plugin name and a group: the params of the methods that name one group (`FreeGroup`,
/// `DescribeGroup`, `DestroyGroup`, `InspectGroups`, `Size`), and the whole result of those that
/// return nothing else (`FreeGroup`, `DestroyGroup`, `DestroyInstances`, `SetSize`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupRef {
    /// The plugin name (in a result: the request's, echoed).
    #[serde(default)]
    pub name: String,
    /// The group (unused by `InspectGroups`).
    #[serde(rename = "ID", default)]
    pub id: GroupId,
}

/// `Group.DescribeGroup` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeGroupResponse {
    /// The request's name, echoed.
    #[serde(default)]
    pub name: String,
    /// The group.
    #[serde(rename = "ID", default)]
    pub id: GroupId,
    /// Its members and progress.
    #[serde(default)]
    pub description: GroupDescription,
}

/// `Group.InspectGroups` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectGroupsResponse {
    /// The request's name, echoed.
    #[serde(default)]
    pub name: String,
    /// Always empty: the original never fills it.
    #[serde(rename = "ID", default)]
    pub id: GroupId,
    /// The specs of all managed groups.
    #[serde(default, with = "nullable")]
    pub groups: Vec<GroupSpec>,
}

/// `Group.DestroyInstances` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestroyInstancesRequest {
    /// The plugin name.
    #[serde(default)]
    pub name: String,
    /// The group.
    #[serde(rename = "ID", default)]
    pub id: GroupId,
    /// The members to destroy.
    #[serde(with = "nullable")]
    pub instances: Vec<InstanceId>,
}

/// `Group.Size` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SizeResponse {
    /// The request's name, echoed.
    #[serde(default)]
    pub name: String,
    /// The group.
    #[serde(rename = "ID", default)]
    pub id: GroupId,
    /// Its target size.
    #[serde(default)]
    pub size: u64,
}

/// `Group.SetSize` params. The size is signed, as Go's `int`, so that a negative one reaches the
/// server and gets a clear answer instead of a decoding error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetSizeRequest {
    /// The plugin name.
    #[serde(default)]
    pub name: String,
    /// The group.
    #[serde(rename = "ID", default)]
    pub id: GroupId,
    /// The new target size.
    pub size: i64,
}

/// The result of the rollout methods (`PauseRollout`, `ResumeRollout`, `AbortRollout`,
/// `RolloutStatus`), which the original does not have: its servers answer them with
/// `rpc: can't find method`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RolloutResponse {
    /// The request's name, echoed.
    #[serde(default)]
    pub name: String,
    /// The group.
    #[serde(rename = "ID", default)]
    pub id: GroupId,
    /// Where the group's rollout stands after the call.
    #[serde(default)]
    pub status: RolloutStatus,
}
