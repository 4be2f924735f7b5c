//! The default group controller's spec: the `Properties` of a [`GroupSpec`].
//!
//! ```yaml
//! Allocation: {Size: 3}          # or {LogicalIDs: [a, b]}
//! Instance: {Plugin: simulator/compute, Properties: {...}}
//! Flavor: {Plugin: vanilla, Properties: {...}}
//! Updating: {Count: 2}           # or {Duration: 30s}
//! ```
//!
//! Parsing applies the original's validation, with its exact messages, so every reader of a
//! group spec (controller, manager, CLI) rejects the same specs the same way.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::updating::Updating;
use super::{AllocationMethod, GroupSpec};
use crate::types::PluginName;
use crate::{Error, Result, hash};

/// A plugin and the properties to call it with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginSpec {
    /// The plugin, as `lookup[/type]`.
    pub plugin: PluginName,
    /// What to pass to it.
    #[serde(default)]
    pub properties: Option<Value>,
}

/// The spec of a group managed by the default group controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupProperties {
    /// How many members, or which pets.
    pub allocation: AllocationMethod,
    /// The instance plugin and its properties.
    pub instance: PluginSpec,
    /// The flavor plugin and its properties.
    pub flavor: PluginSpec,
    /// How changes roll out.
    #[serde(default)]
    pub updating: Updating,
}

impl GroupProperties {
    /// Reads and validates a group spec's properties, with the original's messages.
    pub fn parse(spec: &GroupSpec) -> Result<Self> {
        if spec.id.as_str().is_empty() {
            return Err(Error::invalid("Group ID must not be blank"));
        }
        let value = spec.properties.clone().unwrap_or(Value::Null);
        let properties: Self =
            serde_json::from_value(value).map_err(|e| Error::invalid(format!("Invalid properties: {e}")))?;
        properties.validate()?;
        Ok(properties)
    }

    /// Checks the rules that the types alone cannot express.
    pub fn validate(&self) -> Result<()> {
        let allocation = &self.allocation;
        if allocation.size == 0 && allocation.logical_ids.is_empty() {
            return Err(Error::invalid("Allocation must not be blank"));
        }
        if allocation.size > 0 && !allocation.logical_ids.is_empty() {
            return Err(Error::invalid("Only one Allocation method may be used"));
        }
        super::ceiling::check(self.target_size())?;
        self.updating.validate(self.target_size(), !allocation.logical_ids.is_empty())?;
        Ok(())
    }

    /// The hash of the Instance and Flavor sections: members whose `infrakit.config.hash` tag
    /// differs from it run an old config.
    pub fn instance_hash(&self) -> super::ConfigHash {
        super::ConfigHash(hash::config_hash(&self.instance, &self.flavor))
    }

    /// The number of members the group should have.
    pub fn target_size(&self) -> u64 {
        if self.allocation.logical_ids.is_empty() {
            self.allocation.size
        } else {
            self.allocation.logical_ids.len() as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(id: &str, properties: Value) -> GroupSpec {
        GroupSpec { id: id.into(), properties: Some(properties) }
    }

    fn err(spec: &GroupSpec) -> String {
        GroupProperties::parse(spec).unwrap_err().to_string()
    }

    #[test]
    fn validation_uses_the_originals_messages() {
        let plugins = json!({"Instance": {"Plugin": "simulator/compute"}, "Flavor": {"Plugin": "vanilla"}});
        let with = |extra: Value| {
            let mut p = plugins.clone();
            for (k, v) in extra.as_object().unwrap() {
                p[k] = v.clone();
            }
            p
        };
        assert_eq!(err(&spec("", with(json!({"Allocation": {"Size": 1}})))), "Group ID must not be blank");
        assert_eq!(err(&spec("g", with(json!({"Allocation": {}})))), "Allocation must not be blank");
        assert_eq!(
            err(&spec("g", with(json!({"Allocation": {"Size": 1, "LogicalIDs": ["a"]}})))),
            "Only one Allocation method may be used"
        );
        assert_eq!(
            err(&spec("g", with(json!({"Allocation": {"Size": 1}, "Updating": {"Count": 1, "Duration": "1s"}})))),
            "Only one Updating method may be used"
        );
        assert!(err(&spec("g", json!({"Allocation": "x"}))).starts_with("Invalid properties: "));
        let ok = GroupProperties::parse(&spec("g", with(json!({"Allocation": {"LogicalIDs": ["a", "b"]}})))).unwrap();
        assert_eq!(ok.target_size(), 2);
    }
}
