//! Changes an instance plugin pushes, over its event stream: published at the object's topic
//! while it serves, heard by `InstanceClient::changes`, and the stream ends with the plugin.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use infrakit_rpc::{InstanceClient, PluginServer};
use infrakit_spi::Result;
use infrakit_spi::changes::{ChangeKind, ChangeStream, InstanceChange};
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, Spec};
use infrakit_spi::types::{PluginName, Tags};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::support::Running;

/// A bound on how long a change takes over a local socket.
const DELIVERED_WITHIN: Duration = Duration::from_secs(5);

/// An instance plugin that only pushes the changes it is told to.
struct Pushing(broadcast::Sender<InstanceChange>);

#[async_trait]
impl InstancePlugin for Pushing {
    async fn validate(&self, _: Option<&Value>) -> Result<()> {
        Ok(())
    }
    async fn provision(&self, _: Spec) -> Result<InstanceId> {
        Ok("i-1".into())
    }
    async fn label(&self, _: &InstanceId, _: &Tags) -> Result<()> {
        Ok(())
    }
    async fn destroy(&self, _: &InstanceId, _: DestroyContext) -> Result<()> {
        Ok(())
    }
    async fn describe_instances(&self, _: &Tags, _: bool) -> Result<Vec<Description>> {
        Ok(Vec::new())
    }
    fn changes(&self) -> Option<ChangeStream> {
        let receiver = self.0.subscribe();
        Some(Box::pin(futures::stream::unfold(receiver, |mut r| async move { Some((r.recv().await.ok()?, r)) })))
    }
}

fn change(id: &str) -> InstanceChange {
    InstanceChange {
        id: id.into(),
        tags: Tags::from([("infrakit.group".to_owned(), "web".to_owned())]),
        kind: ChangeKind::Gone,
    }
}

#[tokio::test]
async fn a_remote_client_hears_the_changes_of_its_object_until_the_plugin_stops() {
    let (sender, _) = broadcast::channel(16);
    let plugin: Arc<dyn InstancePlugin> = Arc::new(Pushing(sender.clone()));
    let server = PluginServer::new("docker").instance("container", plugin.clone()).instance("other", plugin);
    let mut running = Running::start(server).await;
    let client = InstanceClient::new(running.client(), &"docker/container".parse::<PluginName>().unwrap());
    let mut changes = client.changes().expect("a remote instance plugin may push changes");

    // The subscription is made on the first poll; keep publishing until it has been heard.
    let heard = tokio::time::timeout(DELIVERED_WITHIN, async {
        let mut n = 0;
        loop {
            n += 1;
            sender.send(change(&format!("c-{n}"))).unwrap();
            tokio::select! {
                heard = changes.next() => return heard,
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    })
    .await
    .expect("heard within the bound")
    .expect("a change");
    assert_eq!(heard.kind, ChangeKind::Gone);
    assert_eq!(heard.tags.get("infrakit.group").map(String::as_str), Some("web"));

    sender.send(change("last")).unwrap();
    let last = tokio::time::timeout(DELIVERED_WITHIN, async {
        while let Some(c) = changes.next().await {
            if c.id.as_str() == "last" {
                return Some(c);
            }
        }
        None
    })
    .await
    .unwrap();
    assert!(last.is_some(), "every change after the subscription arrives");
    running.stop_server().await;
    assert_eq!(tokio::time::timeout(DELIVERED_WITHIN, changes.next()).await.unwrap(), None, "ends with the plugin");
}
