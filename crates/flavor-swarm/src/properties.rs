//! The swarm flavor's properties, the original's:
//!
//! ```yaml
//! SwarmJoinIP: 172.30.0.11                   # the manager that initialises the swarm
//! Docker: {Host: "tcp://172.30.0.11:2375"}   # the engine asked for the swarm's state and tokens
//! EngineLabels: {zone: a}                    # more labels for each node's engine
//! InitScriptTemplateURL: manager-init.sh     # else the built-in script of the role
//! Attachments: {"172.30.0.11": [{ID: vol1, Type: ebs}], "*": [...]}
//! ```

use std::collections::{BTreeMap, BTreeSet};

use infrakit_spi::group::AllocationMethod;
use infrakit_spi::instance::Attachment;
use infrakit_spi::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The logical ID whose attachments go to every member.
pub const ALL_INSTANCES: &str = "*";

/// How to reach the engine that is asked about the swarm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerConnect {
    /// `tcp://HOST:PORT` or `unix:///path`.
    #[serde(default)]
    pub host: String,
}

/// The swarm flavor's properties.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmProperties {
    /// The address of the manager that initialises the swarm (its logical ID).
    #[serde(rename = "SwarmJoinIP", default)]
    pub swarm_join_ip: String,
    /// The engine to ask for the swarm's state and join tokens.
    #[serde(default)]
    pub docker: DockerConnect,
    /// Labels for every node's engine, besides the link.
    #[serde(default)]
    pub engine_labels: BTreeMap<String, String>,
    /// The init script template; the role's built-in one when empty.
    #[serde(rename = "InitScriptTemplateURL", default)]
    pub init_script_template_url: String,
    /// Attachments by logical ID (`*`: every member).
    #[serde(default)]
    pub attachments: BTreeMap<String, Vec<Attachment>>,
}

impl SwarmProperties {
    /// Parses the properties; the Docker host is required, as in the original.
    pub fn parse(properties: Option<&Value>) -> Result<Self> {
        let value = properties.ok_or_else(|| Error::invalid("missing config"))?;
        let parsed: Self = serde_json::from_value(value.clone())
            .map_err(|e| Error::invalid(format!("invalid swarm flavor properties: {e}")))?;
        if parsed.docker.host.is_empty() {
            return Err(Error::invalid("no docker connect info"));
        }
        Ok(parsed)
    }

    /// The checks of the original: logical IDs given once, attachments only for them (or `*`),
    /// each with a type and used once.
    pub fn validate_attachments(&self, allocation: &AllocationMethod) -> Result<()> {
        let mut ids = BTreeSet::new();
        for id in &allocation.logical_ids {
            if !ids.insert(id.as_str()) {
                return Err(Error::invalid(format!("LogicalID {id} specified more than once")));
            }
        }
        let mut used = BTreeSet::new();
        for (id, attachments) in &self.attachments {
            if id != ALL_INSTANCES && !ids.contains(id.as_str()) {
                return Err(Error::invalid(format!(
                    "LogicalID {id} used for an attachment but is not in group LogicalIDs"
                )));
            }
            for attachment in attachments {
                if attachment.r#type.is_empty() {
                    return Err(Error::invalid("no attachment type"));
                }
                if !used.insert(attachment.id.as_str()) {
                    return Err(Error::invalid(format!("Attachment {} specified more than once", attachment.id)));
                }
            }
        }
        Ok(())
    }

    /// The attachments of the member `logical_id`: its own, then those of every member.
    pub fn attachments_of(&self, logical_id: Option<&str>) -> Vec<Attachment> {
        let own = logical_id.and_then(|id| self.attachments.get(id)).into_iter().flatten();
        own.chain(self.attachments.get(ALL_INSTANCES).into_iter().flatten()).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use infrakit_spi::instance::LogicalId;
    use serde_json::json;

    fn pets(ids: &[&str]) -> AllocationMethod {
        AllocationMethod {
            logical_ids: ids.iter().map(|id| LogicalId((*id).to_owned())).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_originals_checks() {
        assert_eq!(SwarmProperties::parse(None).unwrap_err().to_string(), "missing config");
        assert_eq!(SwarmProperties::parse(Some(&json!({}))).unwrap_err().to_string(), "no docker connect info");
        let spec = SwarmProperties::parse(Some(&json!({
            "Docker": {"Host": "tcp://10.0.0.1:2375"},
            "Attachments": {"a": [{"ID": "v1", "Type": "ebs"}], "*": [{"ID": "v2", "Type": "ebs"}]}
        })))
        .unwrap();
        spec.validate_attachments(&pets(&["a", "b"])).unwrap();
        assert_eq!(spec.attachments_of(Some("a")).len(), 2);
        assert_eq!(spec.attachments_of(Some("b")).len(), 1);
        let error = spec.validate_attachments(&pets(&["b"])).unwrap_err().to_string();
        assert!(error.contains("LogicalID a used for an attachment"), "{error}");
        let error = spec.validate_attachments(&pets(&["a", "a"])).unwrap_err().to_string();
        assert!(error.contains("specified more than once"), "{error}");
    }
}
