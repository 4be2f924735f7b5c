//! The `Updating` section of a group spec: how changes roll out and how hard the controller may
//! push a group while it heals.
//!
//! The original knows only `Duration`, `Count` and `SkipBeforeInstanceDestroy`. Every other key
//! is optional and skipped when absent, so the original's specs read, re-encode and hash exactly
//! as before (the config hash covers only Instance and Flavor anyway).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::GoDuration;
use crate::{Error, Result};

/// How changes roll out and how the controller is braked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Updating {
    /// A new member must stay healthy this long before it counts as ready.
    #[serde(default)]
    pub duration: GoDuration,
    /// A new member must be seen healthy on this many consecutive checks to count as ready.
    #[serde(default)]
    pub count: u64,
    /// `"drain"` skips the flavor's drain before a rolling-update destroy.
    #[serde(default)]
    pub skip_before_instance_destroy: Option<String>,
    /// How many members a rollout may create above the group's size: a count or a percentage
    /// of the size, rounded up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<Quantity>,
    /// How many members a rollout may take out of service below the group's size: a count or a
    /// percentage of the size, rounded down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<Quantity>,
    /// How long a new member has to become ready before the rollout fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_timeout: Option<GoDuration>,
    /// What a failed rollout does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// How long a member must stay unhealthy before it is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_grace_period: Option<GoDuration>,
    /// How many unhealthy members may be in replacement at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unhealthy_replacements: Option<u64>,
    /// The meltdown brake engages when more than this percentage of the group is down...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meltdown_percent: Option<u64>,
    /// ...and more than this many members are down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meltdown_count: Option<u64>,
    /// The longest pause between provisions of a config whose provisions keep failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_provision_backoff: Option<GoDuration>,
    /// The most instance operations (provision, drain and destroy) in flight at once; 0 is no
    /// limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u64>,
    /// The largest size the group may be committed or scaled to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
}

/// What a rollout does when a new member fails its health gate or its provisions keep failing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnFailure {
    /// Stop rolling and wait for an operator to resume or abort.
    #[default]
    Pause,
    /// Go back to the spec that was in effect before the rollout.
    Rollback,
}

/// A number of members, absolute or relative to the group's size: `2` or `"25%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// This many members.
    Count(u64),
    /// This percentage of the group's size.
    Percent(u64),
}

/// Percentages above this make no sense for surge or unavailability.
const MAX_PERCENT: u64 = 100;

impl Quantity {
    /// The number of members this quantity means in a group of `size`, rounding a percentage
    /// up or down.
    pub fn resolve(self, size: u64, round_up: bool) -> u64 {
        let share = |p: u64| {
            // Wide enough that no size overflows; at most 100% of `size`, so it fits back.
            let product = u128::from(size) * u128::from(p.min(MAX_PERCENT));
            let share = if round_up { product.div_ceil(100) } else { product / 100 };
            u64::try_from(share).unwrap_or(size)
        };
        match self {
            Self::Count(n) => n,
            Self::Percent(p) => share(p),
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for Quantity {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(format!("invalid quantity \"{text}\": want a count such as 2 or a percentage such as 25%"))
        };
        match text.trim().strip_suffix('%') {
            Some(percent) => {
                let p: u64 = percent.trim().parse().map_err(|_| bad())?;
                if p > MAX_PERCENT {
                    return Err(Error::invalid(format!("invalid quantity \"{text}\": more than 100%")));
                }
                Ok(Self::Percent(p))
            }
            None => text.trim().parse().map(Self::Count).map_err(|_| bad()),
        }
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Count(n) => serializer.serialize_u64(*n),
            Self::Percent(_) => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// A count is written as a number; a percentage (or a count) as text.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Count(u64),
            Text(String),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Count(n) => Ok(Self::Count(n)),
            Repr::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Updating {
    /// Checks the rules that the types alone cannot express, given the group's allocation.
    pub fn validate(&self, size: u64, pets: bool) -> Result<()> {
        if self.count > 0 && !self.duration.is_zero() {
            return Err(Error::invalid("Only one Updating method may be used"));
        }
        if let Some(skip) = &self.skip_before_instance_destroy
            && skip != "drain"
        {
            return Err(Error::invalid(format!(
                "Invalid SkipBeforeInstanceDestroy '{skip}': the only valid value is \"drain\""
            )));
        }
        let surge = self.max_surge.map(|q| q.resolve(size, true));
        if pets && surge.is_some_and(|s| s > 0) {
            return Err(Error::invalid(
                "MaxSurge must be 0 for a group with LogicalIDs: a logical ID never has two instances",
            ));
        }
        if surge == Some(0) && self.max_unavailable.is_some_and(|q| q.resolve(size, false) == 0) {
            return Err(Error::invalid("MaxSurge and MaxUnavailable must not both be 0: a rollout could not progress"));
        }
        if self.meltdown_percent.is_some_and(|p| p > MAX_PERCENT) {
            return Err(Error::invalid("MeltdownPercent must be at most 100"));
        }
        if let Some(max) = self.max_size
            && size > max
        {
            return Err(Error::invalid(format!("Size {size} exceeds MaxSize {max}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_read_counts_and_percentages() {
        let q: Quantity = serde_json::from_value(json!(2)).unwrap();
        assert_eq!(q, Quantity::Count(2));
        let q: Quantity = serde_json::from_value(json!("25%")).unwrap();
        assert_eq!(q, Quantity::Percent(25));
        assert_eq!(serde_json::to_value(q).unwrap(), json!("25%"));
        assert_eq!(serde_json::to_value(Quantity::Count(3)).unwrap(), json!(3));
        assert!(serde_json::from_value::<Quantity>(json!("150%")).is_err());
        assert!(serde_json::from_value::<Quantity>(json!("x")).is_err());
    }

    #[test]
    fn percentages_round_surge_up_and_unavailability_down() {
        assert_eq!(Quantity::Percent(25).resolve(10, true), 3);
        assert_eq!(Quantity::Percent(25).resolve(10, false), 2);
        assert_eq!(Quantity::Count(4).resolve(10, false), 4);
        assert_eq!(Quantity::Percent(100).resolve(u64::MAX, true), u64::MAX, "no overflow");
        assert_eq!(Quantity::Percent(50).resolve(u64::MAX, false), u64::MAX / 2);
    }

    #[test]
    fn the_originals_updating_section_reencodes_unchanged() {
        let u: Updating = serde_json::from_value(json!({"Count": 2})).unwrap();
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"Duration":"0s","Count":2,"SkipBeforeInstanceDestroy":null}"#
        );
    }

    #[test]
    fn validation_rejects_stuck_or_impossible_policies() {
        let u = Updating {
            max_surge: Some(Quantity::Count(0)),
            max_unavailable: Some(Quantity::Percent(10)),
            ..Updating::default()
        };
        assert!(u.validate(5, false).unwrap_err().to_string().contains("both be 0"));
        assert!(u.validate(20, false).is_ok());
        let u = Updating { max_surge: Some(Quantity::Count(1)), ..Updating::default() };
        assert!(u.validate(3, true).unwrap_err().to_string().starts_with("MaxSurge must be 0"));
        let u = Updating { max_size: Some(5), ..Updating::default() };
        assert_eq!(u.validate(8, false).unwrap_err().to_string(), "Size 8 exceeds MaxSize 5");
    }
}
