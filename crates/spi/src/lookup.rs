//! Finding a plugin by name.
//!
//! The group controller and the manager ask a [`PluginLookup`] for `simulator/compute` or
//! `vanilla` and get a trait object back; whether it answers in-process or over a socket is the
//! lookup's business, so an in-process plugin and a remote one are interchangeable.

use std::sync::Arc;

use crate::Result;
use crate::flavor::FlavorPlugin;
use crate::group::GroupPlugin;
use crate::instance::InstancePlugin;
use crate::types::PluginName;

/// Resolves plugin names (`lookup[/type]`) to plugins.
pub trait PluginLookup: Send + Sync {
    /// The instance plugin with this name.
    fn instance(&self, name: &PluginName) -> Result<Arc<dyn InstancePlugin>>;

    /// The flavor plugin with this name.
    fn flavor(&self, name: &PluginName) -> Result<Arc<dyn FlavorPlugin>>;

    /// The group plugin with this name.
    fn group(&self, name: &PluginName) -> Result<Arc<dyn GroupPlugin>>;
}
