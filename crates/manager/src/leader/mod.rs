//! Who may act: the leadership roles and their source.
//!
//! A manager acts (commits to the controller, writes the store) only while it is the leader, and
//! each write carries the [`Fence`] it was elected with. Roles are a watch channel so that the
//! manager reacts to a change at once rather than on a poll. The controller's own actions are
//! gated by the leadership's [`Authority`], which a lease answers from its last confirmation, so
//! that a leader frozen past its lease does not act on waking before it hears it lost.

use std::sync::{Arc, Mutex, PoisonError};

use infrakit_group::authority::{Authority, Unconditional};
use tokio::sync::watch;
use tokio::time::Instant;

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

    /// Whether this manager's controller may act now.
    fn authority(&self) -> Arc<dyn Authority>;
}

/// The authority of a lease: valid until the moment its holder must assume it may have lapsed.
#[derive(Debug, Default)]
pub struct LeaseAuthority {
    valid_until: Mutex<Option<Instant>>,
}

impl LeaseAuthority {
    /// The lease is confirmed until `until`.
    pub fn confirm(&self, until: Instant) {
        *self.valid_until.lock().unwrap_or_else(PoisonError::into_inner) = Some(until);
    }

    /// The lease is gone.
    pub fn revoke(&self) {
        *self.valid_until.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl Authority for LeaseAuthority {
    fn may_act(&self) -> bool {
        self.valid_until.lock().unwrap_or_else(PoisonError::into_inner).is_some_and(|until| Instant::now() < until)
    }
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

    fn authority(&self) -> Arc<dyn Authority> {
        Arc::new(Unconditional)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lease_authorizes_until_its_confirmation_runs_out() {
        let lease = LeaseAuthority::default();
        assert!(!lease.may_act(), "no lease yet");
        lease.confirm(Instant::now() + Duration::from_secs(1));
        assert!(lease.may_act());
        tokio::time::sleep(Duration::from_millis(999)).await;
        assert!(lease.may_act());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!lease.may_act(), "frozen past its confirmation");
        lease.confirm(Instant::now() + Duration::from_secs(1));
        lease.revoke();
        assert!(!lease.may_act(), "stepped down");
    }
}

mod etcd;

pub use etcd::{DEFAULT_LEASE_TTL, EtcdLeadership};
