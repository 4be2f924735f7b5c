//! The two brakes that keep a controller from making an outage worse.
//!
//! - [`Meltdown`]: when too many members are down at once the cause is not the members (a zone,
//!   the network, the flavor's health source), and replacing them would churn the fleet for
//!   nothing. Healing stops until the count drops, as BOSH's resurrector does.
//! - [`Breaker`]: provisions of one config that keep failing back off exponentially to a cap,
//!   then probe one at a time, instead of hammering the backend on every pass. A probe that is
//!   listed puts the breaker on probation rather than closing it: a member that then dies at
//!   once (a crash loop) adds to the count, so each re-creation waits twice as long as the last.
//!   The breaker closes once the config's members stay up through the crash-loop window.

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
        down > count && u128::from(down) * 100 > u128::from(percent) * u128::from(size)
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
    /// A provision after `failures` failures was listed at `since`. Provisions go ahead, but
    /// the failures still count until the config's members have stayed up for a while.
    Probation {
        /// Consecutive failures before the listing.
        failures: u32,
        /// When the provision was listed.
        since: Instant,
    },
}

impl Breaker {
    /// Records a failed provision at `now`.
    pub fn record_failure(&mut self, error: String, now: Instant, cap: Duration) {
        let failures = self.failures().saturating_add(1);
        *self = Self::Open { failures, until: now + backoff(failures, cap), last_error: error };
    }

    /// A provision of the config was listed at `now`: an open breaker lets provisions go again,
    /// its failures on probation.
    pub fn listed(&mut self, now: Instant) {
        if let Self::Open { failures, .. } = self {
            *self = Self::Probation { failures: *failures, since: now };
        }
    }

    /// Whether the breaker has been on probation for `window` with no new failure, so it can
    /// close.
    pub fn served(&self, now: Instant, window: Duration) -> bool {
        matches!(self, Self::Probation { since, .. } if now.duration_since(*since) >= window)
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        match self {
            Self::Closed => 0,
            Self::Open { failures, .. } | Self::Probation { failures, .. } => *failures,
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

    #[test]
    fn a_listed_probe_keeps_the_count_on_probation_until_it_has_served() {
        let now = Instant::now();
        let (cap, window) = (Duration::from_secs(300), Duration::from_secs(10));
        let mut b = Breaker::Closed;
        b.record_failure("died at once".into(), now, cap);
        b.listed(now);
        assert_eq!(b, Breaker::Probation { failures: 1, since: now });
        b.listed(now + Duration::from_secs(1));
        assert!(!b.served(now + Duration::from_secs(9), window), "a later listing does not restart it");
        b.record_failure("died at once again".into(), now, cap);
        assert!(matches!(b, Breaker::Open { failures: 2, until, .. } if until == now + Duration::from_secs(10)));
        b.listed(now);
        assert!(b.served(now + window, window));
    }
}
