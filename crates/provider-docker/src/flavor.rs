//! The `docker` flavor: a container's HEALTHCHECK status as the group's health.
//!
//! The group controller judges health through a flavor. This one reads what the docker plugin's
//! listing reports (`Health` in a description's properties) so that the controller's
//! remediation replaces containers the engine finds unhealthy. It changes nothing in the spec:
//! combine it with another flavor (`combo`) for Init or tags.

use async_trait::async_trait;
use infrakit_spi::Result;
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{AllocationMethod, Index};
use infrakit_spi::instance::{Description, Spec};
use serde_json::Value;

/// The `docker` flavor.
#[derive(Debug, Clone, Copy, Default)]
pub struct DockerHealth;

#[async_trait]
impl FlavorPlugin for DockerHealth {
    async fn validate(&self, _properties: Option<&Value>, _allocation: &AllocationMethod) -> Result<()> {
        Ok(())
    }

    async fn prepare(
        &self,
        _properties: Option<&Value>,
        spec: Spec,
        _allocation: &AllocationMethod,
        _index: &Index,
    ) -> Result<Spec> {
        Ok(spec)
    }

    async fn healthy(&self, _properties: Option<&Value>, instance: &Description) -> Result<Health> {
        Ok(health(instance))
    }

    async fn drain(&self, _properties: Option<&Value>, _instance: &Description) -> Result<()> {
        Ok(())
    }
}

/// A running container is healthy unless its HEALTHCHECK says otherwise; one without a
/// HEALTHCHECK is healthy while it runs. One still starting (or its check) cannot tell yet.
fn health(instance: &Description) -> Health {
    let properties = instance.properties.as_ref();
    let field = |name: &str| properties.and_then(|p| p.get(name)).and_then(Value::as_str);
    match (field("State"), field("Health")) {
        (Some("running"), Some("unhealthy")) => Health::Unhealthy,
        (Some("running"), Some("starting")) => Health::Unknown,
        (Some("running"), _) => Health::Healthy,
        (Some(_), _) => Health::Unhealthy,
        (None, _) => Health::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn described(properties: Value) -> Description {
        Description { id: "c".into(), properties: Some(properties), ..Description::default() }
    }

    #[test]
    fn the_healthcheck_decides() {
        assert_eq!(health(&described(json!({"State": "running", "Health": "unhealthy"}))), Health::Unhealthy);
        assert_eq!(health(&described(json!({"State": "running", "Health": "starting"}))), Health::Unknown);
        assert_eq!(health(&described(json!({"State": "running", "Health": "healthy"}))), Health::Healthy);
        assert_eq!(health(&described(json!({"State": "running", "Health": null}))), Health::Healthy);
        assert_eq!(health(&described(json!({"State": "created"}))), Health::Unhealthy);
        assert_eq!(health(&Description::default()), Health::Unknown);
    }
}
