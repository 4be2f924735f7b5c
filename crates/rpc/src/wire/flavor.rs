//! `Flavor.*` (`Flavor/0.1.1`).

use infrakit_spi::flavor::Health;
use infrakit_spi::group::{AllocationMethod, Index};
use infrakit_spi::instance::{Description, Spec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::instance::OkResponse;

/// `Flavor.Validate` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidateRequest {
    /// The object (`""` for the default one).
    #[serde(default)]
    pub r#type: String,
    /// The flavor section of the group spec.
    #[serde(default)]
    pub properties: Option<Value>,
    /// The group's allocation.
    #[serde(default)]
    pub allocation: AllocationMethod,
}

/// `Flavor.Prepare` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrepareRequest {
    /// The object.
    #[serde(default)]
    pub r#type: String,
    /// The flavor section of the group spec.
    #[serde(default)]
    pub properties: Option<Value>,
    /// The instance spec to build on.
    pub spec: Spec,
    /// The group's allocation.
    #[serde(default)]
    pub allocation: AllocationMethod,
    /// Where the new member sits.
    #[serde(default)]
    pub index: Index,
}

/// `Flavor.Prepare` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrepareResponse {
    /// The request's object, echoed.
    #[serde(default)]
    pub r#type: String,
    /// The member's spec.
    #[serde(default)]
    pub spec: Spec,
}

/// `Flavor.Healthy` and `Flavor.Drain` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceRequest {
    /// The object.
    #[serde(default)]
    pub r#type: String,
    /// The flavor section of the group spec.
    #[serde(default)]
    pub properties: Option<Value>,
    /// The member.
    pub instance: Description,
}

/// `Flavor.Healthy` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthyResponse {
    /// The request's object, echoed.
    #[serde(default)]
    pub r#type: String,
    /// The verdict: `0` unknown, `1` healthy, `2` unhealthy.
    #[serde(default)]
    pub health: Health,
}
