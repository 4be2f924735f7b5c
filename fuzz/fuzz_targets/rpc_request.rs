//! A request body as a plugin's socket receives it, answered by the same code as `POST /`: the
//! JSON-RPC envelope, then the params of the method it names, decoded for the Instance, Flavor,
//! Group, Manager and Handshake services of one plugin.
//!
//! Behind the services are the real flavors (vanilla by default, combo as `combo`), the real
//! manager over an embedded store in a temporary file, in front of a real group controller that
//! finds no plugins (so no spec is ever accepted, and the store stays empty). Only the instance
//! plugin is a sink that accepts every call: a real backend would create instances (or processes)
//! on every decoded `Provision`, and a fuzzer makes millions.
//!
//! Checked beyond not crashing: every answer is empty (a notification) or one JSON-RPC 2.0
//! response in valid JSON followed by Go's newline.

#![no_main]

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use infrakit_flavors::{Combo, Vanilla};
use infrakit_group::{GroupController, Options};
use infrakit_manager::{EmbeddedStore, Manager, ManagerService, SingleNode};
use infrakit_rpc::{PluginServer, RequestHandler};
use infrakit_spi::flavor::FlavorPlugin;
use infrakit_spi::group::GroupPlugin;
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, Spec};
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::types::{PluginName, Tags};
use infrakit_spi::{Error, Result};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// Accepts every call and keeps nothing.
struct Sink;

#[async_trait]
impl InstancePlugin for Sink {
    async fn validate(&self, _properties: Option<&Value>) -> Result<()> {
        Ok(())
    }

    async fn provision(&self, spec: Spec) -> Result<InstanceId> {
        Ok(InstanceId::from(spec.logical_id.map_or("sink-1".to_owned(), |id| id.to_string())))
    }

    async fn label(&self, _id: &InstanceId, _labels: &Tags) -> Result<()> {
        Ok(())
    }

    async fn destroy(&self, _id: &InstanceId, _context: DestroyContext) -> Result<()> {
        Ok(())
    }

    async fn describe_instances(&self, _tags: &Tags, _properties: bool) -> Result<Vec<Description>> {
        Ok(Vec::new())
    }
}

/// Finds no plugin: the group controller rejects every spec before acting on it.
struct NoPlugins;

impl PluginLookup for NoPlugins {
    fn instance(&self, name: &PluginName) -> Result<Arc<dyn InstancePlugin>> {
        Err(Error::not_found(format!("no plugin {name}")))
    }

    fn flavor(&self, name: &PluginName) -> Result<Arc<dyn FlavorPlugin>> {
        Err(Error::not_found(format!("no plugin {name}")))
    }

    fn group(&self, name: &PluginName) -> Result<Arc<dyn GroupPlugin>> {
        Err(Error::not_found(format!("no plugin {name}")))
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    handler: RequestHandler,
}

fn harness() -> anyhow::Result<Harness> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let home = tempfile::tempdir()?;
    let store = Arc::new(EmbeddedStore::open(&home.path().join("specs.redb"))?);
    // The open store outlives its folder, so a run leaves nothing behind (the harness is a
    // static, never dropped).
    drop(home);
    let lookup: Arc<dyn PluginLookup> = Arc::new(NoPlugins);
    let controller = GroupController::new(Arc::clone(&lookup), Options::default());
    let manager = Manager::new(store, Arc::new(controller), &SingleNode::new(), Some("http://manager".to_owned()));
    let handler = PluginServer::new("fuzz")
        .instance("", Arc::new(Sink))
        .flavor("", Arc::new(Vanilla::default()))
        .flavor("combo", Arc::new(Combo::new(lookup)))
        .group("", Arc::new(manager.clone()))
        .service(Arc::new(ManagerService::new(manager)))
        .handler()?;
    Ok(Harness { runtime, handler })
}

/// The fields every response has; the rest is the method's.
#[derive(Deserialize)]
struct Response {
    jsonrpc: String,
    result: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|body: &[u8]| {
    let harness = HARNESS.get_or_init(|| harness().expect("the harness starts"));
    let answer = harness.runtime.block_on(harness.handler.answer(body));
    if answer.is_empty() {
        return;
    }
    assert_eq!(answer.last(), Some(&b'\n'), "an answer ends with Go's newline");
    let response: Response = serde_json::from_slice(&answer).expect("an answer is JSON");
    assert_eq!(response.jsonrpc, "2.0");
    assert!(response.result.is_some() != response.error.is_some(), "an answer has a result or an error");
});
