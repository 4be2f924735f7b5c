//! Instance IDs like the original simulator's: the wall clock in nanoseconds since the Unix
//! epoch, as a decimal string.
//!
//! The original took `time.Now().UnixNano()` and could hand out the same ID twice within one
//! clock tick. Here the last ID is remembered process-wide and the next one is at least one
//! greater, so IDs never repeat, across objects and simulators alike, and they sort by age.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The last ID handed out in this process.
static LAST_ID: AtomicU64 = AtomicU64::new(0);

/// A new ID, greater than every ID handed out before in this process.
pub(super) fn next_id() -> u64 {
    let now =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let previous = LAST_ID
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(now.max(last.saturating_add(1))))
        .unwrap_or_else(|last| last);
    now.max(previous.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_never_repeat_even_within_one_clock_tick() {
        let ids: Vec<u64> = (0..10_000).map(|_| next_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let threads: Vec<_> =
            (0..4).map(|_| std::thread::spawn(|| (0..10_000).map(|_| next_id()).collect::<Vec<_>>())).collect();
        let mut seen = HashSet::new();
        for thread in threads {
            for id in thread.join().unwrap() {
                assert!(seen.insert(id), "{id} handed out twice");
            }
        }
    }

    #[test]
    fn ids_are_nanoseconds_since_the_epoch() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        assert!(next_id() >= before);
    }
}
