//! What every plugin in the directory serves: the data behind `infrakit plugin ls`.
//!
//! Each plugin is asked for its handshake concurrently. A plugin that does not answer (a dead
//! socket, a hung process) is reported with its error; it does not hide the others.

use std::path::Path;
use std::time::Duration;

use futures::future::join_all;
use infrakit_spi::types::InterfaceSpec;
use infrakit_spi::{Error, Result};

use crate::client::{Client, ClientOptions};
use crate::discovery::{self, Endpoint};

/// How long `plugin ls` waits for one plugin: a live plugin answers a handshake in
/// milliseconds, and a hung one must not hang the listing.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// One plugin of the directory and what it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInfo {
    /// Its name and address.
    pub endpoint: Endpoint,
    /// Its interfaces with their objects, or why it could not be asked.
    pub interfaces: Result<Vec<InterfaceObjects>>,
}

/// One interface of a plugin and the objects that serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceObjects {
    /// The interface and version.
    pub interface: InterfaceSpec,
    /// The object names: `"."` for the default object.
    pub objects: Vec<String>,
}

/// The name that addresses `object` of `plugin`: `plugin` for the default object (`.`), else
/// `plugin/object`, as `infrakit plugin ls` names its rows.
pub fn qualified_name(plugin: &str, object: &str) -> String {
    if object == "." || object.is_empty() { plugin.to_owned() } else { format!("{plugin}/{object}") }
}

/// Asks every plugin in `dir` what it serves, sorted by plugin name.
pub async fn plugin_info(dir: &Path) -> Result<Vec<PluginInfo>> {
    let endpoints = discovery::list(dir)?;
    let defaults = ClientOptions::from_env();
    let options = ClientOptions { timeout: PROBE_TIMEOUT.min(defaults.timeout), ..defaults };
    Ok(join_all(endpoints.into_values().map(|endpoint| probe(endpoint, options.clone()))).await)
}

async fn probe(endpoint: Endpoint, options: ClientOptions) -> PluginInfo {
    let interfaces = match Client::with_options(endpoint.name.clone(), endpoint.address.clone(), options) {
        Ok(client) => client.hello().await.map(|hello| {
            hello
                .objects
                .into_iter()
                .map(|(interface, objects)| InterfaceObjects {
                    interface: interface.parse().unwrap_or_else(|_: Error| InterfaceSpec::new(interface, "")),
                    objects: objects.into_iter().map(|object| object.name).collect(),
                })
                .collect()
        }),
        Err(e) => Err(e),
    };
    PluginInfo { endpoint, interfaces }
}
