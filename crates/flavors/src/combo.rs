//! The combo flavor: several flavors applied in order, as one.
//!
//! ```yaml
//! Flavors:
//!   - {Plugin: vanilla, Properties: {Init: ["echo one"]}}
//!   - {Plugin: flavor-b, Properties: {...}}
//! ```
//!
//! Each flavor prepares its own copy of the incoming spec, so flavors cannot see each other's
//! output; the results are merged: tags with the last writer winning, init scripts appended in
//! order after the incoming one (as the original, an incoming script is repeated once per flavor
//! that keeps it), attachments added once each (the original appended duplicates).
//! A member is healthy only when every flavor says so; drain asks every flavor, even after one fails.

use std::sync::Arc;

use async_trait::async_trait;
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{AllocationMethod, Index, PluginSpec};
use infrakit_spi::instance::{Description, Spec};
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::{Error, Result};
use serde::Deserialize;
use serde_json::Value;

/// The combo flavor's properties.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Properties {
    #[serde(default)]
    flavors: Vec<PluginSpec>,
}

/// The combo flavor; it finds the flavors it chains through a plugin lookup.
pub struct Combo {
    plugins: Arc<dyn PluginLookup>,
}

impl Combo {
    /// A combo flavor that resolves flavor names with `plugins`.
    pub fn new(plugins: Arc<dyn PluginLookup>) -> Self {
        Self { plugins }
    }

    fn flavors(&self, properties: Option<&Value>) -> Result<Vec<(Arc<dyn FlavorPlugin>, PluginSpec)>> {
        let properties: Properties = crate::decode("combo", properties)?;
        properties.flavors.into_iter().map(|spec| Ok((self.plugins.flavor(&spec.plugin)?, spec))).collect()
    }
}

fn merge(initial: Spec, outputs: Vec<Spec>) -> Spec {
    let mut result = initial;
    for output in outputs {
        result.tags.extend(output.tags);
        if !output.init.is_empty() {
            if !result.init.is_empty() {
                result.init.push('\n');
            }
            result.init.push_str(&output.init);
        }
        for attachment in output.attachments {
            if !result.attachments.contains(&attachment) {
                result.attachments.push(attachment);
            }
        }
    }
    result
}

#[async_trait]
impl FlavorPlugin for Combo {
    async fn validate(&self, properties: Option<&Value>, _allocation: &AllocationMethod) -> Result<()> {
        crate::decode::<Properties>("combo", properties).map(drop)
    }

    async fn prepare(
        &self,
        properties: Option<&Value>,
        spec: Spec,
        allocation: &AllocationMethod,
        index: &Index,
    ) -> Result<Spec> {
        let mut outputs = Vec::new();
        for (flavor, flavor_spec) in self.flavors(properties)? {
            outputs.push(flavor.prepare(flavor_spec.properties.as_ref(), spec.clone(), allocation, index).await?);
        }
        Ok(merge(spec, outputs))
    }

    async fn healthy(&self, properties: Option<&Value>, instance: &Description) -> Result<Health> {
        for (flavor, flavor_spec) in self.flavors(properties)? {
            let health = flavor.healthy(flavor_spec.properties.as_ref(), instance).await?;
            if health != Health::Healthy {
                return Ok(health);
            }
        }
        Ok(Health::Healthy)
    }

    async fn drain(&self, properties: Option<&Value>, instance: &Description) -> Result<()> {
        let properties: Properties = crate::decode("combo", properties)?;
        let mut errors = Vec::new();
        for spec in properties.flavors {
            let drained = match self.plugins.flavor(&spec.plugin) {
                Ok(flavor) => flavor.drain(spec.properties.as_ref(), instance).await,
                Err(e) => Err(e),
            };
            if let Err(e) = drained {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(Error::failed(errors.join(", "))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Vanilla;
    use infrakit_spi::group::GroupPlugin;
    use infrakit_spi::instance::{Attachment, InstancePlugin};
    use infrakit_spi::types::PluginName;
    use serde_json::json;

    /// A flavor with a fixed health and a drain that fails, to check how combo aggregates.
    struct Judged(Health);

    #[async_trait]
    impl FlavorPlugin for Judged {
        async fn validate(&self, _: Option<&Value>, _: &AllocationMethod) -> Result<()> {
            Ok(())
        }
        async fn prepare(&self, _: Option<&Value>, spec: Spec, _: &AllocationMethod, _: &Index) -> Result<Spec> {
            Ok(spec)
        }
        async fn healthy(&self, _: Option<&Value>, _: &Description) -> Result<Health> {
            Ok(self.0)
        }
        async fn drain(&self, _: Option<&Value>, _: &Description) -> Result<()> {
            Err(Error::failed(format!("cannot drain {:?}", self.0)))
        }
    }

    struct Flavors;

    impl PluginLookup for Flavors {
        fn instance(&self, name: &PluginName) -> Result<Arc<dyn InstancePlugin>> {
            Err(Error::not_found(format!("no instance plugin {name}")))
        }
        fn flavor(&self, name: &PluginName) -> Result<Arc<dyn FlavorPlugin>> {
            match name.lookup() {
                "vanilla" => Ok(Arc::new(Vanilla::default())),
                "unknown" => Ok(Arc::new(Judged(Health::Unknown))),
                "sick" => Ok(Arc::new(Judged(Health::Unhealthy))),
                _ => Err(Error::not_found(format!("no flavor plugin {name}"))),
            }
        }
        fn group(&self, name: &PluginName) -> Result<Arc<dyn GroupPlugin>> {
            Err(Error::not_found(format!("no group plugin {name}")))
        }
    }

    fn combo() -> Combo {
        Combo::new(Arc::new(Flavors))
    }

    #[tokio::test]
    async fn prepare_merges_in_order() {
        let properties = json!({"Flavors": [
            {"Plugin": "vanilla", "Properties": {"Init": ["one"], "Tags": {"a": "1", "b": "1"},
                "Attachments": [{"ID": "v", "Type": "ebs"}]}},
            {"Plugin": "vanilla", "Properties": {"Init": ["two"], "Tags": {"b": "2"},
                "Attachments": [{"ID": "v", "Type": "ebs"}]}}
        ]});
        let spec = Spec { init: "zero".into(), ..Spec::default() };
        let out =
            combo().prepare(Some(&properties), spec, &AllocationMethod::default(), &Index::default()).await.unwrap();
        assert_eq!(out.init, "zero\nzero\none\nzero\ntwo", "the original repeats the incoming script per flavor");
        assert_eq!((out.tags["a"].as_str(), out.tags["b"].as_str()), ("1", "2"));
        assert_eq!(out.attachments, vec![Attachment { id: "v".into(), r#type: "ebs".into() }]);
    }

    #[tokio::test]
    async fn health_is_the_first_non_healthy_answer() {
        async fn check(flavors: Value) -> Result<Health> {
            combo().healthy(Some(&flavors), &Description::default()).await
        }
        let all_ok = json!({"Flavors": [{"Plugin": "vanilla"}, {"Plugin": "vanilla"}]});
        assert_eq!(check(all_ok).await.unwrap(), Health::Healthy);
        let mixed = json!({"Flavors": [{"Plugin": "vanilla"}, {"Plugin": "sick"}, {"Plugin": "unknown"}]});
        assert_eq!(check(mixed).await.unwrap(), Health::Unhealthy);
        let missing = json!({"Flavors": [{"Plugin": "nowhere"}]});
        assert_eq!(check(missing).await.unwrap_err().to_string(), "no flavor plugin nowhere");
    }

    #[tokio::test]
    async fn drain_tries_every_flavor_and_joins_errors() {
        let flavors = json!({"Flavors": [{"Plugin": "sick"}, {"Plugin": "vanilla"}, {"Plugin": "nowhere"}]});
        let err = combo().drain(Some(&flavors), &Description::default()).await.unwrap_err();
        assert_eq!(err.to_string(), "cannot drain Unhealthy, no flavor plugin nowhere");
    }
}
