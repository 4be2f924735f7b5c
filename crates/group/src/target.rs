//! A committed spec, parsed and resolved to its plugins, in its two parts: the [`Config`] (what
//! members run and how changes roll out: the hashed part, shared, never resized) and the
//! allocation (how many members, or which pets). A [`Target`] is one of each.
//!
//! The operator's size belongs to the group, not to a config: when a rollback or a retry makes
//! another config current, the group keeps its allocation, and a resize never touches a config.
//! [`Target::resized`] is the one place that changes a size.

use std::sync::Arc;

use infrakit_spi::flavor::FlavorPlugin;
use infrakit_spi::group::{
    AllocationMethod, ConfigHash, GROUP_TAG, GroupId, GroupProperties, GroupSpec, PluginSpec, Updating,
};
use infrakit_spi::instance::{Description, InstancePlugin};
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::types::Tags;
use infrakit_spi::{Error, Result};

use crate::model::Allocation;
use crate::policy::Policy;

/// What a group's members run and how changes to it roll out.
pub struct Config {
    /// The group.
    pub group: GroupId,
    /// Its hash: the tag of every member created from it.
    pub hash: ConfigHash,
    /// The Instance section.
    pub instance_spec: PluginSpec,
    /// The Flavor section.
    pub flavor_spec: PluginSpec,
    /// The Updating section.
    pub updating: Updating,
    /// The instance plugin.
    pub instance: Arc<dyn InstancePlugin>,
    /// The flavor plugin.
    pub flavor: Arc<dyn FlavorPlugin>,
    /// The controller's bound on operations for specs that set no `MaxParallel`.
    default_parallel: u64,
}

/// A config with an allocation: what the controller acts on.
#[derive(Clone)]
pub struct Target {
    /// What members run.
    pub config: Arc<Config>,
    /// How many, or which pets.
    pub allocation: AllocationMethod,
    /// The config's policy resolved against the allocation's size.
    pub policy: Policy,
}

impl Config {
    /// The group's members as the instance plugin lists them, logical IDs filled from their tag.
    pub async fn list(&self) -> Result<Vec<Description>> {
        let tags = Tags::from([(GROUP_TAG.to_owned(), self.group.to_string())]);
        let mut members = self.instance.describe_instances(&tags, true).await?;
        for m in &mut members {
            m.logical_id = m.effective_logical_id();
        }
        Ok(members)
    }

    /// The flavor's properties.
    pub fn flavor_properties(&self) -> Option<&serde_json::Value> {
        self.flavor_spec.properties.as_ref()
    }
}

impl Target {
    /// Parses a spec and finds its plugins, with the original's messages. Does not call the
    /// plugins' `Validate`; see [`Target::validate`]. `default_parallel` bounds operations when
    /// the spec sets no `MaxParallel`.
    pub fn resolve(spec: &GroupSpec, plugins: &dyn PluginLookup, default_parallel: u64) -> Result<Self> {
        let properties = GroupProperties::parse(spec)?;
        let flavor = plugins
            .flavor(&properties.flavor.plugin)
            .map_err(|e| Error::invalid(format!("Failed to find Flavor plugin '{}':{e}", properties.flavor.plugin)))?;
        let instance = plugins.instance(&properties.instance.plugin).map_err(|e| {
            Error::invalid(format!("Failed to find Instance plugin '{}':{e}", properties.instance.plugin))
        })?;
        let config = Config {
            group: spec.id.clone(),
            hash: properties.instance_hash(),
            instance_spec: properties.instance,
            flavor_spec: properties.flavor,
            updating: properties.updating,
            instance,
            flavor,
            default_parallel,
        };
        Ok(Self::new(Arc::new(config), properties.allocation))
    }

    /// A config with an allocation.
    pub fn new(config: Arc<Config>, allocation: AllocationMethod) -> Self {
        let pets = !allocation.logical_ids.is_empty();
        let size = if pets { allocation.logical_ids.len() as u64 } else { allocation.size };
        let policy = Policy::new(&config.updating, size, pets, config.default_parallel);
        Self { config, allocation, policy }
    }

    /// The group.
    pub fn id(&self) -> &GroupId {
        &self.config.group
    }

    /// The config's hash.
    pub fn hash(&self) -> &ConfigHash {
        &self.config.hash
    }

    /// The spec as `InspectGroups` returns it: re-encoded from the parsed properties, as the
    /// original does (unknown keys dropped, defaults written).
    pub fn spec(&self) -> GroupSpec {
        GroupSpec { id: self.config.group.clone(), properties: serde_json::to_value(self.properties()).ok() }
    }

    /// The whole properties.
    pub fn properties(&self) -> GroupProperties {
        GroupProperties {
            allocation: self.allocation.clone(),
            instance: self.config.instance_spec.clone(),
            flavor: self.config.flavor_spec.clone(),
            updating: self.config.updating.clone(),
        }
    }

    /// Asks the flavor, then the instance plugin, to validate their properties, as the original.
    pub async fn validate(&self) -> Result<()> {
        let config = &self.config;
        config.flavor.validate(config.flavor_properties(), &self.allocation).await?;
        config.instance.validate(config.instance_spec.properties.as_ref()).await
    }

    /// The same config with another allocation (a rollback or retry keeps the group's size).
    pub fn with_config(&self, config: Arc<Config>) -> Self {
        Self::new(config, self.allocation.clone())
    }

    /// The same config with another size. Pets keep their logical IDs: their count is their size.
    pub fn resized(&self, size: u64) -> Self {
        if self.is_pets() {
            return self.clone();
        }
        Self::new(self.config.clone(), AllocationMethod { size, ..self.allocation.clone() })
    }

    /// Checks a new size as a commit of it would be checked: the ceiling and `MaxSize`.
    pub fn check_size(&self, size: u64) -> Result<()> {
        let mut properties = self.properties();
        properties.allocation.size = size;
        properties.validate()
    }

    /// True for a group of pets.
    pub fn is_pets(&self) -> bool {
        !self.allocation.logical_ids.is_empty()
    }

    /// The number of members the group should have.
    pub fn size(&self) -> u64 {
        match self.is_pets() {
            true => self.allocation.logical_ids.len() as u64,
            false => self.allocation.size,
        }
    }

    /// The allocation as the decision sees it.
    pub fn allocation(&self) -> Allocation {
        match self.is_pets() {
            true => Allocation::Pets { ids: self.allocation.logical_ids.clone() },
            false => Allocation::Cattle { size: self.allocation.size },
        }
    }
}
