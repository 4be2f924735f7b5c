//! Where the manager keeps what it was told: every committed group spec, as numbered versions.
//!
//! The original kept one JSON document of current specs and overwrote it; here each change of a
//! group is a new [`Version`], so `history`, `diff` and `rollback` have something to read, and a
//! write is one transaction that either happened or did not. Writes carry the writer's [`Fence`]:
//! a backend shared between managers (etcd) refuses a write from a deposed leader.

mod embedded;
mod etcd;

use std::time::SystemTime;

use async_trait::async_trait;
use infrakit_spi::group::{GroupId, GroupSpec};
use serde::{Deserialize, Serialize};

pub use embedded::EmbeddedStore;
pub use etcd::EtcdStore;

/// Proof of leadership that a write must carry: the revision at which its writer became leader.
/// A store that is not shared (the embedded one, guarded by the home lock) accepts any fence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fence(pub i64);

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The writer is no longer the leader; nothing was written.
    #[error("the write was refused: this manager is no longer the leader")]
    Fenced,
    /// The store could not be read or written.
    #[error("the spec store at {location} failed: {reason}")]
    Backend { location: String, reason: String },
    /// A stored record does not parse: written by an incompatible version, or damaged.
    #[error("the spec store holds an unreadable record for {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

impl From<StoreError> for infrakit_spi::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Fenced => infrakit_spi::Error::unavailable(e.to_string()),
            StoreError::Backend { .. } | StoreError::Corrupt { .. } => infrakit_spi::Error::failed(e.to_string()),
        }
    }
}

/// What happened to a group in one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Action")]
pub enum Change {
    /// A spec was committed.
    Commit {
        #[serde(rename = "Spec")]
        spec: GroupSpec,
    },
    /// The size changed by `SetSize` or by `DestroyInstances`; the rest of the spec is as before.
    Scale {
        #[serde(rename = "Spec")]
        spec: GroupSpec,
    },
    /// The spec of an earlier version was committed again.
    Rollback {
        #[serde(rename = "Spec")]
        spec: GroupSpec,
        /// The version whose spec this is.
        #[serde(rename = "To")]
        to: u64,
    },
    /// The group was freed: no longer managed, its instances left running.
    Free,
    /// The group was destroyed with its instances.
    Destroy,
}

impl Change {
    /// The spec in effect after this change, if the group is still managed.
    pub fn spec(&self) -> Option<&GroupSpec> {
        match self {
            Change::Commit { spec } | Change::Scale { spec } | Change::Rollback { spec, .. } => Some(spec),
            Change::Free | Change::Destroy => None,
        }
    }

    /// The change's name, as `history` shows it.
    pub fn action(&self) -> &'static str {
        match self {
            Change::Commit { .. } => "commit",
            Change::Scale { .. } => "scale",
            Change::Rollback { .. } => "rollback",
            Change::Free => "free",
            Change::Destroy => "destroy",
        }
    }
}

/// One numbered change of one group. Numbers start at 1 and grow by one per change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// The version's number within its group.
    #[serde(rename = "Version")]
    pub number: u64,
    /// When it was recorded.
    #[serde(rename = "Time", with = "infrakit_spi::time")]
    pub time: SystemTime,
    /// What changed.
    #[serde(flatten)]
    pub change: Change,
}

/// A durable store of group specs and their history.
#[async_trait]
pub trait Store: Send + Sync {
    /// The current spec of every managed group, by ID.
    async fn specs(&self) -> Result<Vec<GroupSpec>, StoreError>;

    /// Every version of a group, oldest first; empty if the group was never committed.
    async fn history(&self, id: &GroupId) -> Result<Vec<Version>, StoreError>;

    /// Records a change as the group's next version and returns its number. The write is
    /// durable when this returns, and refused with [`StoreError::Fenced`] if `fence` is stale.
    async fn record(&self, id: &GroupId, change: Change, fence: Fence) -> Result<u64, StoreError>;

    /// The current spec of one group, if it is managed.
    async fn spec(&self, id: &GroupId) -> Result<Option<GroupSpec>, StoreError> {
        let history = self.history(id).await?;
        Ok(history.last().and_then(|v| v.change.spec()).cloned())
    }
}
