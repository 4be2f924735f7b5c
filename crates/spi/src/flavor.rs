//! The Flavor interface (`Flavor/0.1.1`): what runs on an instance and whether it is healthy.
//!
//! A flavor turns the group's instance spec into the spec of one member (init script, tags,
//! attachments), judges a member's health, and drains it before it is destroyed.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Result;
use crate::group::{AllocationMethod, Index};
use crate::instance::{Description, Spec};

/// A member's health as its flavor judges it. On the wire it is the integer `0`, `1` or `2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(from = "u8", into = "u8")]
pub enum Health {
    /// The flavor cannot tell (yet).
    #[default]
    Unknown,
    /// The member does its job.
    Healthy,
    /// The member is broken.
    Unhealthy,
}

impl From<u8> for Health {
    fn from(code: u8) -> Self {
        match code {
            1 => Self::Healthy,
            2 => Self::Unhealthy,
            _ => Self::Unknown,
        }
    }
}

impl From<Health> for u8 {
    fn from(health: Health) -> Self {
        match health {
            Health::Unknown => 0,
            Health::Healthy => 1,
            Health::Unhealthy => 2,
        }
    }
}

/// What runs on an instance.
///
/// `properties` is the flavor section of the group spec, passed on every call so that a flavor
/// can stay stateless.
#[async_trait]
pub trait FlavorPlugin: Send + Sync {
    /// Checks the flavor properties against the group's allocation.
    async fn validate(&self, properties: Option<&Value>, allocation: &AllocationMethod) -> Result<()>;

    /// Returns the spec of one new member, built from the group's instance spec.
    async fn prepare(
        &self,
        properties: Option<&Value>,
        spec: Spec,
        allocation: &AllocationMethod,
        index: &Index,
    ) -> Result<Spec>;

    /// Judges a member's health.
    async fn healthy(&self, properties: Option<&Value>, instance: &Description) -> Result<Health>;

    /// Prepares a member to be destroyed (moves its work elsewhere).
    async fn drain(&self, properties: Option<&Value>, instance: &Description) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_an_integer_on_the_wire() {
        assert_eq!(serde_json::to_string(&Health::Unhealthy).unwrap(), "2");
        assert_eq!(serde_json::from_str::<Health>("1").unwrap(), Health::Healthy);
        assert_eq!(serde_json::from_str::<Health>("7").unwrap(), Health::Unknown);
    }
}
