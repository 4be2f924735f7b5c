//! The simulator's run-time knobs: how slow, how flaky, how full and how stale each object is.
//!
//! They are set in the options (every object starts with the same knobs) and changed at run time
//! through a [`SimulatorObject`](super::SimulatorObject) handle, one object at a time, which is
//! how group controller tests make a backend fail or lag in the middle of a scenario.

use std::fmt;

use infrakit_spi::duration::GoDuration;
use serde::{Deserialize, Serialize};

/// How an object behaves. Delays are tokio time, so tests can pause and advance them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Knobs {
    /// How long each provision takes (`INFRAKIT_SIMULATOR_PROVISION_DELAY`).
    pub provision_delay: GoDuration,
    /// How long each describe takes (`INFRAKIT_SIMULATOR_DESCRIBE_DELAY`).
    pub describe_delay: GoDuration,
    /// How long each destroy takes.
    pub destroy_delay: GoDuration,
    /// How long after its provision returns a new instance starts being listed, and how long a
    /// destroyed one goes on being listed: the eventual consistency of a cloud API.
    pub describe_lag: GoDuration,
    /// The share of provisions that fail, drawn from the object's seeded generator.
    pub failure_rate: Probability,
    /// At most this many live instances in the object; a provision beyond it fails with
    /// `at capacity N`.
    pub capacity: Option<usize>,
}

/// A probability, always within `0.0..=1.0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Probability(f64);

impl Probability {
    /// Never.
    pub const NEVER: Self = Self(0.0);
    /// Always.
    pub const ALWAYS: Self = Self(1.0);

    /// `p`, if it is a probability.
    pub fn new(p: f64) -> Result<Self, InvalidProbability> {
        if (0.0..=1.0).contains(&p) { Ok(Self(p)) } else { Err(InvalidProbability(p)) }
    }

    /// The probability as a number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Probability {
    type Error = InvalidProbability;

    fn try_from(p: f64) -> Result<Self, Self::Error> {
        Self::new(p)
    }
}

impl From<Probability> for f64 {
    fn from(p: Probability) -> Self {
        p.0
    }
}

/// A number given as a probability that is not within `0.0..=1.0`.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("{0} is not a probability: want a number from 0 to 1")]
pub struct InvalidProbability(f64);

impl fmt::Display for Probability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn knobs_read_pascal_case_with_go_durations() {
        let knobs: Knobs =
            serde_json::from_value(json!({"DescribeLag": "5s", "FailureRate": 0.25, "Capacity": 3})).unwrap();
        assert_eq!(knobs.describe_lag, GoDuration(std::time::Duration::from_secs(5)));
        assert_eq!(knobs.failure_rate, Probability::new(0.25).unwrap());
        assert_eq!(knobs.capacity, Some(3));
        assert_eq!(knobs.provision_delay, GoDuration::ZERO);
    }

    #[test]
    fn a_failure_rate_outside_zero_to_one_is_refused() {
        assert!(Probability::new(1.5).is_err());
        assert!(Probability::new(f64::NAN).is_err());
        let error = serde_json::from_value::<Knobs>(json!({"FailureRate": -0.1})).unwrap_err();
        assert!(error.to_string().contains("-0.1 is not a probability"), "{error}");
    }
}
