//! Leader election on etcd with a lease.
//!
//! A manager becomes leader by creating the leader key, bound to its lease, in a transaction
//! that succeeds only if the key does not exist; the key's create revision is its [`Fence`]. It
//! then keeps the lease alive. etcd cannot expire the lease sooner than one TTL after the last
//! keep-alive that etcd acknowledged was *sent*, so the leader steps down by itself once
//! [`STEP_DOWN_AFTER`] of the TTL has passed since then without a newer acknowledgement: a
//! manager cut off from etcd (partition, a dead cluster) stops acting before another can be
//! elected. Followers retry the election a few times per TTL, so a new leader is acting within
//! about a TTL of the old one's death.

use std::sync::Arc;
use std::time::Duration;

use infrakit_etcd::{Client, Compare, CompareOp, Txn, TxnOp, TxnOpResponse};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until};
use tracing::{info, warn};

use infrakit_group::authority::Authority;

use super::{Leadership, LeaseAuthority, Role};
use crate::store::Fence;

/// The default lease TTL: a new leader acts within about this long after the old one dies.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(3);
/// The share of the TTL after which a leader without an acknowledged keep-alive steps down:
/// early enough that its lease is surely still valid, late enough to ride out one lost beat.
const STEP_DOWN_AFTER: f64 = 0.6;
/// Keep-alives (and election attempts) per TTL.
const BEATS_PER_TTL: u32 = 5;

/// Leadership from an etcd election.
pub struct EtcdLeadership {
    role: watch::Sender<Role>,
    authority: Arc<LeaseAuthority>,
}

impl EtcdLeadership {
    /// Campaigns for `key` with `location` as its value, until the process ends.
    pub fn start(client: Client, key: String, location: String, ttl: Duration) -> Self {
        let role = watch::Sender::new(Role::Follower { leader: None });
        let authority = Arc::new(LeaseAuthority::default());
        let beats = client.with_request_timeout(ttl / BEATS_PER_TTL);
        let campaign = Campaign { client, beats, key, location, ttl, role: role.clone(), authority: authority.clone() };
        tokio::spawn(campaign.run());
        Self { role, authority }
    }
}

impl Leadership for EtcdLeadership {
    fn watch(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    fn authority(&self) -> Arc<dyn Authority> {
        self.authority.clone()
    }
}

struct Campaign {
    client: Client,
    /// The same cluster for keep-alives, whose calls give up after a beat: one that met a
    /// frozen member moves the next to another member in time.
    beats: Client,
    key: String,
    location: String,
    ttl: Duration,
    role: watch::Sender<Role>,
    /// Valid until [`STEP_DOWN_AFTER`] of the TTL past the last acknowledged keep-alive.
    authority: Arc<LeaseAuthority>,
}

impl Campaign {
    fn beat(&self) -> Duration {
        self.ttl / BEATS_PER_TTL
    }

    async fn run(mut self) {
        loop {
            if let Err(e) = self.term().await {
                warn!("leader election: {e}");
                self.follow(None);
            }
            if self.role.is_closed() {
                return;
            }
            sleep(self.beat()).await;
        }
    }

    fn follow(&self, leader: Option<String>) {
        self.authority.revoke();
        self.role.send_if_modified(|role| {
            let next = Role::Follower { leader: leader.clone() };
            if let Role::Leader { .. } = role {
                warn!("stepping down as leader");
            }
            (*role != next).then(|| *role = next).is_some()
        });
    }

    /// One attempt to lead, and the term if it succeeds; returns when leadership is lost.
    async fn term(&mut self) -> Result<(), infrakit_etcd::Error> {
        let ttl_seconds = i64::try_from(self.ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let granted_at = Instant::now();
        let lease = self.client.lease_grant(ttl_seconds).await?.id;
        let claim = Txn::new()
            .when([Compare::create_revision(&self.key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put_with_lease(&self.key, self.location.as_str(), lease)])
            .or_else([TxnOp::get(&self.key)]);
        let response = self.client.txn(&claim).await?;
        if !response.succeeded {
            let leader = response.responses.into_iter().find_map(|op| match op {
                TxnOpResponse::Get(get) => get.kvs.into_iter().next().and_then(|kv| String::from_utf8(kv.value).ok()),
                _ => None,
            });
            self.follow(leader);
            self.client.lease_revoke(lease).await?;
            return Ok(());
        }
        let fence = Fence(response.header.revision);
        info!(fence = fence.0, "elected leader");
        self.authority.confirm(granted_at + self.ttl.mul_f64(STEP_DOWN_AFTER));
        self.role.send_replace(Role::Leader { fence });
        let result = self.keep(lease, granted_at).await;
        self.follow(None);
        // Hand over at once when etcd can still be reached; otherwise the lease expires.
        let _ = self.beats.lease_revoke(lease).await;
        result
    }

    /// Keeps the lease alive until an acknowledgement is overdue.
    async fn keep(&mut self, lease: i64, granted_at: Instant) -> Result<(), infrakit_etcd::Error> {
        let step_down_after = self.ttl.mul_f64(STEP_DOWN_AFTER);
        let mut acknowledged = granted_at;
        let beat_interval = self.beat();
        loop {
            let sent = Instant::now();
            match self.beats.lease_keep_alive(lease).await {
                Ok(ttl) if ttl > 0 => {
                    acknowledged = sent;
                    self.authority.confirm(sent + step_down_after);
                }
                Ok(_) => {
                    warn!("the leader lease expired");
                    return Ok(());
                }
                Err(e) => warn!("lease keep-alive failed: {e}"),
            }
            if acknowledged.elapsed() >= step_down_after {
                warn!("no keep-alive acknowledged for {:?}: etcd is unreachable", acknowledged.elapsed());
                return Ok(());
            }
            sleep_until(sent + beat_interval).await;
        }
    }
}
