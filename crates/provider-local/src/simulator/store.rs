//! One simulator object's instances, indexed by tag so that describing a group among 100,000
//! instances touches only that group.
//!
//! The index maps each tag `(key, value)` to the set of instances carrying it. A describe takes
//! the smallest set among its tags and checks the others by membership, so its cost follows the
//! size of the answer, not of the store. Only the instances returned are cloned.
//!
//! Visibility is separate from existence, to model a cloud API's eventual consistency: an
//! instance is listed from `visible_from` on, and a destroyed one goes on being listed until
//! `listed_until`. The store is plain data; time comes in as an argument.

use std::collections::{BTreeSet, HashMap, HashSet};

use infrakit_spi::instance::{Description, InstanceId, LogicalId};
use infrakit_spi::types::Tags;
use serde_json::Value;
use tokio::time::Instant;

/// Where an instance is in its life, as far as listing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// It exists; it is listed from `visible_from` on.
    Live { visible_from: Instant },
    /// It was destroyed; it is listed in `visible_from..listed_until`, then forgotten.
    Destroyed { visible_from: Instant, listed_until: Instant },
}

#[derive(Debug)]
struct Record {
    tags: Tags,
    logical_id: Option<LogicalId>,
    properties: Option<Value>,
    lifecycle: Lifecycle,
}

impl Record {
    fn is_listed_at(&self, now: Instant) -> bool {
        match self.lifecycle {
            Lifecycle::Live { visible_from } => visible_from <= now,
            Lifecycle::Destroyed { visible_from, listed_until } => visible_from <= now && now < listed_until,
        }
    }

    fn is_live(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Live { .. })
    }

    fn describe(&self, id: u64, properties: bool) -> Description {
        Description {
            id: InstanceId(id.to_string()),
            logical_id: self.logical_id.clone(),
            tags: self.tags.clone(),
            properties: if properties { self.properties.clone() } else { None },
        }
    }
}

/// A new instance, as [`Store::insert`] takes it.
#[derive(Debug)]
pub(super) struct NewInstance {
    pub(super) tags: Tags,
    pub(super) logical_id: Option<LogicalId>,
    pub(super) properties: Option<Value>,
    pub(super) visible_from: Instant,
}

/// The instances of one object.
#[derive(Debug, Default)]
pub(super) struct Store {
    records: HashMap<u64, Record>,
    index: TagIndex,
    /// Destroyed records by when they stop being listed, so that expired ones are dropped
    /// without scanning the store.
    retiring: BTreeSet<(Instant, u64)>,
    live: usize,
}

impl Store {
    /// Adds a live instance under `id`, which must be new.
    pub(super) fn insert(&mut self, id: u64, new: NewInstance) {
        // IDs are unique by construction; should one come back, the index must not keep the
        // old record's tags.
        if self.records.get(&id).is_some_and(Record::is_live) {
            self.live -= 1;
        }
        self.remove(id);
        self.index.add(id, &new.tags);
        let lifecycle = Lifecycle::Live { visible_from: new.visible_from };
        let record = Record { tags: new.tags, logical_id: new.logical_id, properties: new.properties, lifecycle };
        self.records.insert(id, record);
        self.live += 1;
    }

    /// Merges `labels` into a live instance's tags; false if there is no such live instance.
    pub(super) fn label(&mut self, id: u64, labels: &Tags) -> bool {
        let Some(record) = self.records.get_mut(&id).filter(|r| r.is_live()) else { return false };
        for (key, value) in labels {
            if let Some(old) = record.tags.insert(key.clone(), value.clone()) {
                self.index.remove_one(id, key, &old);
            }
            self.index.add_one(id, key, value);
        }
        true
    }

    /// Destroys a live instance: it stays listed until `now + lag`. False if there is no such
    /// live instance.
    pub(super) fn destroy(&mut self, id: u64, now: Instant, lag: std::time::Duration) -> bool {
        let Some(record) = self.records.get_mut(&id) else { return false };
        let Lifecycle::Live { visible_from } = record.lifecycle else { return false };
        self.live -= 1;
        if lag.is_zero() {
            self.remove(id);
        } else {
            let listed_until = now + lag;
            record.lifecycle = Lifecycle::Destroyed { visible_from, listed_until };
            self.retiring.insert((listed_until, id));
        }
        true
    }

    /// Removes a live instance at once, unlisted, as if its machine died. False if there is no
    /// such live instance.
    pub(super) fn kill(&mut self, id: u64) -> bool {
        if !self.records.get(&id).is_some_and(Record::is_live) {
            return false;
        }
        self.live -= 1;
        self.remove(id);
        true
    }

    /// The instances listed at `now` that carry every tag in `tags`, in ID order.
    pub(super) fn describe(&mut self, tags: &Tags, now: Instant, properties: bool) -> Vec<Description> {
        self.drop_expired(now);
        let mut ids: Vec<u64> = match self.index.matching(tags) {
            Matching::All => self.records.keys().copied().collect(),
            Matching::Candidates { smallest, others } => {
                smallest.iter().copied().filter(|id| others.iter().all(|set| set.contains(id))).collect()
            }
            Matching::None => Vec::new(),
        };
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| {
                let record = self.records.get(&id)?;
                record.is_listed_at(now).then(|| record.describe(id, properties))
            })
            .collect()
    }

    /// The lowest ID of a live instance, listed or not yet, that carries every tag in `tags`.
    pub(super) fn first_live(&self, tags: &Tags) -> Option<u64> {
        let live = |id: &u64| self.records.get(id).is_some_and(Record::is_live);
        match self.index.matching(tags) {
            Matching::All => self.records.keys().copied().filter(live).min(),
            Matching::Candidates { smallest, others } => {
                smallest.iter().copied().filter(|id| others.iter().all(|set| set.contains(id))).filter(live).min()
            }
            Matching::None => None,
        }
    }

    /// Every live instance, listed or not yet, with properties, in ID order.
    pub(super) fn live_instances(&self) -> Vec<Description> {
        let mut ids: Vec<u64> = self.records.iter().filter(|(_, r)| r.is_live()).map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.into_iter().filter_map(|id| self.records.get(&id).map(|r| r.describe(id, true))).collect()
    }

    /// How many instances exist (listed or not yet).
    pub(super) fn live_count(&self) -> usize {
        self.live
    }

    fn drop_expired(&mut self, now: Instant) {
        while let Some(&(until, id)) = self.retiring.first() {
            if until > now {
                break;
            }
            self.retiring.pop_first();
            self.remove(id);
        }
    }

    /// Forgets a record, live or destroyed, leaving the live count to the caller.
    fn remove(&mut self, id: u64) {
        let Some(record) = self.records.remove(&id) else { return };
        self.index.remove(id, &record.tags);
        if let Lifecycle::Destroyed { listed_until, .. } = record.lifecycle {
            self.retiring.remove(&(listed_until, id));
        }
    }
}

/// Which instances may match a set of tags.
enum Matching<'a> {
    /// No tags were asked for: every instance.
    All,
    /// Those in `smallest` that are also in every set of `others`.
    Candidates { smallest: &'a HashSet<u64>, others: Vec<&'a HashSet<u64>> },
    /// Some tag is on no instance at all.
    None,
}

/// Tag `(key, value)` to the instances carrying it.
#[derive(Debug, Default)]
struct TagIndex {
    // Nested rather than keyed by a pair, so that a lookup borrows `&str`s instead of building
    // a pair of owned strings.
    by_key: HashMap<String, HashMap<String, HashSet<u64>>>,
}

impl TagIndex {
    fn add(&mut self, id: u64, tags: &Tags) {
        for (key, value) in tags {
            self.add_one(id, key, value);
        }
    }

    fn add_one(&mut self, id: u64, key: &str, value: &str) {
        let values = match self.by_key.get_mut(key) {
            Some(values) => values,
            None => self.by_key.entry(key.to_owned()).or_default(),
        };
        let ids = match values.get_mut(value) {
            Some(ids) => ids,
            None => values.entry(value.to_owned()).or_default(),
        };
        ids.insert(id);
    }

    fn remove(&mut self, id: u64, tags: &Tags) {
        for (key, value) in tags {
            self.remove_one(id, key, value);
        }
    }

    fn remove_one(&mut self, id: u64, key: &str, value: &str) {
        let Some(values) = self.by_key.get_mut(key) else { return };
        if let Some(ids) = values.get_mut(value) {
            ids.remove(&id);
            if ids.is_empty() {
                values.remove(value);
            }
        }
        if values.is_empty() {
            self.by_key.remove(key);
        }
    }

    fn matching(&self, tags: &Tags) -> Matching<'_> {
        let mut sets = Vec::with_capacity(tags.len());
        for (key, value) in tags {
            match self.by_key.get(key.as_str()).and_then(|values| values.get(value.as_str())) {
                Some(ids) => sets.push(ids),
                None => return Matching::None,
            }
        }
        let Some(smallest_at) = sets.iter().enumerate().min_by_key(|(_, set)| set.len()).map(|(i, _)| i) else {
            return Matching::All;
        };
        let smallest = sets.swap_remove(smallest_at);
        Matching::Candidates { smallest, others: sets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn new_instance(pairs: &[(&str, &str)], visible_from: Instant) -> NewInstance {
        NewInstance { tags: tags(pairs), logical_id: None, properties: None, visible_from }
    }

    fn ids(found: &[Description]) -> Vec<&str> {
        found.iter().map(|d| d.id.as_str()).collect()
    }

    #[test]
    fn describe_and_matches_every_tag() {
        let now = Instant::now();
        let mut store = Store::default();
        store.insert(1, new_instance(&[("group", "a"), ("tier", "web")], now));
        store.insert(2, new_instance(&[("group", "a"), ("tier", "db")], now));
        store.insert(3, new_instance(&[("group", "b"), ("tier", "web")], now));
        assert_eq!(ids(&store.describe(&tags(&[("group", "a")]), now, false)), ["1", "2"]);
        assert_eq!(ids(&store.describe(&tags(&[("group", "a"), ("tier", "web")]), now, false)), ["1"]);
        assert_eq!(ids(&store.describe(&tags(&[("group", "c")]), now, false)), Vec::<&str>::new());
        assert_eq!(ids(&store.describe(&tags(&[("group", "a"), ("x", "y")]), now, false)), Vec::<&str>::new());
        assert_eq!(ids(&store.describe(&Tags::new(), now, false)), ["1", "2", "3"]);
    }

    #[test]
    fn labels_move_an_instance_between_index_entries() {
        let now = Instant::now();
        let mut store = Store::default();
        store.insert(1, new_instance(&[("group", "a")], now));
        assert!(store.label(1, &tags(&[("group", "b"), ("new", "yes")])));
        assert!(store.describe(&tags(&[("group", "a")]), now, false).is_empty());
        assert_eq!(ids(&store.describe(&tags(&[("group", "b"), ("new", "yes")]), now, false)), ["1"]);
        assert!(!store.label(2, &tags(&[("x", "y")])));
        assert!(store.index.by_key.get("group").is_some_and(|values| !values.contains_key("a")));
    }

    #[test]
    fn a_destroyed_instance_is_listed_until_the_lag_has_passed_then_forgotten() {
        let start = Instant::now();
        let lag = Duration::from_secs(5);
        let mut store = Store::default();
        store.insert(1, new_instance(&[("group", "a")], start));
        assert!(store.destroy(1, start, lag));
        assert_eq!(store.live_count(), 0);
        assert!(!store.destroy(1, start, lag), "a destroyed instance cannot be destroyed again");
        assert!(!store.label(1, &tags(&[("x", "y")])), "nor labelled");
        assert_eq!(ids(&store.describe(&Tags::new(), start + lag - Duration::from_millis(1), false)), ["1"]);
        assert!(store.describe(&Tags::new(), start + lag, false).is_empty());
        assert!(store.records.is_empty() && store.retiring.is_empty() && store.index.by_key.is_empty());
    }

    #[test]
    fn a_killed_instance_vanishes_at_once() {
        let now = Instant::now();
        let mut store = Store::default();
        store.insert(1, new_instance(&[("group", "a")], now));
        assert!(store.kill(1));
        assert!(!store.kill(1));
        assert!(store.describe(&Tags::new(), now, false).is_empty());
        assert_eq!(store.live_count(), 0);
        assert!(store.index.by_key.is_empty());
    }

    #[test]
    fn live_instances_include_those_not_yet_listed() {
        let now = Instant::now();
        let mut store = Store::default();
        store.insert(1, new_instance(&[], now + Duration::from_secs(10)));
        assert!(store.describe(&Tags::new(), now, false).is_empty());
        assert_eq!(ids(&store.live_instances()), ["1"]);
    }

    /// 1,000 instances in 10 groups, each group split over 10 config hashes: describe returns
    /// exactly the members, whichever tag's set is the smallest. (The 100,000-instance test goes
    /// through the plugin, in `tests/simulator.rs`.)
    #[test]
    fn describes_by_tags_exactly_whichever_set_is_smallest() {
        const INSTANCES: u64 = 1_000;
        const GROUPS: u64 = 10;
        let now = Instant::now();
        let mut store = Store::default();
        for id in 0..INSTANCES {
            let (group, hash, n) = (format!("g{}", id % GROUPS), format!("h{}", (id / GROUPS) % 10), id.to_string());
            let tags = [("infrakit.group", group.as_str()), ("infrakit.config.hash", &hash), ("all", "yes"), ("n", &n)];
            store.insert(id, new_instance(&tags, now));
        }

        let group3 = store.describe(&tags(&[("infrakit.group", "g3"), ("all", "yes")]), now, false);
        let expected: Vec<String> = (0..INSTANCES).filter(|id| id % GROUPS == 3).map(|id| id.to_string()).collect();
        assert_eq!(group3.iter().map(|d| d.id.0.clone()).collect::<Vec<_>>(), expected);

        let narrowed = store.describe(&tags(&[("infrakit.group", "g3"), ("infrakit.config.hash", "h7")]), now, false);
        assert_eq!(ids(&narrowed), ["73", "173", "273", "373", "473", "573", "673", "773", "873", "973"]);
        assert_eq!(ids(&store.describe(&tags(&[("n", "419"), ("infrakit.group", "g9")]), now, false)), ["419"]);
        assert!(store.describe(&tags(&[("n", "419"), ("infrakit.group", "g8")]), now, false).is_empty());

        for id in (3..INSTANCES).step_by(GROUPS as usize).take(50) {
            assert!(store.destroy(id, now, Duration::ZERO));
        }
        assert_eq!(store.describe(&tags(&[("infrakit.group", "g3")]), now, false).len(), 50);
        assert_eq!(store.describe(&Tags::new(), now, false).len(), INSTANCES as usize - 50);
        assert_eq!(store.live_count(), INSTANCES as usize - 50);
    }
}
