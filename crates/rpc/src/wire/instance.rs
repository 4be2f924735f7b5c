//! `Instance.*` (`Instance/0.6.1`).

use infrakit_spi::instance::{Description, DestroyContext, InstanceId, Promises, Spec};
use infrakit_spi::types::{Tags, nullable};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `Instance.Validate` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidateRequest {
    /// The object (`""` for the default one).
    #[serde(default)]
    pub r#type: String,
    /// The backend properties to check.
    #[serde(default)]
    pub properties: Option<Value>,
}

/// The result of the methods that only succeed or fail (`Validate`, `Label`, `Destroy`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OkResponse {
    /// The request's object, echoed.
    #[serde(default)]
    pub r#type: String,
    /// True on success.
    #[serde(rename = "OK", default)]
    pub ok: bool,
}

/// `Instance.Provision` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionRequest {
    /// The object.
    #[serde(default)]
    pub r#type: String,
    /// What to create.
    pub spec: Spec,
}

/// `Instance.Provision` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionResponse {
    /// The request's object, echoed.
    #[serde(default)]
    pub r#type: String,
    /// The new instance (`null` only when a plugin returned none).
    #[serde(rename = "ID", default)]
    pub id: Option<InstanceId>,
}

/// `Instance.Label` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LabelRequest {
    /// The object.
    #[serde(default)]
    pub r#type: String,
    /// The instance to tag.
    pub instance: InstanceId,
    /// The tags to merge in.
    #[serde(default, with = "nullable")]
    pub labels: Tags,
}

/// `Instance.Destroy` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestroyRequest {
    /// The object.
    #[serde(default)]
    pub r#type: String,
    /// The instance to destroy.
    pub instance: InstanceId,
    /// Why.
    pub context: DestroyContext,
}

impl Default for DestroyRequest {
    /// Go's zero value has an empty reason, which no plugin accepts; the example shows a real one.
    fn default() -> Self {
        Self { r#type: String::new(), instance: InstanceId::default(), context: DestroyContext::TERMINATE }
    }
}

/// `Instance.DescribeInstances` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeInstancesRequest {
    /// The object.
    #[serde(default)]
    pub r#type: String,
    /// Only instances carrying all of these tags.
    #[serde(default, with = "nullable")]
    pub tags: Tags,
    /// Whether to include backend properties.
    #[serde(default)]
    pub properties: bool,
}

/// `Instance.DescribeInstances` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeInstancesResponse {
    /// The request's object, echoed.
    #[serde(default)]
    pub r#type: String,
    /// The matching instances.
    #[serde(default, with = "nullable")]
    pub descriptions: Vec<Description>,
}

/// `Instance.Promises`: what the plugin promises beyond the interface. This workspace's
/// extension: the original's plugins answer `can't find method`, which means no promises.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PromisesRequest {
    /// The object (`""` for the default one).
    #[serde(default)]
    pub r#type: String,
}

/// The answer to [`PromisesRequest`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PromisesResponse {
    /// The request's object, echoed.
    #[serde(default)]
    pub r#type: String,
    /// What the object promises.
    #[serde(default)]
    pub promises: Promises,
}
