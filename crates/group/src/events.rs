//! Every decision as an event: kept in a bounded log per group (for `describe` and late
//! subscribers) and broadcast to live subscribers (the binary bridges them to the plugin's SSE
//! `/events` endpoint).
//!
//! A [`GroupEvent`] serializes in the shape of the original's `event.Event` (`Topic`, `Type`,
//! `ID`, `Message`, `Timestamp`), so it can be streamed as is.

use std::collections::VecDeque;
use std::time::SystemTime;

use infrakit_spi::time::format_rfc3339;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::plan::EventKind;

/// Recent events kept per group: a few hours of a busy group's decisions at the default poll.
pub const EVENT_LOG_CAPACITY: usize = 256;

/// One decision of the controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupEvent {
    /// `<group>/<type>`, so that a prefix subscription to `<group>/` sees all of a group.
    pub topic: String,
    /// The kind of decision.
    pub r#type: EventKind,
    /// The instance (or provision token) it is about, else the group.
    #[serde(rename = "ID")]
    pub id: String,
    /// What and why.
    pub message: String,
    /// When, as RFC 3339 with nanoseconds in UTC.
    pub timestamp: String,
}

/// A bounded log of a group's events, oldest first.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    entries: VecDeque<GroupEvent>,
}

impl EventLog {
    /// Appends an event, dropping the oldest beyond [`EVENT_LOG_CAPACITY`].
    pub fn push(&mut self, event: GroupEvent) {
        if self.entries.len() == EVENT_LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(event);
    }

    /// The last `n` events, oldest first.
    pub fn recent(&self, n: usize) -> impl Iterator<Item = &GroupEvent> {
        self.entries.iter().skip(self.entries.len().saturating_sub(n))
    }

    /// All kept events, oldest first.
    pub fn all(&self) -> Vec<GroupEvent> {
        self.entries.iter().cloned().collect()
    }
}

/// Wall-clock stamps for monotonic instants: read once, then advanced with the monotonic clock,
/// so that stamps follow tokio's (possibly paused) time and never go backwards.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    wall: SystemTime,
    base: Instant,
}

impl WallClock {
    /// A clock anchored at the current time.
    pub fn new() -> Self {
        Self { wall: SystemTime::now(), base: Instant::now() }
    }

    /// `at` as RFC 3339 with nanoseconds, in UTC, as Go writes it.
    pub fn stamp(&self, at: Instant) -> String {
        format_rfc3339(self.wall + at.saturating_duration_since(self.base))
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stamps_follow_the_monotonic_clock() {
        let clock = WallClock::new();
        let later = clock.base + std::time::Duration::from_millis(1500);
        let stamp = |at| infrakit_spi::time::parse_rfc3339(&clock.stamp(at)).unwrap();
        assert_eq!(stamp(later).duration_since(stamp(clock.base)).unwrap(), std::time::Duration::from_millis(1500));
        assert!(clock.stamp(later).ends_with('Z'));
    }

    #[test]
    fn the_log_keeps_the_most_recent() {
        let mut log = EventLog::default();
        for n in 0..EVENT_LOG_CAPACITY + 3 {
            log.push(GroupEvent {
                topic: "g/provision".into(),
                r#type: EventKind::Provision,
                id: "g".into(),
                message: n.to_string(),
                timestamp: String::new(),
            });
        }
        assert_eq!(log.all().len(), EVENT_LOG_CAPACITY);
        assert_eq!(log.all()[0].message, "3");
        let last: Vec<_> = log.recent(2).map(|e| e.message.clone()).collect();
        assert_eq!(last, [(EVENT_LOG_CAPACITY + 1).to_string(), (EVENT_LOG_CAPACITY + 2).to_string()]);
    }

    #[test]
    fn serializes_as_the_originals_event() {
        let e = GroupEvent {
            topic: "g/remediate".into(),
            r#type: EventKind::Remediate,
            id: "i-3".into(),
            message: "replaced i-3: unhealthy for 45s".into(),
            timestamp: "2023-11-14T22:13:20Z".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"Topic":"g/remediate","Type":"remediate","ID":"i-3","Message":"replaced i-3: unhealthy for 45s","Timestamp":"2023-11-14T22:13:20Z"}"#
        );
    }
}
