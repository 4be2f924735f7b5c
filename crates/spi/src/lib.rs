//! The plugin interfaces of InfraKit: the types that cross the wire and the traits that the
//! group controller, the manager and the RPC layer program against.
//!
//! Everything here is transport-free. A plugin implemented in-process and one reached over a
//! unix socket are both an `Arc<dyn InstancePlugin>` (or flavor, or group) to their callers.
//!
//! # Layout
//! - [`error`]: the one error type of the interfaces, named by what a caller can do about it.
//! - [`types`]: small shared types: tags, interface versions, plugin names.
//! - [`instance`]: the Instance interface (`Instance/0.6.1`): create, tag, list, destroy.
//! - [`changes`]: the optional extension of an instance plugin that pushes changes to its
//!   instances, so that a group heals without waiting for its next poll.
//! - [`flavor`]: the Flavor interface (`Flavor/0.1.1`): prepare a spec, judge health, drain.
//! - [`group`]: the Group interface (`Group/0.1.1`) and the group controller's spec schema.
//! - [`hash`]: the config hash that decides whether an instance runs the current config.
//! - [`home`]: InfraKit's home folder, where sockets and plugin state live.
//! - [`duration`]: Go duration strings (`"10s"`, `"1m30s"`), as InfraKit's specs write them.
//! - [`lookup`]: how a caller finds a plugin by name, whatever the transport.
//! - [`time`]: timestamps as Go's RFC 3339 with nanoseconds, for events and decisions.
//!
//! JSON shapes follow the original exactly: PascalCase keys, `null` for absent collections.

pub mod changes;
pub mod duration;
pub mod error;
pub mod flavor;
mod go_json;
pub mod group;
pub mod hash;
pub mod home;
pub mod instance;
pub mod lookup;
pub mod time;
pub mod types;

pub use error::{Error, Result};
