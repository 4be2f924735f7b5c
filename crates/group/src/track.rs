//! A member's health history: what the flavor said across passes, and whether the member has
//! passed its health gate.
//!
//! The flavor answers one question per pass ("healthy now?"); gates ("healthy on 2 consecutive
//! checks", "healthy for 30s") and remediation ("unhealthy for longer than 60s") need the
//! history, kept here and updated only by the decision.

use std::time::Duration;

use infrakit_spi::flavor::Health;
use infrakit_spi::instance::LogicalId;
use tokio::time::Instant;

use crate::policy::Gate;

/// Why a member was created, when this controller created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// To reach the target size.
    Scale,
    /// To replace a member that vanished.
    Heal,
    /// To replace a member of an older config.
    Rollout,
    /// To replace a member that stayed unhealthy.
    Remediation,
}

/// The health history of one member.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// When this controller first listed it.
    pub first_seen: Instant,
    /// Its logical ID, kept to know which pet vanished.
    pub logical_id: Option<LogicalId>,
    /// Why it was created, when this controller created it.
    pub cause: Option<Cause>,
    /// Consecutive quick deaths of the slot it fills, before it (see `memory::Vanished`).
    pub quick_deaths: u32,
    /// Consecutive healthy checks up to now.
    pub consecutive_healthy: u64,
    /// Since when it has been continuously healthy.
    pub healthy_since: Option<Instant>,
    /// Since when it has been continuously unhealthy.
    pub unhealthy_since: Option<Instant>,
    /// When it first passed the gate; a member that passed stays passed.
    pub ready_at: Option<Instant>,
    /// The last health seen.
    pub health: Health,
}

impl Track {
    /// A member first listed now.
    pub fn new(now: Instant, logical_id: Option<LogicalId>, cause: Option<Cause>) -> Self {
        Self {
            first_seen: now,
            logical_id,
            cause,
            quick_deaths: 0,
            consecutive_healthy: 0,
            healthy_since: None,
            unhealthy_since: None,
            ready_at: None,
            health: Health::Unknown,
        }
    }

    /// Records one check and evaluates the gate.
    pub fn observe(&mut self, health: Health, gate: Gate, now: Instant) {
        self.health = health;
        match health {
            Health::Healthy => {
                self.consecutive_healthy += 1;
                self.healthy_since.get_or_insert(now);
                self.unhealthy_since = None;
            }
            Health::Unhealthy => {
                self.consecutive_healthy = 0;
                self.healthy_since = None;
                self.unhealthy_since.get_or_insert(now);
            }
            Health::Unknown => {
                // The original resets its counters on anything but Healthy.
                self.consecutive_healthy = 0;
                self.healthy_since = None;
                self.unhealthy_since = None;
            }
        }
        if self.ready_at.is_none() && self.passes(gate, now) {
            self.ready_at = Some(now);
        }
    }

    fn passes(&self, gate: Gate, now: Instant) -> bool {
        match gate {
            Gate::Once => self.consecutive_healthy >= 1,
            Gate::Count(n) => self.consecutive_healthy >= n,
            Gate::Duration(d) => self.healthy_since.is_some_and(|since| now.duration_since(since) >= d),
        }
    }

    /// In service: it passed its gate and is not unhealthy now.
    pub fn is_ready(&self) -> bool {
        self.ready_at.is_some() && self.health != Health::Unhealthy
    }

    /// How long it has been continuously unhealthy.
    pub fn unhealthy_for(&self, now: Instant) -> Option<Duration> {
        self.unhealthy_since.map(|since| now.duration_since(since))
    }

    /// How long it has been waiting for its gate, if it has not passed it.
    pub fn waiting_for(&self, now: Instant) -> Option<Duration> {
        self.ready_at.is_none().then(|| now.duration_since(self.first_seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_gate_needs_consecutive_healthy_checks() {
        let now = Instant::now();
        let mut t = Track::new(now, None, None);
        t.observe(Health::Healthy, Gate::Count(2), now);
        t.observe(Health::Unhealthy, Gate::Count(2), now);
        t.observe(Health::Healthy, Gate::Count(2), now);
        assert!(!t.is_ready());
        t.observe(Health::Healthy, Gate::Count(2), now);
        assert!(t.is_ready());
        t.observe(Health::Unhealthy, Gate::Count(2), now);
        assert!(!t.is_ready(), "an unhealthy member is out of service even after its gate");
    }

    #[test]
    fn duration_gate_needs_continuous_health() {
        let start = Instant::now();
        let gate = Gate::Duration(Duration::from_secs(20));
        let mut t = Track::new(start, None, None);
        t.observe(Health::Healthy, gate, start);
        t.observe(Health::Unknown, gate, start + Duration::from_secs(10));
        t.observe(Health::Healthy, gate, start + Duration::from_secs(20));
        assert!(!t.is_ready());
        t.observe(Health::Healthy, gate, start + Duration::from_secs(40));
        assert!(t.is_ready());
        assert_eq!(t.ready_at, Some(start + Duration::from_secs(40)));
    }

    #[test]
    fn unhealthy_time_is_continuous() {
        let start = Instant::now();
        let mut t = Track::new(start, None, None);
        t.observe(Health::Unhealthy, Gate::Once, start);
        assert_eq!(t.unhealthy_for(start + Duration::from_secs(30)), Some(Duration::from_secs(30)));
        t.observe(Health::Healthy, Gate::Once, start + Duration::from_secs(31));
        assert_eq!(t.unhealthy_for(start + Duration::from_secs(40)), None);
    }
}
