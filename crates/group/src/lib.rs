//! The group controller: keeps groups of instances at their spec, heals them, and rolls out
//! changes safely. Served as the original's `group` plugin; see `docs/group-controller.md` for
//! the contract.
//!
//! A pass over a group observes it (members by tag, health from the flavor), decides with a pure
//! function, journals what tags cannot carry, and executes. The public entry point is
//! [`GroupController`], an [`infrakit_spi::group::GroupPlugin`].
//!
//! # Layout
//! - [`authority`]: whether the controller may act now (a manager's lease).
//! - [`controller`]: the plugin: the Group methods, rollout control, options, events.
//! - [`task`]: one task per group, the only writer of its memory.
//! - [`listen`]: changes an instance plugin pushes, which ask for a pass before the poll.
//! - [`listing`]: one listing of a plugin shared by the periodic passes of the groups on it.
//! - [`target`]: a committed spec, parsed and resolved to its plugins: its config and allocation.
//! - [`observe`]: one look at a group.
//! - [`decide`]: the decision, pure and synchronous.
//! - [`execute`]: the only side effects, bounded by `MaxParallel`.
//! - [`model`]: the decision's inputs from outside ([`model::Desired`], [`model::Observed`]).
//! - [`memory`]: what the controller remembers between passes.
//! - [`plan`]: what a decision returns: actions, the next memory, a report.
//! - [`policy`]: the `Updating` section resolved against the size, with every default.
//! - [`track`]: a member's health history and its health gate.
//! - [`rollout`]: the rollout state machine: commits, operator controls and what passes saw.
//! - [`brakes`]: the meltdown brake and the crash-loop breaker.
//! - [`journal`]: what survives a crash, in memory or in files.
//! - [`events`]: decisions as events, logged per group and broadcast.
//! - [`explain`]: the original's commit texts.
//! - [`forecast`]: what a commit will do, as the decision run forward in imagination.

pub mod authority;
pub mod brakes;
pub mod controller;
pub mod decide;
pub mod events;
pub mod execute;
pub mod explain;
pub mod forecast;
pub mod journal;
pub mod listen;
pub mod listing;
pub mod memory;
pub mod model;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod rollout;
pub mod target;
pub mod task;
pub mod track;

pub use controller::{GroupController, Options};
pub use events::GroupEvent;
pub use journal::{FileJournal, Journal, MemoryJournal};
