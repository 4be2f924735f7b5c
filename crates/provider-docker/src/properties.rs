//! What a container is made of: the instance properties of a group spec, in the original's
//! shape (`Config`, `HostConfig`, `NetworkAttachments`, `Tags`).
//!
//! `Config` and `HostConfig` are the engine's own create-container documents, so anything the
//! engine accepts there (ports, mounts, a HEALTHCHECK, restart policies) passes straight through.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig};
use infrakit_spi::types::Tags;
use infrakit_spi::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The docker plugin's instance properties.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerProperties {
    /// Labels for every container of this spec; the spec's own tags win over them.
    #[serde(default)]
    pub tags: Tags,
    /// The container's configuration as the engine's create call takes it; must name an image.
    #[serde(default)]
    pub config: ContainerCreateBody,
    /// The host side: ports, mounts, restart policy, resources.
    #[serde(default)]
    pub host_config: Option<HostConfig>,
    /// Networks to connect the container to, created (attachable) when missing.
    #[serde(default)]
    pub network_attachments: Vec<NetworkAttachment>,
}

/// A network a container joins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkAttachment {
    /// The network's name.
    #[serde(default)]
    pub name: String,
    /// The driver to create it with when it does not exist (the engine's default when empty).
    #[serde(default)]
    pub driver: String,
    /// The subnet to create it with when it does not exist (`10.213.7.0/24`; the engine picks
    /// one when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    /// The container's address on this network is its logical ID (pets whose logical IDs are
    /// addresses, as swarm managers are).
    #[serde(rename = "AddressFromLogicalID", default, skip_serializing_if = "std::ops::Not::not")]
    pub address_from_logical_id: bool,
}

impl NetworkAttachment {
    /// How a container with `logical_id` joins this network: at the address its logical ID
    /// names, when asked to.
    pub fn endpoint(&self, logical_id: Option<&str>) -> Option<EndpointSettings> {
        let address = logical_id.filter(|_| self.address_from_logical_id)?;
        let ipam = EndpointIpamConfig { ipv4_address: Some(address.to_owned()), ..Default::default() };
        Some(EndpointSettings { ipam_config: Some(ipam), ..Default::default() })
    }
}

impl DockerProperties {
    /// Parses and checks the properties of a spec.
    pub fn parse(properties: Option<&Value>) -> Result<Self> {
        let value =
            properties.ok_or_else(|| Error::invalid("docker properties are missing: Config.Image is required"))?;
        let parsed: Self = serde_json::from_value(value.clone())
            .map_err(|e| Error::invalid(format!("invalid docker properties: {e}")))?;
        if parsed.config.image.as_deref().is_none_or(str::is_empty) {
            return Err(Error::invalid("invalid docker properties: Config.Image is required"));
        }
        if let Some(unnamed) = parsed.network_attachments.iter().position(|n| n.name.is_empty()) {
            return Err(Error::invalid(format!(
                "invalid docker properties: NetworkAttachments[{unnamed}] has no Name"
            )));
        }
        Ok(parsed)
    }

    /// The image to run.
    pub fn image(&self) -> &str {
        self.config.image.as_deref().unwrap_or_default()
    }

    /// The engine's create document for a container with these labels; a container whose
    /// network mode is one of the attachments joins it at creation, at its logical ID's address
    /// when the attachment says so.
    pub fn create_body(&self, labels: &Tags, logical_id: Option<&str>) -> ContainerCreateBody {
        let mut body = self.config.clone();
        let mut all: HashMap<String, String> = body.labels.take().unwrap_or_default();
        all.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        body.labels = Some(all);
        if self.host_config.is_some() {
            body.host_config = self.host_config.clone();
        }
        if let Some(mode) = self.network_mode()
            && let Some(endpoint) =
                self.network_attachments.iter().find(|n| n.name == mode).and_then(|n| n.endpoint(logical_id))
        {
            let networking = body.networking_config.get_or_insert_with(Default::default);
            networking.endpoints_config.get_or_insert_with(Default::default).insert(mode.to_owned(), endpoint);
        }
        body
    }

    /// The network the container starts on (`HostConfig.NetworkMode`), if one is named.
    pub fn network_mode(&self) -> Option<&str> {
        self.host_config.as_ref().and_then(|h| h.network_mode.as_deref()).filter(|m| !m.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_originals_document_parses() {
        let properties = DockerProperties::parse(Some(&json!({
            "Tags": {"Name": "web"},
            "Config": {"Image": "busybox", "Cmd": ["httpd", "-f"], "Env": ["A=1"], "ExposedPorts": {"80/tcp": {}}},
            "HostConfig": {"AutoRemove": true},
            "NetworkAttachments": [{"Name": "net1", "Driver": "bridge"}]
        })))
        .unwrap();
        assert_eq!(properties.image(), "busybox");
        assert_eq!(properties.config.env, Some(vec!["A=1".to_owned()]));
        assert_eq!(properties.network_attachments[0].driver, "bridge");
        let body = properties.create_body(&Tags::from([("infrakit.group".to_owned(), "web".to_owned())]), None);
        assert_eq!(body.host_config.and_then(|h| h.auto_remove), Some(true));
        assert_eq!(body.labels.unwrap()["infrakit.group"], "web");
    }

    #[test]
    fn a_pet_joins_its_network_at_the_address_its_logical_id_names() {
        let properties = DockerProperties::parse(Some(&json!({
            "Config": {"Image": "node"},
            "HostConfig": {"NetworkMode": "swarm"},
            "NetworkAttachments": [{"Name": "swarm", "Subnet": "10.213.7.0/24", "AddressFromLogicalID": true}]
        })))
        .unwrap();
        let body = properties.create_body(&Tags::new(), Some("10.213.7.11"));
        let endpoints = body.networking_config.and_then(|n| n.endpoints_config).unwrap();
        let address = endpoints["swarm"].ipam_config.as_ref().and_then(|i| i.ipv4_address.clone());
        assert_eq!(address.as_deref(), Some("10.213.7.11"));
        assert!(properties.create_body(&Tags::new(), None).networking_config.is_none(), "cattle get any address");
        assert_eq!(properties.network_mode(), Some("swarm"));
    }

    #[test]
    fn an_image_is_required_and_errors_say_where() {
        for bad in [None, Some(json!({})), Some(json!({"Config": {"Image": ""}}))] {
            let error = DockerProperties::parse(bad.as_ref()).unwrap_err();
            assert!(error.to_string().contains("Config.Image is required"), "{error}");
        }
        let error = DockerProperties::parse(Some(&json!({"Config": {"Image": 3}}))).unwrap_err();
        assert!(matches!(error, Error::Invalid(_)), "{error}");
        let error =
            DockerProperties::parse(Some(&json!({"Config": {"Image": "b"}, "NetworkAttachments": [{}]}))).unwrap_err();
        assert!(error.to_string().contains("NetworkAttachments[0]"), "{error}");
    }
}
