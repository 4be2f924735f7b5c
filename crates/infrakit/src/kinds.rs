//! The kinds of plugin that `infrakit plugin start` can run, and how each is built.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use infrakit_flavors::{Combo, Vanilla};
use infrakit_provider_local::file::{FileOptions, FilePlugin};
use infrakit_provider_local::process::{ProcessOptions, ProcessPlugin};
use infrakit_provider_local::simulator::{Simulator, SimulatorOptions};

use crate::registry::{Objects, Registry};

/// A kind of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Instances as JSON files in a folder.
    File,
    /// In-memory instances with settable latency, failures and lag.
    Simulator,
    /// Instances as local OS processes.
    Process,
    /// The vanilla flavor.
    Vanilla,
    /// The combo flavor.
    Combo,
}

impl Kind {
    /// Every kind, for help texts and errors.
    pub const ALL: [Kind; 5] = [Kind::File, Kind::Simulator, Kind::Process, Kind::Vanilla, Kind::Combo];

    /// The kind's name on the command line, which is also its default socket name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Simulator => "simulator",
            Kind::Process => "process",
            Kind::Vanilla => "vanilla",
            Kind::Combo => "combo",
        }
    }

    /// Builds the plugin's objects. `registry` is how plugins that call others (combo) find them.
    pub fn build(self, name: &str, registry: &Arc<Registry>) -> Result<Objects> {
        let mut objects = Objects::default();
        match self {
            Kind::File => objects.instances.push((String::new(), Arc::new(FilePlugin::new(FileOptions::from_env())))),
            Kind::Process => {
                objects.instances.push((String::new(), Arc::new(ProcessPlugin::new(ProcessOptions::from_env()))))
            }
            Kind::Simulator => {
                let options = SimulatorOptions::from_env().context("invalid simulator settings")?;
                objects.instances = Simulator::new(name, options).objects();
            }
            Kind::Vanilla => objects.flavors.push((String::new(), Arc::new(Vanilla))),
            Kind::Combo => objects.flavors.push((String::new(), Arc::new(Combo::new(registry.clone())))),
        }
        Ok(objects)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match Kind::ALL.into_iter().find(|kind| kind.name() == s) {
            Some(kind) => Ok(kind),
            None => {
                let known: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
                bail!("unknown plugin kind '{s}': known kinds are {}", known.join(", "))
            }
        }
    }
}

/// A `KIND[:NAME]` argument of `plugin start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginArg {
    pub kind: Kind,
    pub name: String,
}

impl FromStr for PluginArg {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let (kind, name) = match s.split_once(':') {
            Some((kind, name)) => (kind.parse::<Kind>()?, name.to_owned()),
            None => {
                let kind = s.parse::<Kind>()?;
                (kind, kind.name().to_owned())
            }
        };
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            bail!(
                "invalid plugin name '{name}' in '{s}': a socket name must be non-empty, without '/', not starting with '.'"
            );
        }
        Ok(Self { kind, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_args_name_the_socket() {
        let arg: PluginArg = "simulator".parse().unwrap();
        assert_eq!((arg.kind, arg.name.as_str()), (Kind::Simulator, "simulator"));
        let arg: PluginArg = "file:instance-file".parse().unwrap();
        assert_eq!((arg.kind, arg.name.as_str()), (Kind::File, "instance-file"));
        assert!("nope".parse::<PluginArg>().unwrap_err().to_string().contains("known kinds are file"));
        assert!("file:a/b".parse::<PluginArg>().is_err());
    }
}
