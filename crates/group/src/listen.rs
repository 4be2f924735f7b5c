//! Listening to the changes a group's instance plugin pushes (see `infrakit_spi::changes`), so
//! that a member that dies is replaced by a pass at once rather than on the next poll.
//!
//! Changes are hints: a change to one of the group's members asks for a pass, and the pass lists
//! the group as always. Plugins that push nothing are polled as before; a stream that ends (a
//! remote plugin went away) is opened again on the next poll.

use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use infrakit_spi::changes::{ChangeStream, InstanceChange};
use infrakit_spi::group::{GROUP_TAG, GroupId};
use infrakit_spi::instance::InstancePlugin;

/// A group's subscription to its instance plugin's changes.
#[derive(Default)]
pub struct Listener {
    /// The plugin listened to, to notice when a commit changes it.
    plugin: Option<Arc<dyn InstancePlugin>>,
    changes: Option<ChangeStream>,
}

impl Listener {
    /// Listens to `plugin`, unless already listening to it (a commit may name another).
    pub fn follow(&mut self, plugin: &Arc<dyn InstancePlugin>) {
        if !self.plugin.as_ref().is_some_and(|p| Arc::ptr_eq(p, plugin)) {
            self.changes = plugin.changes();
            self.plugin = Some(plugin.clone());
        }
    }

    /// Opens the stream again if it ended; called on the poll, so a plugin that keeps going
    /// away is asked once per interval.
    pub fn reopen(&mut self) {
        if self.changes.is_none() {
            self.changes = self.plugin.as_ref().and_then(|p| p.changes());
        }
    }

    /// Waits for changes; returns whether any of those ready now concerns `group`. Never returns
    /// while there is nothing to listen to; `None` once the stream ended.
    pub async fn next(&mut self, group: &GroupId) -> Option<bool> {
        let Some(changes) = self.changes.as_mut() else {
            return std::future::pending().await;
        };
        let Some(first) = changes.next().await else {
            self.changes = None;
            return None;
        };
        let mut ours = concerns(&first, group);
        // A burst (a kill is `die` then `destroy`; a host's outage is every member) is one pass.
        loop {
            match changes.next().now_or_never() {
                Some(Some(change)) => ours |= concerns(&change, group),
                Some(None) => {
                    self.changes = None;
                    break;
                }
                None => break,
            }
        }
        Some(ours)
    }
}

fn concerns(change: &InstanceChange, group: &GroupId) -> bool {
    change.concerns(GROUP_TAG, group.as_str())
}
