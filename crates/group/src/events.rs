//! Every decision as an event: kept in a bounded log per group (for `describe` and late
//! subscribers) and broadcast to live subscribers (the binary bridges them to the plugin's SSE
//! `/events` endpoint).
//!
//! A [`GroupEvent`] serializes in the shape of the original's `event.Event` (`Topic`, `Type`,
//! `ID`, `Message`, `Timestamp`), so it can be streamed as is.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

    /// `at` as RFC 3339 with nanoseconds, in UTC.
    pub fn stamp(&self, at: Instant) -> String {
        let since_epoch =
            self.wall.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO) + at.saturating_duration_since(self.base);
        rfc3339(since_epoch)
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Formats a time since the Unix epoch as `2006-01-02T15:04:05.999999999Z`, trailing zeros of
/// the fraction dropped as Go's `RFC3339Nano` does.
fn rfc3339(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let mut text = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60);
    let nanos = since_epoch.subsec_nanos();
    if nanos > 0 {
        text.push_str(format!(".{nanos:09}").trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_gos_rfc3339_nano() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Duration::new(1_700_000_000, 120_000_000)), "2023-11-14T22:13:20.12Z");
        assert_eq!(rfc3339(Duration::new(951_782_400, 1)), "2000-02-29T00:00:00.000000001Z");
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
