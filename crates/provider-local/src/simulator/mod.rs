//! The `simulator` instance plugin: in-memory instances in typed objects, our scale and fault
//! test backend.
//!
//! Compatible with the original (§6.2 of the reference): objects `compute`, `net` and `disk` by
//! default, decimal nanosecond IDs, the `simulator=<plugin>` tag, `Properties` = the spec's
//! properties, the `simulator_cap` and `simulator_delay` special properties and the
//! `INFRAKIT_SIMULATOR_*` delays. Beyond the original, each object has [`Knobs`] (latencies, a
//! seeded failure rate, a capacity and a describe lag) that tests turn at run time through a
//! [`SimulatorObject`] handle, and it indexes instances by tag so that it holds 100,000 of them
//! and still describes a group in milliseconds.
//!
//! One difference on the wire: `Properties` is returned only when describe asks for it, as the
//! interface says; the original returned it always.
//!
//! # Layout
//! - [`knobs`]: what can be tuned per object.
//! - `object`: one typed object, its [`InstancePlugin`] implementation and handle.
//! - `store`: the tag-indexed instances with eventual-consistency visibility.
//! - `control`: the `simulator_cap` / `simulator_delay` special properties.
//! - `ids`: never-repeating nanosecond IDs.

mod control;
mod ids;
pub mod knobs;
mod object;
mod store;

use std::sync::Arc;

use infrakit_spi::duration::GoDuration;
use infrakit_spi::instance::InstancePlugin;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::options::{Environment, OptionsError};

pub use knobs::{InvalidProbability, Knobs, Probability};
pub use object::{SIMULATOR_TAG, SimulatorObject};

/// The original's variable for the object names, comma-separated.
pub const INSTANCE_TYPES_ENV: &str = "INFRAKIT_SIMULATOR_INSTANCE_TYPES";
/// The original's variable for the slow start: calls wait this long after the plugin starts.
pub const START_DELAY_ENV: &str = "INFRAKIT_SIMULATOR_START_DELAY";
/// The original's variable for the duration of every describe.
pub const DESCRIBE_DELAY_ENV: &str = "INFRAKIT_SIMULATOR_DESCRIBE_DELAY";
/// The original's variable for the duration of every provision.
pub const PROVISION_DELAY_ENV: &str = "INFRAKIT_SIMULATOR_PROVISION_DELAY";

/// The original's default objects, in its order.
const DEFAULT_INSTANCE_TYPES: [&str; 3] = ["compute", "net", "disk"];

/// Options of the `simulator` plugin. The original's other keys (`Store`, `Dir`, `L4Names`)
/// are accepted and ignored: this simulator is in memory and has no load balancers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SimulatorOptions {
    /// The typed objects to serve, each its own instance plugin.
    pub instance_types: Vec<String>,
    /// Calls wait this long after the simulator is built: a plugin that is slow to start.
    pub start_delay: GoDuration,
    /// The knobs every object starts with.
    #[serde(flatten)]
    pub knobs: Knobs,
    /// The seed of each object's failure draws: the same seed and calls give the same failures.
    pub failure_seed: u64,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        Self {
            instance_types: DEFAULT_INSTANCE_TYPES.map(str::to_owned).to_vec(),
            start_delay: GoDuration::ZERO,
            knobs: Knobs::default(),
            failure_seed: 0,
        }
    }
}

impl SimulatorOptions {
    /// The defaults with the original's `INFRAKIT_SIMULATOR_*` variables applied.
    pub fn from_env() -> Result<Self, OptionsError> {
        Self::from_environment(&Environment::process())
    }

    /// The defaults with the `INFRAKIT_SIMULATOR_*` variables from `env` applied.
    pub fn from_environment(env: &Environment<'_>) -> Result<Self, OptionsError> {
        let mut options = Self::default();
        if let Some(types) = env.list(INSTANCE_TYPES_ENV) {
            options.instance_types = types;
        }
        let delays: [(&str, &mut GoDuration); 3] = [
            (START_DELAY_ENV, &mut options.start_delay),
            (DESCRIBE_DELAY_ENV, &mut options.knobs.describe_delay),
            (PROVISION_DELAY_ENV, &mut options.knobs.provision_delay),
        ];
        for (name, field) in delays {
            if let Some(delay) = env.duration(name)? {
                *field = GoDuration(delay);
            }
        }
        Ok(options)
    }
}

/// A simulator plugin: its typed objects, in the order the options name them.
#[derive(Debug, Clone)]
pub struct Simulator {
    objects: Vec<SimulatorObject>,
}

impl Simulator {
    /// A simulator named `name` (the value of every instance's `simulator` tag). Its start
    /// delay, if any, runs from now.
    pub fn new(name: &str, options: SimulatorOptions) -> Self {
        let ready_at = Instant::now() + options.start_delay.0;
        let mut objects: Vec<SimulatorObject> = Vec::with_capacity(options.instance_types.len());
        for type_name in &options.instance_types {
            if objects.iter().all(|o| o.name() != type_name) {
                objects.push(SimulatorObject::new(
                    name,
                    type_name,
                    options.knobs.clone(),
                    options.failure_seed,
                    ready_at,
                ));
            }
        }
        Self { objects }
    }

    /// The objects by name, as the RPC layer serves them (`simulator/compute`, ...).
    pub fn objects(&self) -> Vec<(String, Arc<dyn InstancePlugin>)> {
        self.objects
            .iter()
            .map(|object| (object.name().to_owned(), Arc::new(object.clone()) as Arc<dyn InstancePlugin>))
            .collect()
    }

    /// The handle on one object, to turn its knobs or kill its instances.
    pub fn object(&self, type_name: &str) -> Option<SimulatorObject> {
        self.objects.iter().find(|o| o.name() == type_name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;
    use std::time::Duration;

    #[test]
    fn options_read_the_originals_variables() {
        let vars = HashMap::from([
            (INSTANCE_TYPES_ENV, "compute,gpu"),
            (START_DELAY_ENV, "2s"),
            (DESCRIBE_DELAY_ENV, "100ms"),
            (PROVISION_DELAY_ENV, "1s"),
        ]);
        let env = Environment::from_fn(|name| vars.get(name).map(|v| v.to_string()));
        let options = SimulatorOptions::from_environment(&env).unwrap();
        assert_eq!(options.instance_types, ["compute", "gpu"]);
        assert_eq!(options.start_delay.0, Duration::from_secs(2));
        assert_eq!(options.knobs.describe_delay.0, Duration::from_millis(100));
        assert_eq!(options.knobs.provision_delay.0, Duration::from_secs(1));

        let bad = Environment::from_fn(|name| (name == PROVISION_DELAY_ENV).then(|| "slow".to_owned()));
        assert!(SimulatorOptions::from_environment(&bad).is_err());
        let none = Environment::from_fn(|_| None);
        assert_eq!(SimulatorOptions::from_environment(&none).unwrap(), SimulatorOptions::default());
    }

    #[test]
    fn an_options_document_sets_knobs_and_ignores_the_originals_store_keys() {
        let document = json!({
            "Store": "mem", "Dir": "/tmp/sim", "L4Names": ["lb1"],
            "InstanceTypes": ["compute"], "DescribeLag": "3s", "ProvisionDelay": 1_000_000_000u64,
            "FailureRate": 0.5, "FailureSeed": 7, "Capacity": 10
        });
        let options: SimulatorOptions = serde_json::from_value(document).unwrap();
        assert_eq!(options.instance_types, ["compute"]);
        assert_eq!(options.knobs.describe_lag.0, Duration::from_secs(3));
        assert_eq!(options.knobs.provision_delay.0, Duration::from_secs(1));
        assert_eq!(
            (options.knobs.failure_rate.get(), options.failure_seed, options.knobs.capacity),
            (0.5, 7, Some(10))
        );

        let yaml = "InstanceTypes: [disk]\nDescribeDelay: 250ms\n";
        let options: SimulatorOptions = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(options.instance_types, ["disk"]);
        assert_eq!(options.knobs.describe_delay.0, Duration::from_millis(250));
    }

    #[test]
    fn objects_are_named_once_each_in_order() {
        let options = SimulatorOptions {
            instance_types: vec!["disk".into(), "compute".into(), "disk".into()],
            ..SimulatorOptions::default()
        };
        let simulator = Simulator::new("sim", options);
        let names: Vec<String> = simulator.objects().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["disk", "compute"]);
        assert!(simulator.object("net").is_none());
    }
}
