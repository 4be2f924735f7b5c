//! Where the commands find the manager and the plugins they call: this machine's plugins folder,
//! or, with `--host`, a remote manager's mux. Every command that calls a plugin goes through here.

use anyhow::{Context, Result};
use infrakit_manager::ManagerClient;
use infrakit_rpc::discovery::{Address, HttpBase};
use infrakit_rpc::{Client, ClientOptions, RemoteLookup, plugins_dir};

use crate::kinds::Kind;

/// The socket the manager serves on.
pub const MANAGER: &str = Kind::Manager.default_socket();

/// Where the manager is: this machine's plugins folder, or a remote manager's URL and token.
#[derive(Debug, Clone, Default)]
pub struct Remote {
    pub host: Option<String>,
    pub token: Option<String>,
}

impl Remote {
    /// The manager's group plugin as a client: over its socket, or through the remote mux.
    pub fn client(&self) -> Result<Client> {
        self.client_for(MANAGER)
    }

    /// A plugin as a client: over its socket, or, with --host, through the remote mux.
    pub fn client_for(&self, plugin: &str) -> Result<Client> {
        let Some(host) = &self.host else {
            return Ok(RemoteLookup::new(plugins_dir()).client(&plugin.parse()?)?);
        };
        let base = HttpBase::through_mux(host, plugin).context("invalid --host")?;
        let options = ClientOptions { bearer_token: self.token.clone(), ..ClientOptions::from_env() };
        Ok(Client::with_options(plugin, Address::Http(base), options)?)
    }

    /// A client of the manager's `Manager` service.
    pub fn manager(&self) -> Result<ManagerClient> {
        Ok(ManagerClient::new(self.client()?))
    }
}
