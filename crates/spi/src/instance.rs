//! The Instance interface (`Instance/0.6.1`): a backend that creates, tags, lists and destroys
//! machines. It knows nothing of groups; the group controller finds its members by tags.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Result;
use crate::changes::ChangeStream;
use crate::types::{Tags, nullable, string_id};

/// The tag that carries a pet's logical ID, for backends that cannot store one natively.
pub const LOGICAL_ID_TAG: &str = "infrakit.logical_id";

/// The tag in which the group controller puts the token of the provision that creates an
/// instance: unique per provision decided, the same on every retry of it.
pub const PROVISION_TOKEN_TAG: &str = "infrakit.provision.token";

/// What an instance plugin promises beyond the interface. A controller relies on nothing a
/// plugin does not promise, so the default, the original's plugins' answer, promises nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Promises {
    /// A provision whose spec carries a [`PROVISION_TOKEN_TAG`] that an instance of the same
    /// group already carries, or that a provision still running carries, returns that instance
    /// instead of creating another. A restarted controller can then ask again for provisions it
    /// cannot see, instead of waiting minutes to learn whether they happened.
    #[serde(default)]
    pub idempotent_provision: bool,
}

string_id!(
    /// The backend's identifier of an instance (a container ID, `i-0abc...`, a file name).
    InstanceId
);
string_id!(
    /// A stable name for a pet, kept across replacements (often an IP address).
    LogicalId
);
string_id!(
    /// The token of one provision the group controller decided, tagged on the instance it
    /// creates ([`PROVISION_TOKEN_TAG`]): unique per decision, the same on every retry of it.
    ProvisionToken
);

/// Something attached to an instance at creation, such as a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    /// The attached object's identifier.
    #[serde(rename = "ID")]
    pub id: String,
    /// What kind of object it is, for example `ebs`.
    pub r#type: String,
}

/// What to create: the backend's properties plus what the group and flavor added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Spec {
    /// Backend-specific properties, opaque to everything but the instance plugin.
    #[serde(default)]
    pub properties: Option<Value>,
    /// Tags to put on the instance; membership is found by them.
    #[serde(default, with = "nullable")]
    pub tags: Tags,
    /// A script to run when the instance starts.
    #[serde(default)]
    pub init: String,
    /// The pet's logical ID, or `None` for cattle.
    #[serde(rename = "LogicalID", default)]
    pub logical_id: Option<LogicalId>,
    /// Things to attach at creation.
    #[serde(default, with = "nullable")]
    pub attachments: Vec<Attachment>,
}

/// An existing instance as the backend reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Description {
    /// The backend's identifier.
    #[serde(rename = "ID")]
    pub id: InstanceId,
    /// The logical ID, when the instance is a pet (or the backend names every instance).
    #[serde(rename = "LogicalID", default)]
    pub logical_id: Option<LogicalId>,
    /// The instance's tags.
    #[serde(default, with = "nullable")]
    pub tags: Tags,
    /// Backend detail, present only when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Value>,
}

impl Description {
    /// The logical ID from the description, else from the [`LOGICAL_ID_TAG`] tag, as the
    /// original's group controller reads it.
    pub fn effective_logical_id(&self) -> Option<LogicalId> {
        self.logical_id.clone().or_else(|| self.tags.get(LOGICAL_ID_TAG).map(|l| LogicalId(l.clone())))
    }
}

/// Why an instance is being destroyed, so a backend can keep or drop what it shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DestroyReason {
    /// Replaced during a rolling update; a replacement with the same logical ID follows.
    #[serde(rename = "rolling_update")]
    RollingUpdate,
    /// Removed for good (scale down, group destroyed, remediation).
    #[serde(rename = "terminate")]
    Terminate,
}

/// The context of a destroy call: `{"Reason":"terminate"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestroyContext {
    /// Why the instance goes.
    pub reason: DestroyReason,
}

impl DestroyContext {
    /// A destroy for good.
    pub const TERMINATE: Self = Self { reason: DestroyReason::Terminate };
    /// A destroy as part of a rolling update.
    pub const ROLLING_UPDATE: Self = Self { reason: DestroyReason::RollingUpdate };
}

/// A backend of instances.
///
/// Every method must be safe to call again with the same arguments: the group controller retries
/// on its next pass rather than inside a call.
#[async_trait]
pub trait InstancePlugin: Send + Sync {
    /// Checks the backend properties of a spec without creating anything.
    async fn validate(&self, properties: Option<&Value>) -> Result<()>;

    /// Creates one instance, tagged as the spec says, and returns its ID.
    async fn provision(&self, spec: Spec) -> Result<InstanceId>;

    /// Merges these tags into an instance's tags.
    async fn label(&self, id: &InstanceId, labels: &Tags) -> Result<()>;

    /// Destroys an instance.
    async fn destroy(&self, id: &InstanceId, context: DestroyContext) -> Result<()>;

    /// Lists the instances that carry all of these tags; with `properties`, with backend detail.
    async fn describe_instances(&self, tags: &Tags, properties: bool) -> Result<Vec<Description>>;

    /// The changes the plugin hears about its instances, from now on, if it can report them
    /// (see [`crate::changes`]). The default, `None`, means listeners must poll.
    fn changes(&self) -> Option<ChangeStream> {
        None
    }

    /// What this plugin promises beyond the interface; nothing, unless it says.
    async fn promises(&self) -> Result<Promises> {
        Ok(Promises::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_writes_go_nulls() {
        let spec = Spec { init: "echo hi".into(), ..Spec::default() };
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"Properties":null,"Tags":null,"Init":"echo hi","LogicalID":null,"Attachments":null}"#
        );
    }

    #[test]
    fn description_reads_null_tags_and_omits_missing_properties() {
        let d: Description = serde_json::from_value(json!({"ID":"i-1","LogicalID":null,"Tags":null})).unwrap();
        assert!(d.tags.is_empty());
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"ID":"i-1","LogicalID":null,"Tags":null}"#);
    }

    #[test]
    fn logical_id_falls_back_to_the_tag() {
        let mut d = Description { id: "i-1".into(), ..Description::default() };
        d.tags.insert(LOGICAL_ID_TAG.into(), "10.0.0.1".into());
        assert_eq!(d.effective_logical_id(), Some(LogicalId::from("10.0.0.1")));
    }

    #[test]
    fn destroy_context_uses_the_codes_reason_strings() {
        assert_eq!(serde_json::to_string(&DestroyContext::TERMINATE).unwrap(), r#"{"Reason":"terminate"}"#);
        assert_eq!(serde_json::to_string(&DestroyContext::ROLLING_UPDATE).unwrap(), r#"{"Reason":"rolling_update"}"#);
    }
}
