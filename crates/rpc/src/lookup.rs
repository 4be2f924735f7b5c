//! [`RemoteLookup`]: plugins in other processes, found in the plugins directory.
//!
//! The group controller and the manager resolve `simulator/compute` or `vanilla` through a
//! [`PluginLookup`]; this one finds the socket by the name's lookup part and hands out typed RPC
//! clients. Clients are cached per address, so every object of one plugin shares its connections
//! and its handshake.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use infrakit_spi::Result;
use infrakit_spi::flavor::FlavorPlugin;
use infrakit_spi::group::GroupPlugin;
use infrakit_spi::instance::InstancePlugin;
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::types::PluginName;

use crate::client::{Client, FlavorClient, GroupClient, InstanceClient};
use crate::discovery::{self, Address};

/// Finds plugins in a plugins directory and reaches them over RPC.
#[derive(Debug)]
pub struct RemoteLookup {
    dir: PathBuf,
    clients: Mutex<HashMap<Address, Client>>,
}

impl RemoteLookup {
    /// A lookup in `dir` (usually [`plugins_dir`](crate::plugins_dir)).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, clients: Mutex::new(HashMap::new()) }
    }

    /// The (cached) client of the plugin that serves `name`.
    pub fn client(&self, name: &PluginName) -> Result<Client> {
        let endpoint = discovery::find(&self.dir, name)?;
        // Held only for a lookup or an insert.
        let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(&endpoint.address) {
            return Ok(client.clone());
        }
        let client = Client::new(endpoint.name, endpoint.address.clone())?;
        clients.insert(endpoint.address, client.clone());
        Ok(client)
    }
}

impl PluginLookup for RemoteLookup {
    fn instance(&self, name: &PluginName) -> Result<Arc<dyn InstancePlugin>> {
        Ok(Arc::new(InstanceClient::new(self.client(name)?, name)))
    }

    fn flavor(&self, name: &PluginName) -> Result<Arc<dyn FlavorPlugin>> {
        Ok(Arc::new(FlavorClient::new(self.client(name)?, name)))
    }

    fn group(&self, name: &PluginName) -> Result<Arc<dyn GroupPlugin>> {
        Ok(Arc::new(GroupClient::new(self.client(name)?, name)))
    }
}
