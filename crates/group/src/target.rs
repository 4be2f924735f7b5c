//! A committed spec, parsed and resolved to its plugins: what the controller acts on.

use std::sync::Arc;

use infrakit_spi::flavor::FlavorPlugin;
use infrakit_spi::group::{GROUP_TAG, GroupId, GroupProperties, GroupSpec};
use infrakit_spi::instance::{Description, InstancePlugin};
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::types::Tags;
use infrakit_spi::{Error, Result};

use crate::model::Allocation;
use crate::policy::Policy;

/// A group spec ready to act on.
pub struct Target {
    /// The group.
    pub id: GroupId,
    /// The spec as `InspectGroups` returns it: re-encoded from the parsed properties, as the
    /// original does (unknown keys dropped, defaults written).
    pub spec: GroupSpec,
    /// The parsed properties.
    pub properties: GroupProperties,
    /// The config hash of its Instance and Flavor sections.
    pub hash: String,
    /// Its rollout and brake policy.
    pub policy: Policy,
    /// Its instance plugin.
    pub instance: Arc<dyn InstancePlugin>,
    /// Its flavor plugin.
    pub flavor: Arc<dyn FlavorPlugin>,
}

impl Target {
    /// Parses a spec and finds its plugins, with the original's messages. Does not call the
    /// plugins' `Validate`; see [`Target::validate`].
    pub fn resolve(spec: &GroupSpec, plugins: &dyn PluginLookup) -> Result<Self> {
        let properties = GroupProperties::parse(spec)?;
        let flavor = plugins
            .flavor(&properties.flavor.plugin)
            .map_err(|e| Error::invalid(format!("Failed to find Flavor plugin '{}':{e}", properties.flavor.plugin)))?;
        let instance = plugins.instance(&properties.instance.plugin).map_err(|e| {
            Error::invalid(format!("Failed to find Instance plugin '{}':{e}", properties.instance.plugin))
        })?;
        Ok(Self::new(spec.id.clone(), properties, instance, flavor))
    }

    fn new(
        id: GroupId,
        properties: GroupProperties,
        instance: Arc<dyn InstancePlugin>,
        flavor: Arc<dyn FlavorPlugin>,
    ) -> Self {
        let pets = !properties.allocation.logical_ids.is_empty();
        let policy = Policy::new(&properties.updating, properties.target_size(), pets);
        let spec = GroupSpec { id: id.clone(), properties: serde_json::to_value(&properties).ok() };
        Self { id, spec, hash: properties.instance_hash(), properties, policy, instance, flavor }
    }

    /// Asks the flavor, then the instance plugin, to validate their properties, as the original.
    pub async fn validate(&self) -> Result<()> {
        let p = &self.properties;
        self.flavor.validate(p.flavor.properties.as_ref(), &p.allocation).await?;
        self.instance.validate(p.instance.properties.as_ref()).await
    }

    /// The same spec with another size (cattle only); the config hash does not change.
    pub fn resized(&self, size: u64) -> Self {
        let mut properties = self.properties.clone();
        properties.allocation.size = size;
        Self::new(self.id.clone(), properties, self.instance.clone(), self.flavor.clone())
    }

    /// True for a group of pets.
    pub fn is_pets(&self) -> bool {
        !self.properties.allocation.logical_ids.is_empty()
    }

    /// The allocation as the decision sees it.
    pub fn allocation(&self) -> Allocation {
        match self.is_pets() {
            true => Allocation::Pets { ids: self.properties.allocation.logical_ids.clone() },
            false => Allocation::Cattle { size: self.properties.allocation.size },
        }
    }

    /// The group's members as the instance plugin lists them, logical IDs filled from their tag.
    pub async fn list(&self) -> Result<Vec<Description>> {
        let tags = Tags::from([(GROUP_TAG.to_owned(), self.id.to_string())]);
        let mut members = self.instance.describe_instances(&tags, true).await?;
        for m in &mut members {
            m.logical_id = m.effective_logical_id();
        }
        Ok(members)
    }
}
