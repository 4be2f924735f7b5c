//! The manager: InfraKit's `group` plugin that remembers. It stores every committed group spec
//! as a numbered version, applies the specs to the group controller whenever it becomes the
//! leader, and serves the original's `Manager` RPC service beside the Group methods.
//!
//! # Layout
//! - [`store`]: the [`Store`] trait, [`Version`]s and [`Change`]s, the fence; the embedded
//!   redb store and the etcd one, whose writes are fenced.
//! - [`lock`]: one manager per home folder.
//! - [`leader`]: [`Role`]s and where they come from: one node, or an etcd election.
//! - [`manager`]: [`Manager`], the group plugin that stores, then forwards.
//! - [`service`]: the `Manager` RPC service and its client.
//! - [`diff`]: specs compared field by field.

pub mod diff;
pub mod leader;
pub mod lock;
pub mod manager;
pub mod service;
pub mod store;

pub use leader::{Leadership, Role, SingleNode};
pub use lock::HomeLock;
pub use manager::Manager;
pub use service::{ManagerClient, ManagerService};
pub use store::{Change, EmbeddedStore, EtcdStore, Fence, Store, StoreError, Version};
