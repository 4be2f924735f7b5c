//! The `docker` instance plugin: containers on the local engine as self-healing instances.
//!
//! [`DockerPlugin`] implements [`InstancePlugin`](infrakit_spi::instance::InstancePlugin) with
//! the original's properties and identities, and its optional
//! [`changes`](infrakit_spi::instance::InstancePlugin::changes): it follows the engine's event
//! stream, so a group controller hears that a member died or turned unhealthy at once instead of
//! on its next poll. [`DockerHealth`] is the flavor that makes a container's HEALTHCHECK the
//! group's notion of health.
//!
//! # Layout
//! - [`properties`]: what a container is made of (`Config`, `HostConfig`, `NetworkAttachments`,
//!   `Tags`).
//! - [`plugin`]: provision, label, destroy and describe against the engine.
//! - `init`: running a spec's Init in a started container.
//! - `follow`: the engine's event stream as instance changes.
//! - `labels`: the tags `label` adds, kept by the plugin (containers' labels are fixed).
//! - [`flavor`]: HEALTHCHECK status as health.
//! - `error`: engine errors with context, mapped to the interface's errors.

mod error;
pub mod flavor;
mod follow;
mod init;
mod labels;
pub mod plugin;
pub mod properties;

use std::collections::HashMap;

use infrakit_spi::instance::InstanceId;

pub use flavor::DockerHealth;
pub use infrakit_spi::changes::CHANGE_BUFFER;
pub use plugin::{DockerOptions, DockerPlugin, NAMESPACE_ENV};
pub use properties::{DockerProperties, NetworkAttachment};

/// How many characters of a container ID make an instance ID, as the original (and `docker ps`).
const SHORT_ID: usize = 12;

/// The instance ID of a container: the first [`SHORT_ID`] characters of its ID.
fn instance_id(container: &str) -> InstanceId {
    InstanceId::from(container.get(..SHORT_ID).unwrap_or(container))
}

/// An engine-side filter narrowed to containers that carry every one of `labels` (the engine
/// ANDs label filters).
fn with_labels<'a>(
    mut filters: HashMap<String, Vec<String>>,
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> HashMap<String, Vec<String>> {
    let labels: Vec<String> = labels.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !labels.is_empty() {
        filters.entry("label".to_owned()).or_default().extend(labels);
    }
    filters
}
