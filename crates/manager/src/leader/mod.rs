//! Who may act: the leadership roles and their source.
//!
//! A manager acts (commits to the controller, writes the store) only while it is the leader, and
//! each write carries the [`Fence`] it was elected with. Roles are a watch channel so that the
//! manager reacts to a change at once rather than on a poll.

use tokio::sync::watch;

use crate::store::Fence;

/// This manager's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Acting, with the fence every write must carry.
    Leader { fence: Fence },
    /// Not acting; `leader` is where the leader says it can be reached, if known.
    Follower { leader: Option<String> },
}

impl Role {
    /// The fence, when leading.
    pub fn fence(&self) -> Option<Fence> {
        match self {
            Role::Leader { fence } => Some(*fence),
            Role::Follower { .. } => None,
        }
    }
}

/// A source of roles.
pub trait Leadership: Send + Sync {
    /// The current role, and every change of it.
    fn watch(&self) -> watch::Receiver<Role>;
}

/// The single-node default: the home lock already makes this manager the only one, so it
/// leads for its whole life.
pub struct SingleNode {
    role: watch::Sender<Role>,
}

impl SingleNode {
    /// Leadership of a manager that holds its home lock.
    pub fn new() -> Self {
        Self { role: watch::Sender::new(Role::Leader { fence: Fence::default() }) }
    }
}

impl Default for SingleNode {
    fn default() -> Self {
        Self::new()
    }
}

impl Leadership for SingleNode {
    fn watch(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }
}

mod etcd;

pub use etcd::{DEFAULT_LEASE_TTL, EtcdLeadership};
