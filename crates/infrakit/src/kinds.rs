//! The kinds of plugin that `infrakit plugin start` can run, and how each is built.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use infrakit_flavor_swarm::{Role, SwarmFlavor};
use infrakit_flavors::{Combo, Vanilla};
use infrakit_group::{FileJournal, GroupController, GroupEvent};
use infrakit_provider_aws::{AwsOptions, EC2_INSTANCE_OBJECT, Ec2InstancePlugin};
use infrakit_provider_docker::{DockerHealth, DockerOptions, DockerPlugin};
use infrakit_provider_local::file::{FileOptions, FilePlugin};
use infrakit_provider_local::options::overlay;
use infrakit_provider_local::process::{ProcessOptions, ProcessPlugin};
use infrakit_provider_local::simulator::{Simulator, SimulatorOptions};
use infrakit_rpc::{Event, EventBus};
use infrakit_spi::home::home;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::broadcast;
use tracing::warn;

use crate::manager::StoreChoice;
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
    /// The group controller.
    Group,
    /// EC2 instances, as the object `ec2-instance`.
    Aws,
    /// Containers on the local Docker engine, with the flavor that reads their HEALTHCHECK.
    Docker,
    /// The manager: the group controller behind a store of every committed spec.
    Manager,
    /// The swarm flavor, as the objects `manager` and `worker`.
    Swarm,
}

impl Kind {
    /// Every kind, for help texts and errors.
    pub const ALL: [Kind; 10] = [
        Kind::File,
        Kind::Simulator,
        Kind::Process,
        Kind::Vanilla,
        Kind::Combo,
        Kind::Group,
        Kind::Aws,
        Kind::Docker,
        Kind::Manager,
        Kind::Swarm,
    ];

    /// The kind's name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Simulator => "simulator",
            Kind::Process => "process",
            Kind::Vanilla => "vanilla",
            Kind::Combo => "combo",
            Kind::Group => "group",
            Kind::Aws => "aws",
            Kind::Docker => "docker",
            Kind::Manager => "manager",
            Kind::Swarm => "swarm",
        }
    }

    /// The socket name a plugin of this kind gets unless one is given: the kind's name, except
    /// that the group controller is `group-stateless` as in the original and the manager takes
    /// `group`.
    pub const fn default_socket(self) -> &'static str {
        match self {
            Kind::Group => "group-stateless",
            Kind::Manager => "group",
            other => other.name(),
        }
    }

    /// Builds the plugin's objects. `options` is a document laid over the settings taken from
    /// the environment; `registry` is how plugins that call others (combo, group) find them;
    /// `store` is where a manager keeps its specs.
    pub async fn build(
        self,
        name: &str,
        options: Option<&Value>,
        registry: &Arc<Registry>,
        store: &StoreChoice,
    ) -> Result<Objects> {
        if options.is_some() && !matches!(self, Kind::File | Kind::Simulator | Kind::Process | Kind::Aws | Kind::Docker)
        {
            bail!("the {self} kind takes no options; it is set with environment variables");
        }
        let mut objects = Objects::default();
        match self {
            Kind::File => {
                let options = with_options(FileOptions::from_env(), options, name)?;
                objects.instances.push((String::new(), Arc::new(FilePlugin::new(options))));
            }
            Kind::Process => {
                let options = with_options(ProcessOptions::from_env(), options, name)?;
                objects.instances.push((String::new(), Arc::new(ProcessPlugin::new(options))));
            }
            Kind::Simulator => {
                let settings = SimulatorOptions::from_env().context("invalid simulator settings")?;
                objects.instances = Simulator::new(name, with_options(settings, options, name)?).objects();
            }
            Kind::Aws => {
                let settings = AwsOptions::from_env().map_err(anyhow::Error::msg).context("invalid aws settings")?;
                let plugin = Ec2InstancePlugin::new(with_options(settings, options, name)?);
                objects.instances.push((EC2_INSTANCE_OBJECT.to_owned(), Arc::new(plugin)));
            }
            Kind::Docker => {
                let mut settings = DockerOptions::from_env().context("invalid docker settings")?;
                settings.labels_file = Some(home().join("docker").join(name).join("labels.json"));
                let plugin = DockerPlugin::new(with_options(settings, options, name)?)?;
                objects.instances.push((String::new(), Arc::new(plugin)));
                objects.flavors.push((String::new(), Arc::new(DockerHealth)));
            }
            Kind::Vanilla => objects.flavors.push((String::new(), Arc::new(vanilla()))),
            Kind::Swarm => {
                for role in [Role::Manager, Role::Worker] {
                    objects.flavors.push((role.name().to_owned(), Arc::new(SwarmFlavor::new(role, templates()))));
                }
            }
            Kind::Combo => objects.flavors.push((String::new(), Arc::new(Combo::new(registry.clone())))),
            Kind::Group => {
                let controller = group_controller(registry.clone(), controller_options(&home(), name)?).await?;
                let bus = EventBus::new();
                tokio::spawn(forward_events(controller.subscribe(), bus.clone()));
                objects.groups.push((String::new(), Arc::new(controller)));
                objects.events = Some(bus);
            }
            Kind::Manager => {
                let assembled = crate::manager::assemble(name, &home(), store, registry).await?;
                if let Some(listen) = std::env::var(infrakit_remote::LISTEN_ENV).ok().filter(|l| !l.is_empty()) {
                    let tls = infrakit_remote::TlsFiles::from_env()?;
                    crate::manager::remote_access(&listen, &home(), tls.as_ref(), assembled.manager).await?;
                }
                objects = assembled.objects;
            }
        }
        Ok(objects)
    }
}

/// The vanilla flavor, its init templates reading `http(s)://` URLs with this binary's client.
fn vanilla() -> Vanilla {
    Vanilla::new(templates())
}

/// The template engine of flavors: `http(s)://` read with this binary's client, no manager.
fn templates() -> infrakit_template::Engine {
    infrakit_template::Engine::default().with_host(crate::templates::BinaryHost::new(None))
}

/// The group controller's settings from the environment, with its journal in the home folder
/// under the plugin's name: the same for the controller of the group kind and the manager's.
pub fn controller_options(home: &Path, name: &str) -> Result<infrakit_group::Options> {
    let mut options = infrakit_group::Options::from_env().context("invalid group controller settings")?;
    options.journal = Arc::new(FileJournal::new(home.join("journal").join(name)));
    Ok(options)
}

/// A group controller over `registry`, with the groups whose destroy a crash or a stop
/// interrupted started again, so that they are destroyed to the end.
pub async fn group_controller(registry: Arc<Registry>, options: infrakit_group::Options) -> Result<GroupController> {
    let controller = GroupController::new(registry, options);
    let resumed = controller.resume_destroys().await.context("cannot read the group controller's journal")?;
    if resumed > 0 {
        tracing::info!(groups = resumed, "resuming the destroy of groups interrupted by a restart");
    }
    Ok(controller)
}

/// `base` with the options document, if any, laid over it.
fn with_options<T: Serialize + DeserializeOwned>(base: T, options: Option<&Value>, name: &str) -> Result<T> {
    match options {
        Some(document) => overlay(&base, document).with_context(|| format!("invalid options for {name}")),
        None => Ok(base),
    }
}

/// Publishes the group controller's decisions on its plugin's event stream, topic `<group>/<type>`.
pub async fn forward_events(mut decisions: broadcast::Receiver<GroupEvent>, bus: EventBus) {
    loop {
        match decisions.recv().await {
            Ok(decision) => {
                let mut event = Event::new(decision.id, decision.message);
                event.r#type = decision.r#type.as_str().to_owned();
                bus.publish(&decision.topic, event);
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                warn!(missed, "the event stream fell behind the group controller; some events were not streamed");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
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
                (kind, kind.default_socket().to_owned())
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
        let arg: PluginArg = "group".parse().unwrap();
        assert_eq!((arg.kind, arg.name.as_str()), (Kind::Group, "group-stateless"));
    }
}
