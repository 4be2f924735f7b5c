//! Events: what a plugin publishes, and who hears it.
//!
//! An [`EventBus`] belongs to one plugin and is served at its `GET /events?topic=...` as
//! Server-Sent Events. Topics are paths (`local/time/now`); a subscription to a topic ending in
//! `/` hears everything below it, any other subscription hears that topic exactly, as the
//! original's broker does.
//!
//! Publishing never waits. Each subscriber has a bounded queue; one that falls
//! [`SUBSCRIBER_QUEUE`] events behind is dropped (its stream ends) rather than slowing the
//! publisher or the other subscribers. Every event is serialized once, however many hear it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use infrakit_spi::time as go_time;

/// How many events a subscriber may have waiting: enough to ride out a burst (a group scaling by
/// hundreds), small enough that a stuck client costs little memory before it is dropped.
pub const SUBSCRIBER_QUEUE: usize = 256;

/// An event, in the original's JSON shape (`pkg/spi/event/types.go`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    /// The topic it was published at, e.g. `local/time/now`.
    #[serde(default)]
    pub topic: String,
    /// A hint of what `data` holds; `error` marks transport errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub r#type: String,
    /// A unique ID.
    #[serde(rename = "ID", default)]
    pub id: String,
    /// A human-friendly message.
    #[serde(default)]
    pub message: String,
    /// When it happened.
    #[serde(with = "go_time")]
    pub timestamp: SystemTime,
    /// When a subscriber received it; Go always writes this field, as its zero time when unset.
    #[serde(with = "go_time::optional", default)]
    pub received: Option<SystemTime>,
    /// An application-specific payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl Event {
    /// An event that happens now, with an ID and a message; the topic is set when published.
    pub fn new(id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            topic: String::new(),
            r#type: String::new(),
            id: id.into(),
            message: message.into(),
            timestamp: SystemTime::now(),
            received: None,
            data: None,
        }
    }
}

/// A published event with its wire form, shared by every subscriber that hears it.
#[derive(Debug)]
struct Published {
    event: Event,
    /// `data: <json>\n\n`, ready for an SSE stream.
    frame: Bytes,
}

/// Where a plugin's events go. Cheap to clone; every clone is the same bus.
#[derive(Debug, Clone, Default)]
pub struct EventBus {
    subscribers: Arc<Mutex<Subscribers>>,
}

#[derive(Debug, Default)]
struct Subscribers {
    next_id: u64,
    by_id: BTreeMap<u64, Subscriber>,
}

#[derive(Debug)]
struct Subscriber {
    filter: TopicFilter,
    queue: mpsc::Sender<Arc<Published>>,
}

impl EventBus {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes `event` at `topic` (which becomes its `Topic`) to every matching subscriber.
    /// Never waits: a subscriber whose queue is full is dropped.
    pub fn publish(&self, topic: &str, mut event: Event) {
        topic.clone_into(&mut event.topic);
        let path = normalize(topic);
        // Serializing an `Event` cannot fail: its map keys are strings.
        let json = serde_json::to_vec(&event).unwrap_or_default();
        let mut frame = Vec::with_capacity(json.len() + 8);
        frame.extend_from_slice(b"data: ");
        // Go strips newlines because they end an SSE field; compact JSON has none, but be sure.
        frame.extend(json.iter().filter(|&&b| b != b'\n'));
        frame.extend_from_slice(b"\n\n");
        let published = Arc::new(Published { event, frame: Bytes::from(frame) });

        let mut subscribers = self.lock();
        subscribers.by_id.retain(|id, subscriber| {
            if !subscriber.filter.matches(&path) {
                return true;
            }
            match subscriber.queue.try_send(Arc::clone(&published)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    let topic = &subscriber.filter.topic;
                    tracing::warn!(subscriber = id, %topic, "dropping a subscriber that fell behind");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    /// Subscribes to `topic`: everything below it if it ends in `/`, else that topic exactly.
    /// `""`, `.` and `/` hear everything.
    pub fn subscribe(&self, topic: &str) -> Subscription {
        let (queue, events) = mpsc::channel(SUBSCRIBER_QUEUE);
        let filter = TopicFilter::new(topic);
        let mut subscribers = self.lock();
        let id = subscribers.next_id;
        subscribers.next_id += 1;
        subscribers.by_id.insert(id, Subscriber { filter, queue });
        Subscription { events, bus: Arc::downgrade(&self.subscribers), id }
    }

    /// How many subscribers are attached.
    pub fn subscriber_count(&self) -> usize {
        self.lock().by_id.len()
    }

    fn lock(&self) -> MutexGuard<'_, Subscribers> {
        // The lock is never held across an await or a call that can panic; recover it anyway.
        self.subscribers.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What one subscriber hears. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    events: mpsc::Receiver<Arc<Published>>,
    bus: Weak<Mutex<Subscribers>>,
    id: u64,
}

impl Subscription {
    /// The next event, or `None` once the subscription was dropped for falling behind (after the
    /// events already queued) or the bus is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.events.recv().await.map(|published| published.event.clone())
    }

    /// The next event as an SSE frame (`data: <json>\n\n`).
    pub(crate) async fn recv_frame(&mut self) -> Option<Bytes> {
        self.events.recv().await.map(|published| published.frame.clone())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(subscribers) = self.bus.upgrade() {
            subscribers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).by_id.remove(&self.id);
        }
    }
}

/// A subscription's topic: a prefix (ends in `/`) or an exact topic.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TopicFilter {
    topic: String,
    exact: bool,
}

impl TopicFilter {
    fn new(topic: &str) -> Self {
        let topic = normalize(topic);
        Self { exact: !topic.ends_with('/'), topic }
    }

    fn matches(&self, path: &str) -> bool {
        if self.exact { path == self.topic } else { path.starts_with(&self.topic) }
    }
}

/// The original's `clean`: topics are rooted at `/`, and `""` or `.` mean the root.
fn normalize(topic: &str) -> String {
    match topic {
        "" | "." => "/".to_owned(),
        t if t.starts_with('/') => t.to_owned(),
        t => format!("/{t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_exact_topics() {
        let prefix = TopicFilter::new("local/");
        assert!(prefix.matches(&normalize("local/time/now")));
        assert!(prefix.matches(&normalize("local/")));
        assert!(!prefix.matches(&normalize("localhost/x")));
        let exact = TopicFilter::new("local/time");
        assert!(exact.matches(&normalize("/local/time")));
        assert!(!exact.matches(&normalize("local/time/now")));
        for everything in ["", ".", "/"] {
            assert!(TopicFilter::new(everything).matches(&normalize("a/b")), "{everything:?}");
        }
    }

    #[test]
    fn event_json_has_gos_shape() {
        let mut event = Event::new("1", "tick");
        event.timestamp = std::time::UNIX_EPOCH;
        event.topic = "time/sec/1".into();
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"Topic":"time/sec/1","ID":"1","Message":"tick","Timestamp":"1970-01-01T00:00:00Z","Received":"0001-01-01T00:00:00Z"}"#
        );
        let back: Event = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(back, event);
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_dropped_and_the_others_keep_hearing() {
        let bus = EventBus::new();
        let mut slow = bus.subscribe("t/");
        let mut fast = bus.subscribe("t/");
        for i in 0..SUBSCRIBER_QUEUE + 10 {
            bus.publish("t/x", Event::new(i.to_string(), ""));
            assert_eq!(fast.recv().await.map(|e| e.id), Some(i.to_string()));
        }
        assert_eq!(bus.subscriber_count(), 1);
        for i in 0..SUBSCRIBER_QUEUE {
            assert_eq!(slow.recv().await.map(|e| e.id), Some(i.to_string()));
        }
        assert_eq!(slow.recv().await, None);
        drop(fast);
        assert_eq!(bus.subscriber_count(), 0);
    }
}
