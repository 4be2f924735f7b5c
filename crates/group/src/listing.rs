//! One listing of an instance plugin, shared by the periodic passes of the groups on it.
//!
//! Each pass lists its group's members by the group's tag, so a hundred groups on one plugin made
//! a hundred calls per poll interval. A periodic pass may instead take its members from a listing
//! of the whole plugin that another group's pass fetched moments ago, provided that listing is
//! newer than the last one this group used (a group never sees its members go back in time,
//! which would read as deaths) and younger than the poll interval. Each group takes its members
//! out of a listing once (it needs a newer one next time), so sharing costs no copies: a plugin
//! with a hundred groups is listed about once per poll interval instead of a hundred times, for
//! the same work per description. A pass that runs for a
//! reason (a command, a pushed change, the end of its operations) lists afresh: it must see what
//! just happened. A plugin with one group on it is listed by the group's tag, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use infrakit_spi::Result;
use infrakit_spi::group::GROUP_TAG;
use infrakit_spi::instance::Description;
use infrakit_spi::types::Tags;
use tokio::time::Instant;

use crate::target::Config;

/// How a pass may get its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Listed now.
    Fresh,
    /// From a whole-plugin listing started after `newer_than` and returned at most `max_age`
    /// ago.
    Shared {
        /// When the listing this group used last returned.
        newer_than: Option<Instant>,
        /// How old a shared listing may be.
        max_age: Duration,
    },
}

/// A whole-plugin listing, by group.
struct Snapshot {
    /// When the call started: it shows the plugin as it was at some moment after this.
    started: Instant,
    /// When it returned.
    completed: Instant,
    /// Members by group, each taken out by its group's pass.
    by_group: Mutex<HashMap<String, Vec<Description>>>,
}

impl Snapshot {
    fn take(&self, group: &str) -> Vec<Description> {
        // Groups are only ever removed whole.
        let mut by_group = self.by_group.lock().unwrap_or_else(PoisonError::into_inner);
        by_group.remove(group).unwrap_or_default()
    }
}

#[derive(Default)]
struct Plugin {
    groups: usize,
    snapshot: Option<Arc<Snapshot>>,
    /// Held while a whole-plugin listing is fetched: the passes that want one meanwhile wait
    /// for it instead of each fetching their own.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

/// The shared listings of every instance plugin, by the name groups reach it by.
#[derive(Default)]
pub struct Listings {
    plugins: Mutex<HashMap<String, Plugin>>,
}

impl Listings {
    fn plugins(&self) -> MutexGuard<'_, HashMap<String, Plugin>> {
        // Entries are inserted, counted and replaced whole.
        self.plugins.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A group on this plugin started.
    pub fn join(&self, config: &Config) {
        self.plugins().entry(config.instance_spec.plugin.to_string()).or_default().groups += 1;
    }

    /// A group on this plugin stopped.
    pub fn leave(&self, config: &Config) {
        let mut plugins = self.plugins();
        let name = config.instance_spec.plugin.to_string();
        if let Some(plugin) = plugins.get_mut(&name) {
            plugin.groups = plugin.groups.saturating_sub(1);
            if plugin.groups == 0 {
                plugins.remove(&name);
            }
        }
    }

    /// The members of `config`'s group, as `freshness` allows, and when the listing they come
    /// from returned (it shows nothing older than its start, and may show anything up to this).
    pub async fn members(&self, config: &Config, freshness: Freshness) -> Result<(Vec<Description>, Instant)> {
        let own = || async { Ok((config.list().await?, Instant::now())) };
        let Freshness::Shared { newer_than, max_age } = freshness else { return own().await };
        let name = config.instance_spec.plugin.to_string();
        let usable = |snapshot: &Arc<Snapshot>| {
            newer_than.is_none_or(|last| snapshot.started > last) && snapshot.completed.elapsed() <= max_age
        };
        let fetching = self.plugins().get(&name).filter(|p| p.groups > 1).map(|p| p.fetching.clone());
        let Some(fetching) = fetching else { return own().await };
        let group = config.group.to_string();
        let _turn = fetching.lock().await;
        // Another pass may have fetched one while this one waited.
        let cached = self.plugins().get(&name).and_then(|p| p.snapshot.clone()).filter(usable);
        if let Some(snapshot) = cached {
            return Ok((snapshot.take(&group), snapshot.completed));
        }
        let started = Instant::now();
        let mut by_group: HashMap<String, Vec<Description>> = HashMap::new();
        for mut description in config.instance.describe_instances(&Tags::new(), true).await? {
            let Some(owner) = description.tags.get(GROUP_TAG).cloned() else { continue };
            description.logical_id = description.effective_logical_id();
            by_group.entry(owner).or_default().push(description);
        }
        let completed = Instant::now();
        let members = by_group.remove(&group).unwrap_or_default();
        if let Some(plugin) = self.plugins().get_mut(&name) {
            let by_group = Mutex::new(by_group);
            plugin.snapshot = Some(Arc::new(Snapshot { started, completed, by_group }));
        }
        Ok((members, completed))
    }
}
