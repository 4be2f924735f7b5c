//! Following the engine's event stream and turning container deaths and health changes into
//! [`InstanceChange`]s for whoever listens (the group controller, through
//! [`InstancePlugin::changes`](infrakit_spi::instance::InstancePlugin::changes)).
//!
//! The engine reports a death before its listing shows it (the event is sent while the container
//! is still written as running), so a pass that a death starts could still list the dead
//! container. [`Changes`] therefore also remembers the deaths it heard for a while (far longer
//! than the listing lags, unless the container starts again), and the plugin's describe leaves
//! those containers out.
//!
//! The stream breaks when the engine restarts. The follower then reconnects with a growing
//! pause and asks for the events it missed (`since` the last one it saw). A restarted engine
//! remembers no events from before it stopped, so on every connection the follower also
//! publishes a [`resync`](InstanceChange::resync): every listener looks again at once, rather than
//! on its next poll, and finds whatever stopped while the engine was away.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bollard::Docker;
use bollard::models::EventMessage;
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use futures::StreamExt;
use infrakit_spi::changes::{ChangeFeed, ChangeKind, ChangeStream, InstanceChange};
use infrakit_spi::instance::InstanceId;
use infrakit_spi::types::Tags;
use tokio::time::Instant;

use crate::labels::AddedTags;
use crate::{instance_id, with_labels};

/// The first pause before reconnecting to the engine: short, since a restarted engine is back in
/// about a second and healing waits on it.
const RECONNECT_FIRST: Duration = Duration::from_millis(200);

/// The longest pause between reconnects: an engine that is down for good costs one refused
/// connection every two seconds, and one that comes back is heard within two.
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// How long a heard death hides a container that the listing still shows running: the listing
/// catches up within milliseconds, so this only bounds the memory of deaths.
const DEATH_MEMORY: Duration = Duration::from_secs(60);

/// The engine's event attributes that are not container labels.
const NOT_LABELS: [&str; 4] = ["name", "image", "exitCode", "signal"];

/// The container actions that change what a listing shows or how healthy a member is; `start`
/// only revives a container whose death was heard (a restart policy at work).
const ACTIONS: [&str; 4] = ["die", "destroy", "health_status", "start"];

/// Where followed changes go, and the deaths heard that a listing may not show yet. Cheap to
/// clone; every clone is the same.
#[derive(Debug, Clone)]
pub struct Changes {
    feed: ChangeFeed,
    /// When each death was heard.
    dead: Arc<Mutex<HashMap<InstanceId, Instant>>>,
}

impl Changes {
    /// A channel with no listeners yet.
    pub fn new() -> Self {
        Self { feed: ChangeFeed::new(), dead: Arc::default() }
    }

    /// Whether the engine reported this container dead lately, and not started since.
    pub fn is_dead(&self, id: &InstanceId) -> bool {
        self.dead().get(id).is_some_and(|heard| heard.elapsed() < DEATH_MEMORY)
    }

    fn dead(&self) -> MutexGuard<'_, HashMap<InstanceId, Instant>> {
        // Only whole inserts and removals happen under the lock.
        self.dead.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes in one engine event: remembers a death before telling listeners, so that the pass
    /// they run cannot list the dead container.
    fn heard(&self, event: &EventMessage) {
        let Some(change) = change_of(event) else {
            if event.action.as_deref() == Some("start")
                && let Some(id) = event.actor.as_ref().and_then(|a| a.id.as_deref())
            {
                self.dead().remove(&instance_id(id));
            }
            return;
        };
        if change.kind == ChangeKind::Gone {
            let now = Instant::now();
            let mut dead = self.dead();
            dead.retain(|_, heard| now.duration_since(*heard) < DEATH_MEMORY);
            dead.insert(change.id.clone(), now);
        }
        tracing::debug!(instance = %change.id, kind = ?change.kind, "container changed");
        self.publish(change);
    }

    /// Everything published from now on. A listener that lags skips what it missed.
    pub fn stream(&self) -> ChangeStream {
        self.feed.stream()
    }

    fn publish(&self, change: InstanceChange) {
        self.feed.publish(change);
    }
}

impl Default for Changes {
    fn default() -> Self {
        Self::new()
    }
}

/// Follows the engine's container events with these labels, forever; publishes to `changes` and
/// forgets the added tags of removed containers. `configured` is the client before it agreed on
/// an API version with the engine.
pub async fn follow(configured: Docker, namespace: Tags, changes: Changes, added: Arc<AddedTags>) {
    // After a reconnect, the events since the last one heard (by the engine's clock: the two
    // clocks may differ). Its times are whole seconds, so that second comes again; a change heard
    // twice is harmless.
    let mut since: Option<i64> = None;
    let mut pause = RECONNECT_FIRST;
    // Whether a connection was attempted before: only the first failure is worth a warning.
    let mut retrying = false;
    loop {
        match connect(&configured, &namespace, &added).await {
            Ok(docker) => {
                if retrying {
                    tracing::info!("the docker engine is reachable again; following its events");
                }
                let options = EventsOptions {
                    since: since.map(|s| s.to_string()),
                    until: None,
                    filters: Some(with_labels(event_filters(), &namespace)),
                };
                let mut events = docker.events(Some(options));
                changes.publish(InstanceChange::resync());
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) => {
                            pause = RECONNECT_FIRST;
                            since = event.time.or(since);
                            changes.heard(&event);
                            forget_if_removed(&event, &added).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the engine's event stream broke; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(e) if !retrying => tracing::warn!(error = %e, "cannot reach the docker engine; retrying"),
            Err(e) => tracing::debug!(error = %e, "the docker engine is still out of reach"),
        }
        retrying = true;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RECONNECT_MAX);
    }
}

/// Reaches the engine and forgets the added tags of containers removed while it was out of
/// sight (the plugin was stopped, or the engine's stream was broken).
async fn connect(configured: &Docker, namespace: &Tags, added: &AddedTags) -> Result<Docker, bollard::errors::Error> {
    let docker = configured.clone().negotiate_version().await?;
    let options = ListContainersOptions {
        all: true,
        filters: Some(with_labels(HashMap::new(), namespace)),
        ..Default::default()
    };
    let existing: HashSet<InstanceId> =
        docker.list_containers(Some(options)).await?.iter().filter_map(|c| c.id.as_deref()).map(instance_id).collect();
    if let Err(e) = added.retain(&existing).await {
        tracing::warn!(error = %e, "cannot forget the added tags of removed containers");
    }
    Ok(docker)
}

async fn forget_if_removed(event: &EventMessage, added: &AddedTags) {
    let Some(id) = event.actor.as_ref().and_then(|a| a.id.as_deref()) else { return };
    if event.action.as_deref() == Some("destroy")
        && let Err(e) = added.forget(&instance_id(id)).await
    {
        tracing::warn!(container = id, error = %e, "cannot forget the added tags of a removed container");
    }
}

/// Container events of interest.
fn event_filters() -> HashMap<String, Vec<String>> {
    HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        ("event".to_owned(), ACTIONS.iter().map(|a| (*a).to_owned()).collect()),
    ])
}

/// The change an engine event reports, if it is one.
fn change_of(event: &EventMessage) -> Option<InstanceChange> {
    let action = event.action.as_deref()?;
    // The engine writes health events as `health_status: unhealthy`.
    let kind = match action.split(':').next()? {
        "die" | "destroy" => ChangeKind::Gone,
        "health_status" => ChangeKind::Health,
        _ => return None,
    };
    let actor = event.actor.as_ref()?;
    let tags: Tags = actor
        .attributes
        .iter()
        .flatten()
        .filter(|(k, _)| !NOT_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(InstanceChange { id: instance_id(actor.id.as_deref()?), tags, kind })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    fn event(action: &str) -> EventMessage {
        let attributes = HashMap::from([
            ("infrakit.group".to_owned(), "web".to_owned()),
            ("name".to_owned(), "web-1".to_owned()),
            ("exitCode".to_owned(), "137".to_owned()),
        ]);
        EventMessage {
            action: Some(action.to_owned()),
            actor: Some(EventActor { id: Some("0123456789abcdef".to_owned()), attributes: Some(attributes) }),
            ..Default::default()
        }
    }

    #[test]
    fn deaths_and_health_become_changes_with_labels_only() {
        let change = change_of(&event("die")).unwrap();
        assert_eq!(change.id.to_string(), "0123456789ab");
        assert_eq!(change.kind, ChangeKind::Gone);
        assert_eq!(change.tags, Tags::from([("infrakit.group".to_owned(), "web".to_owned())]));
        assert_eq!(change_of(&event("health_status: unhealthy")).unwrap().kind, ChangeKind::Health);
        assert_eq!(change_of(&event("start")), None);
    }

    #[tokio::test]
    async fn listeners_hear_what_is_published_after_they_subscribe() {
        let changes = Changes::new();
        changes.publish(change_of(&event("die")).unwrap());
        let mut stream = changes.stream();
        changes.publish(change_of(&event("destroy")).unwrap());
        assert_eq!(stream.next().await.map(|c| c.kind), Some(ChangeKind::Gone));
        drop(changes);
        assert_eq!(stream.next().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_heard_death_stands_until_the_container_starts_or_it_is_long_past() {
        let changes = Changes::new();
        let id = InstanceId::from("0123456789ab");
        changes.heard(&event("die"));
        assert!(changes.is_dead(&id));
        changes.heard(&event("start"));
        assert!(!changes.is_dead(&id), "restarted by its restart policy");
        changes.heard(&event("die"));
        tokio::time::sleep(DEATH_MEMORY - Duration::from_millis(1)).await;
        assert!(changes.is_dead(&id));
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!changes.is_dead(&id), "the listing caught up long ago");
    }
}
