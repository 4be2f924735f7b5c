//! The handshake (the RPC acceptance scenario 25): a typed client checks the plugin's interface and version once,
//! and fails with the original's messages.

use std::sync::Arc;

use async_trait::async_trait;
use infrakit_rpc::{InstanceClient, PluginServer, RpcError, Service};
use infrakit_spi::Error;
use infrakit_spi::instance::InstancePlugin;
use infrakit_spi::types::{InterfaceSpec, Tags};
use serde_json::{Value, json};

use crate::support::{Plugins, Running};

/// An `Instance` service of an older interface version.
struct OldInstance;

#[async_trait]
impl Service for OldInstance {
    fn name(&self) -> &str {
        "Instance"
    }

    fn interface(&self) -> InterfaceSpec {
        InterfaceSpec::new("Instance", "0.6.0")
    }

    async fn objects(&self) -> Vec<String> {
        vec![".".into()]
    }

    async fn call(&self, method: &str, _params: Value) -> Result<Value, RpcError> {
        match method {
            "DescribeInstances" => Ok(json!({"Type": "", "Descriptions": null})),
            _ => Err(RpcError::unknown_method("Instance", method)),
        }
    }
}

#[tokio::test]
async fn a_version_mismatch_is_refused() {
    let running = Running::start(PluginServer::new("old").service(Arc::new(OldInstance))).await;
    let client = InstanceClient::new(running.client(), &"old".parse().unwrap());
    assert_eq!(
        client.describe_instances(&Tags::new(), false).await,
        Err(Error::Unsupported("Plugin supports Instance interface version 0.6.0, client requires 0.6.1".into()))
    );
    let raw = running.client().call("Instance.DescribeInstances", json!({})).await;
    assert_eq!(raw, Ok(json!({"Type": "", "Descriptions": null})), "the raw client does not handshake");
    running.stop().await;
}

#[tokio::test]
async fn a_missing_interface_is_refused() {
    let plugins = Plugins::default();
    let running = Running::start(PluginServer::new("flavor-only").flavor("", plugins.flavor.clone())).await;
    let client = InstanceClient::new(running.client(), &"flavor-only".parse().unwrap());
    assert_eq!(
        client.validate(None).await,
        Err(Error::Unsupported("Plugin does not support interface Instance/0.6.1".into()))
    );
    running.stop().await;
}

#[tokio::test]
async fn hello_lists_every_service_with_its_objects() {
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("everything").service(Arc::new(OldInstanceUnder("Legacy")))).await;
    let hello = running.client().hello().await.unwrap();
    let listed: Vec<(String, Vec<String>)> = hello
        .objects
        .into_iter()
        .map(|(interface, objects)| (interface, objects.into_iter().map(|o| o.name).collect()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("Flavor/0.1.1".to_owned(), vec![".".to_owned()]),
            ("Group/0.1.1".to_owned(), vec![".".to_owned(), "workers".to_owned()]),
            ("Instance/0.6.1".to_owned(), vec![".".to_owned(), "compute".to_owned()]),
            ("Legacy/1.0".to_owned(), vec!["a".to_owned()]),
        ]
    );
    running.stop().await;
}

/// A custom service under another name, to show that services are listed by interface.
struct OldInstanceUnder(&'static str);

#[async_trait]
impl Service for OldInstanceUnder {
    fn name(&self) -> &str {
        self.0
    }

    fn interface(&self) -> InterfaceSpec {
        InterfaceSpec::new(self.0, "1.0")
    }

    async fn objects(&self) -> Vec<String> {
        vec!["a".into()]
    }

    async fn call(&self, method: &str, _params: Value) -> Result<Value, RpcError> {
        Err(RpcError::unknown_method(self.0, method))
    }
}

#[tokio::test]
async fn duplicate_services_and_objects_are_refused_at_bind() {
    let plugins = Plugins::default();
    let dir = tempfile::tempdir().unwrap();
    let twice = PluginServer::new("twice").service(Arc::new(OldInstance)).instance("", plugins.instances.clone());
    let error = twice.bind(dir.path()).await.err().expect("refused");
    assert_eq!(error.to_string(), "plugin 'twice' registers the RPC service 'Instance' twice");
    let same_object = PluginServer::new("same")
        .instance("compute", plugins.instances.clone() as Arc<dyn InstancePlugin>)
        .instance("compute", plugins.computes.clone());
    let error = same_object.bind(dir.path()).await.err().expect("refused");
    assert_eq!(error.to_string(), "plugin 'same' registers the Instance object 'compute' twice");
    let handshake = PluginServer::new("hs").service(Arc::new(OldInstanceUnder("Handshake")));
    assert!(handshake.bind(dir.path()).await.is_err());
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing was claimed");
}
