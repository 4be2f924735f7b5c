//! The plugins this process serves, found by name before falling back to the sockets.
//!
//! A combo flavor started in this process finds a vanilla flavor started beside it without a
//! round trip through its socket; anything else is looked up in the plugins folder. Either way
//! the caller gets the same trait object type.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use infrakit_rpc::{EventBus, RemoteLookup, Service};
use infrakit_spi::flavor::FlavorPlugin;
use infrakit_spi::group::GroupPlugin;
use infrakit_spi::instance::InstancePlugin;
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::types::PluginName;
use infrakit_spi::{Error, Result};

/// The objects one plugin serves, by object name (`""` is the default object), a group plugin
/// whose groups are objects too (the manager), the events it publishes, and any further RPC
/// services (the manager's `Manager`).
#[derive(Default, Clone)]
pub struct Objects {
    pub instances: Vec<(String, Arc<dyn InstancePlugin>)>,
    pub flavors: Vec<(String, Arc<dyn FlavorPlugin>)>,
    pub groups: Vec<(String, Arc<dyn GroupPlugin>)>,
    pub groups_as_objects: Option<Arc<dyn GroupPlugin>>,
    pub events: Option<EventBus>,
    pub services: Vec<Arc<dyn Service>>,
}

/// Picks the object a name addresses: the named one, or the only/default one when unnamed.
fn pick<T: ?Sized>(objects: &[(String, Arc<T>)], name: &PluginName) -> Option<Arc<T>> {
    let wanted = name.object().unwrap_or("");
    objects
        .iter()
        .find(|(object, _)| object == wanted || (wanted.is_empty() && object == "."))
        .or_else(|| if wanted.is_empty() && objects.len() == 1 { objects.first() } else { None })
        .map(|(_, plugin)| plugin.clone())
}

/// In-process plugins first, then the plugins folder.
pub struct Registry {
    local: RwLock<HashMap<String, Objects>>,
    remote: RemoteLookup,
}

impl Registry {
    /// A registry that falls back to the plugins in `remote`.
    pub fn new(remote: RemoteLookup) -> Self {
        Self { local: RwLock::new(HashMap::new()), remote }
    }

    /// Makes a plugin of this process findable under its socket name.
    pub fn register(&self, name: &str, objects: Objects) {
        self.local.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(name.to_owned(), objects);
    }

    fn local<T: ?Sized>(
        &self,
        name: &PluginName,
        select: impl Fn(&Objects) -> &[(String, Arc<T>)],
    ) -> Option<Result<Arc<T>>> {
        let local = self.local.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let objects = local.get(name.lookup())?;
        Some(
            pick(select(objects), name)
                .ok_or_else(|| Error::not_found(format!("no-plugin:{}", name.object().unwrap_or("")))),
        )
    }
}

impl PluginLookup for Registry {
    fn instance(&self, name: &PluginName) -> Result<Arc<dyn InstancePlugin>> {
        self.local(name, |o| &o.instances).unwrap_or_else(|| self.remote.instance(name))
    }

    fn flavor(&self, name: &PluginName) -> Result<Arc<dyn FlavorPlugin>> {
        self.local(name, |o| &o.flavors).unwrap_or_else(|| self.remote.flavor(name))
    }

    fn group(&self, name: &PluginName) -> Result<Arc<dyn GroupPlugin>> {
        self.local(name, |o| &o.groups).unwrap_or_else(|| self.remote.group(name))
    }
}
