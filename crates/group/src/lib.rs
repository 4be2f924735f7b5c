//! The group controller: keeps groups of instances at their spec, heals them, and rolls out
//! changes safely.
//!
//! # Layout
//! - [`model`]: what the spec wants ([`model::Desired`]) and what the plugins report
//!   ([`model::Observed`]).
//! - [`policy`]: the `Updating` section resolved against the size, with every default.
//! - [`track`]: a member's health history and its health gate.
//! - [`rollout`]: the rollout state machine.
//! - [`brakes`]: the meltdown brake and the crash-loop breaker.
//! - [`memory`]: what the controller remembers between passes (in-flight provisions and
//!   destroys, health histories, brakes).
//! - [`plan`]: what a decision returns: actions, the next memory, a report.
//! - [`decide`]: the decision, pure and synchronous.
//! - [`explain`]: the original's commit texts ("Managing 3 instances", ...).

pub mod brakes;
pub mod decide;
pub mod explain;
pub mod memory;
pub mod model;
pub mod plan;
pub mod policy;
pub mod rollout;
pub mod track;
