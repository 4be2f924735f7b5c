//! What the controller remembers about a group between passes: what the tags cannot say.
//!
//! Tags say which instances are members and which config they run. They cannot say which
//! provisions are still in flight, which destroys were asked for but are still listed, how long a
//! member has been unhealthy, or that a config keeps failing. That is this module's [`Memory`]:
//! the decision reads it and returns the next one; completions of operations update it through
//! the methods below, which are as pure as the decision (time comes in as `now`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use infrakit_spi::group::ConfigHash;
use infrakit_spi::instance::{DestroyReason, InstanceId, LogicalId, ProvisionToken};
use tokio::time::Instant;

use crate::brakes::{Breaker, Meltdown};
use crate::rollout::{Event, Refused, Rollout};
use crate::track::{Cause, Track};

/// A provision that is not yet listed by the instance plugin. It counts as a member, so that a
/// plugin slow to list what it created never makes the controller create more.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// The token tagged on the instance, matching it to this intent whatever happens to the call.
    pub token: ProvisionToken,
    /// The member's sequence number, passed to the flavor.
    pub sequence: u64,
    /// The pet it creates, if any.
    pub logical_id: Option<LogicalId>,
    /// The config it provisions.
    pub config: ConfigHash,
    /// Why.
    pub cause: Cause,
    /// When it was decided (or restored from the journal).
    pub since: Instant,
    /// How far the call got.
    pub progress: Progress,
    /// Consecutive quick deaths of the slot it fills (see [`Vanished::quick_deaths`]).
    pub quick_deaths: u32,
}

/// How far a provision got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The call is queued or running.
    Requested,
    /// The plugin returned this ID; the instance is not listed yet.
    Provisioned(InstanceId),
    /// Read back from the journal after a restart: the call may or may not have happened, so
    /// its absence past the timeout is no evidence of a failure.
    Restored,
}

/// A destroy that was decided and whose instance may still be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destroying {
    /// When it was decided.
    pub since: Instant,
    /// Why.
    pub reason: DestroyReason,
    /// How far the call got.
    pub progress: DestroyProgress,
    /// The logical ID of the instance, so its pet is not re-created while it is still there.
    pub logical_id: Option<LogicalId>,
}

/// How far a destroy got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestroyProgress {
    /// The call is queued or running.
    Requested,
    /// The call returned: the instance is gone, whatever the listing says.
    Done,
    /// Read back from the journal after a restart: the call may or may not have happened, so
    /// the instance counts as present (for surge) but not as a member (for availability).
    Restored,
}

impl Destroying {
    /// True once the instance is known to be gone.
    pub fn is_done(&self) -> bool {
        self.progress == DestroyProgress::Done
    }
}

/// A member that disappeared without this controller destroying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vanished {
    /// When it was missed.
    pub at: Instant,
    /// The pet it was.
    pub logical_id: Option<LogicalId>,
    /// How many members of this slot in a row died within the crash-loop window of being
    /// listed, this one included; 0 when this one lived longer. Its replacement inherits the
    /// count, so a slot that keeps dying at once is told from members that each die once.
    pub quick_deaths: u32,
}

/// Unique provision tokens: a prefix per controller start and a counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Distinguishes this controller run from earlier ones.
    pub prefix: String,
    /// The next sequence number.
    pub next: u64,
}

impl Tokens {
    /// The next token and its sequence number.
    pub fn take(&mut self) -> (ProvisionToken, u64) {
        let n = self.next;
        self.next += 1;
        (ProvisionToken(format!("{}-{n}", self.prefix)), n)
    }
}

/// What the controller remembers about one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// The configs the group moves between and where the rollout stands.
    pub rollout: Rollout,
    /// Set when the group is being destroyed: every member goes, nothing is created.
    pub retiring: bool,
    /// The health history of every listed member.
    pub tracks: HashMap<InstanceId, Track>,
    /// Provisions not yet listed.
    pub intents: Vec<Intent>,
    /// Destroys decided and not yet gone from the listing.
    pub destroys: HashMap<InstanceId, Destroying>,
    /// Crash-loop breakers by config hash; absent means closed.
    pub breakers: BTreeMap<ConfigHash, Breaker>,
    /// The meltdown brake.
    pub meltdown: Meltdown,
    /// Members that disappeared and have not been replaced yet.
    pub vanished: BTreeMap<InstanceId, Vanished>,
    /// Provision tokens.
    pub tokens: Tokens,
    /// The instance running this controller, once drained for a rollout it cannot finish.
    pub drained_self: Option<InstanceId>,
    /// The last operation error, until the group converges.
    pub last_error: Option<String>,
}

/// How long a provisioned instance may stay unlisted before it is taken as lost. Eventually
/// consistent backends list new instances within seconds; this is generous on purpose because
/// giving up too early is what doubles a member.
pub const PROVISION_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a destroyed instance may stay listed before it is taken as a member again.
pub const DESTROY_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(300);

impl Memory {
    /// A fresh memory of a group on `config`, whose provision tokens start with `prefix`.
    pub fn new(prefix: impl Into<String>, config: ConfigHash) -> Self {
        Self {
            rollout: Rollout::new(config),
            retiring: false,
            tracks: HashMap::new(),
            intents: Vec::new(),
            destroys: HashMap::new(),
            breakers: BTreeMap::new(),
            meltdown: Meltdown::Released,
            vanished: BTreeMap::new(),
            tokens: Tokens { prefix: prefix.into(), next: 0 },
            drained_self: None,
            last_error: None,
        }
    }

    /// A provision call returned this instance.
    pub fn provision_succeeded(&mut self, token: &ProvisionToken, id: InstanceId) {
        if let Some(intent) = self.intents.iter_mut().find(|i| &i.token == token) {
            intent.progress = Progress::Provisioned(id);
        }
    }

    /// A provision call failed: the intent is dropped and its config's breaker counts one more
    /// failure. Returns the breaker's consecutive failures.
    pub fn provision_failed(&mut self, token: &ProvisionToken, error: &str, now: Instant, cap: Duration) -> u32 {
        let Some(at) = self.intents.iter().position(|i| &i.token == token) else { return 0 };
        let intent = self.intents.remove(at);
        let breaker = self.breakers.entry(intent.config).or_default();
        breaker.record_failure(error.to_owned(), now, cap);
        self.last_error = Some(error.to_owned());
        breaker.failures()
    }

    /// A destroy call returned. A failed destroy makes the instance a member again, so a later
    /// pass decides about it afresh.
    pub fn destroy_finished(&mut self, id: &InstanceId, error: Option<&str>) {
        match error {
            None => {
                if let Some(d) = self.destroys.get_mut(id) {
                    d.progress = DestroyProgress::Done;
                }
            }
            Some(error) => {
                self.destroys.remove(id);
                self.last_error = Some(error.to_owned());
            }
        }
    }

    /// Moves the rollout by one event, and applies what the step asks of the rest of the
    /// memory: a config that starts afresh gets its breaker closed and its unready members'
    /// health timeouts restarted. Returns what changed, for the group's events.
    pub fn roll(&mut self, event: Event, now: Instant) -> Result<Option<String>, Refused> {
        let transition = self.rollout.step(event)?;
        if let Some(config) = transition.fresh_start {
            self.breakers.remove(&config);
            for track in self.tracks.values_mut().filter(|t| t.ready_at.is_none()) {
                track.first_seen = now;
                track.unhealthy_since = None;
            }
        }
        Ok(transition.message)
    }

    /// Instances whose destroy was asked for and is not known to have happened.
    pub fn destroys_in_flight(&self) -> usize {
        self.destroys.values().filter(|d| !d.is_done()).count()
    }
}
