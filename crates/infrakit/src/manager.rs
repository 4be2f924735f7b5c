//! The manager as this binary runs it: the home lock, the embedded store, a group controller
//! with a file journal, and the `Manager` service, assembled once for `plugin start manager`
//! and for `infrakit up`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use infrakit_group::{FileJournal, GroupController};
use infrakit_manager::{EmbeddedStore, HomeLock, Manager, ManagerService, SingleNode};
use infrakit_rpc::EventBus;

use crate::kinds::forward_events;
use crate::registry::{Objects, Registry};

/// The object name the manager's groups are served under (`<socket>/groups`, as the original);
/// being the only group object, it also answers `<socket>` and `<socket>/<gid>`.
const GROUPS_OBJECT: &str = "groups";

/// Where the manager keeps its specs under the home folder.
pub fn store_path(home: &Path) -> PathBuf {
    home.join("manager").join("specs.redb")
}

/// A running manager and the controller it drives.
pub struct Assembled {
    pub manager: Manager,
    pub controller: GroupController,
    pub objects: Objects,
}

/// Locks `home` and builds the manager served as `name`. The lock is held, and leadership
/// followed, until the process exits.
pub fn assemble(name: &str, home: &Path, registry: &Arc<Registry>) -> Result<Assembled> {
    let lock = HomeLock::acquire(home)?;
    let store = EmbeddedStore::open(&store_path(home)).context("cannot open the manager's spec store")?;
    let mut options = infrakit_group::Options::from_env().context("invalid group controller settings")?;
    options.journal = Arc::new(FileJournal::new(home.join("journal").join(name)));
    let controller = GroupController::new(registry.clone(), options);
    let leadership = SingleNode::new();
    let manager = Manager::new(Arc::new(store), Arc::new(controller.clone()), &leadership, None);
    let following = manager.clone();
    tokio::spawn(async move {
        // The lock and the leadership live as long as this task, which follows the leadership
        // until the process ends.
        let _held = (lock, leadership);
        following.follow().await;
    });
    let bus = EventBus::new();
    tokio::spawn(forward_events(controller.subscribe(), bus.clone()));
    let objects = Objects {
        groups: vec![(GROUPS_OBJECT.to_owned(), Arc::new(manager.clone()))],
        services: vec![Arc::new(ManagerService::new(manager.clone()))],
        events: Some(bus),
        ..Objects::default()
    };
    Ok(Assembled { manager, controller, objects })
}
