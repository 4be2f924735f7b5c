//! Changes an instance plugin pushes: an optional extension of the Instance interface.
//!
//! The group controller finds out that a member died by listing the group on its next pass, a
//! poll interval later. A backend that hears about its instances (a container engine's event
//! stream) can say so at once: [`InstancePlugin::changes`](crate::instance::InstancePlugin::changes)
//! returns a stream of [`InstanceChange`]s, and a controller that sees a change to one of its
//! members runs a pass now. A change is a hint, never the truth: the pass still lists the group,
//! so a lost or duplicated change costs at most a poll interval or a pass. Plugins without the
//! extension return `None` and are polled as before.
//!
//! Over RPC the changes travel on the plugin's event stream (`/events`), as the `Data` of events
//! at [`changes_topic`]; the original protocol is unchanged for clients that do not subscribe.

use std::pin::Pin;

use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::instance::InstanceId;
use crate::types::{Tags, nullable};

/// What happened to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// It stopped running or was removed: listing no longer shows it as alive.
    Gone,
    /// Its health as the backend sees it changed (a container's HEALTHCHECK status).
    Health,
    /// The plugin may have missed changes (its backend was out of reach and is back): every
    /// listener should look again. Names no instance.
    Resync,
}

/// A change to one instance, with its tags so that a listener can tell whose member it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceChange {
    /// The instance, as the plugin's listing names it.
    #[serde(rename = "ID")]
    pub id: InstanceId,
    /// Its tags when the change happened (group membership is among them).
    #[serde(default, with = "nullable")]
    pub tags: Tags,
    /// What happened.
    pub kind: ChangeKind,
}

impl InstanceChange {
    /// The change that asks every listener to look again: see [`ChangeKind::Resync`].
    pub fn resync() -> Self {
        Self { id: InstanceId::from(""), tags: Tags::new(), kind: ChangeKind::Resync }
    }

    /// Whether a listener that keeps the instances with these tags should look again.
    pub fn concerns(&self, key: &str, value: &str) -> bool {
        self.kind == ChangeKind::Resync || self.tags.get(key).is_some_and(|v| v == value)
    }
}

/// The changes of one plugin, from subscription on. It ends when the plugin can no longer report
/// them (say, its connection broke); the listener may ask again later.
pub type ChangeStream = Pin<Box<dyn Stream<Item = InstanceChange> + Send>>;

/// Changes a slow listener may lag behind before it misses some; a miss costs it a poll
/// interval, never correctness.
pub const CHANGE_BUFFER: usize = 1024;

/// The sending side of a plugin's changes: what it publishes reaches every listener subscribed
/// at the time. A listener that lags more than [`CHANGE_BUFFER`] changes skips what it missed
/// (its next poll catches up); none listening is fine.
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    sender: tokio::sync::broadcast::Sender<InstanceChange>,
}

impl ChangeFeed {
    /// A feed with no listeners yet.
    pub fn new() -> Self {
        Self { sender: tokio::sync::broadcast::channel(CHANGE_BUFFER).0 }
    }

    /// Tells every current listener.
    pub fn publish(&self, change: InstanceChange) {
        // No listener is not an error: nobody needs a push right now.
        let _ = self.sender.send(change);
    }

    /// Everything published from now on.
    pub fn stream(&self) -> ChangeStream {
        use tokio::sync::broadcast::error::RecvError;
        let receiver = self.sender.subscribe();
        Box::pin(futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(change) => return Some((change, receiver)),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a change listener fell behind; its next poll catches up");
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }))
    }
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self::new()
    }
}

/// The event topic that carries the changes of an instance plugin's object (`""` for the
/// default object): `instance/changes`, or `instance/<object>/changes`.
pub fn changes_topic(object: &str) -> String {
    match object {
        "" => "instance/changes".to_owned(),
        object => format!("instance/{object}/changes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_has_a_stable_wire_shape() {
        let change = InstanceChange {
            id: "web-1".into(),
            tags: Tags::from([("infrakit.group".to_owned(), "web".to_owned())]),
            kind: ChangeKind::Gone,
        };
        let json = serde_json::to_string(&change).unwrap();
        assert_eq!(json, r#"{"ID":"web-1","Tags":{"infrakit.group":"web"},"Kind":"gone"}"#);
        assert_eq!(serde_json::from_str::<InstanceChange>(&json).unwrap(), change);
    }

    #[test]
    fn a_resync_concerns_everyone_and_a_change_only_its_owner() {
        let resync = InstanceChange::resync();
        assert_eq!(serde_json::to_string(&resync).unwrap(), r#"{"ID":"","Tags":null,"Kind":"resync"}"#);
        assert!(resync.concerns("infrakit.group", "web"));
        let gone = InstanceChange {
            id: "web-1".into(),
            tags: Tags::from([("infrakit.group".to_owned(), "web".to_owned())]),
            kind: ChangeKind::Gone,
        };
        assert!(gone.concerns("infrakit.group", "web"));
        assert!(!gone.concerns("infrakit.group", "db"));
    }

    #[test]
    fn topics_name_the_object() {
        assert_eq!(changes_topic(""), "instance/changes");
        assert_eq!(changes_topic("container"), "instance/container/changes");
    }
}
