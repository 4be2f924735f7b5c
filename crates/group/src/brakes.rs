//! The two brakes that keep a controller from making an outage worse.
//!
//! - [`Meltdown`]: when too many members are down at once the cause is not the members (a zone,
//!   the network, the flavor's health source), and replacing them would churn the fleet for
//!   nothing. Healing stops until the count drops, as BOSH's resurrector does.
//! - [`Breaker`]: provisions of one config that keep failing back off exponentially to a cap,
//!   then probe one at a time, instead of hammering the backend on every pass.

use std::time::Duration;

use tokio::time::Instant;

/// The first backoff after a failed provision: about one poll at a fast interval.
pub const PROVISION_BACKOFF_BASE: Duration = Duration::from_secs(5);

/// The meltdown brake's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Meltdown {
    /// Healing as usual.
    #[default]
    Released,
    /// Healing stopped; the reason says how many members are down.
    Engaged {
        /// Why, for the status and the event.
        reason: String,
    },
}

impl Meltdown {
    /// Whether `down` members of a group of `size` exceed both thresholds (a count and a share,
    /// so that a small group still heals).
    pub fn exceeded(down: u64, size: u64, count: u64, percent: u64) -> bool {
        down > count && down * 100 > percent * size
    }
}

/// The crash-loop breaker of one config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Breaker {
    /// Provisions go ahead.
    #[default]
    Closed,
    /// Provisions failed `failures` times in a row; the next waits until `until`, and then only
    /// one at a time until one succeeds.
    Open {
        /// Consecutive failures.
        failures: u32,
        /// No provision before this.
        until: Instant,
        /// The last failure, for the status.
        last_error: String,
    },
}

impl Breaker {
    /// Records a failed provision at `now`.
    pub fn record_failure(&mut self, error: String, now: Instant, cap: Duration) {
        let failures = match self {
            Self::Closed => 1,
            Self::Open { failures, .. } => failures.saturating_add(1),
        };
        *self = Self::Open { failures, until: now + backoff(failures, cap), last_error: error };
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        match self {
            Self::Closed => 0,
            Self::Open { failures, .. } => *failures,
        }
    }
}

/// The wait after `failures` consecutive failures: doubling from [`PROVISION_BACKOFF_BASE`],
/// never above `cap`.
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    PROVISION_BACKOFF_BASE.saturating_mul(1 << doublings).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meltdown_needs_both_the_share_and_the_count() {
        assert!(!Meltdown::exceeded(5, 10, 5, 20), "five down never engages");
        assert!(Meltdown::exceeded(6, 10, 5, 20));
        assert!(!Meltdown::exceeded(6, 100, 5, 20), "6% of a big group is not a meltdown");
        assert!(Meltdown::exceeded(21, 100, 5, 20));
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let cap = Duration::from_secs(60);
        let waits: Vec<u64> = (1..=6).map(|n| backoff(n, cap).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(backoff(u32::MAX, cap), cap);
    }

    #[test]
    fn failures_accumulate_until_closed() {
        let now = Instant::now();
        let mut b = Breaker::Closed;
        b.record_failure("quota".into(), now, Duration::from_secs(60));
        b.record_failure("quota".into(), now, Duration::from_secs(60));
        assert_eq!(b.failures(), 2);
        assert!(matches!(b, Breaker::Open { until, .. } if until == now + Duration::from_secs(10)));
    }
}
