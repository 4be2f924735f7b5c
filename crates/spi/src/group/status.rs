//! What a group controller reports beyond the original's `Instances` and `Converged`: the phase,
//! the counts, the rollout's progress, the last error and the recent decisions with their reasons.
//!
//! All of it sits under one extra `Status` key of the group description, absent when a controller
//! does not report it, so the original's clients read descriptions as before.

use serde::{Deserialize, Serialize};

/// Where a group stands, most urgent first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The group matches its spec and nothing is in progress.
    #[default]
    Converged,
    /// Members are being added or removed to reach the size.
    Scaling,
    /// A rollout (or a rollback) is replacing members.
    Rolling,
    /// A rollout is paused, by an operator or by a failure.
    Paused,
    /// A brake is engaged, provisions are backing off, or members are unhealthy.
    Degraded,
    /// The stored spec fails validation, so nothing manages the group until a valid spec is
    /// committed; `LastError` says why.
    Rejected,
}

/// Member counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Counts {
    /// The size the spec asks for.
    pub desired: u64,
    /// The members the instance plugin lists.
    pub actual: u64,
    /// Listed members the flavor reports healthy.
    pub healthy: u64,
    /// Listed members created from another config than the current one.
    pub old_config: u64,
    /// Provisions started but not yet listed.
    pub in_flight: u64,
}

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Every member runs the current config; nothing to roll.
    #[default]
    Steady,
    /// Members of an older config are being replaced.
    Rolling,
    /// Replacement has stopped; `Reason` says why.
    Paused,
    /// The previous spec is being restored after a failure or an abort.
    RollingBack,
}

/// A rollout's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RolloutStatus {
    /// The state.
    pub state: RolloutState,
    /// The config hash being rolled to.
    pub target: String,
    /// Members already on the target config.
    pub updated: u64,
    /// Members the rollout will have when done.
    pub total: u64,
    /// Why the rollout is paused or rolling back, or how the last one ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One decision of the controller and why it was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Decision {
    /// When, as RFC 3339 with nanoseconds.
    pub time: String,
    /// What was done and why: `replaced i-3: unhealthy for 45s`.
    pub message: String,
}

/// The controller's view of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupStatus {
    /// Where the group stands.
    pub phase: Phase,
    /// Member counts.
    pub counts: Counts,
    /// The rollout's progress.
    pub rollout: RolloutStatus,
    /// What the controller waits on, and why (brakes, health gates, backoff).
    #[serde(default)]
    pub waiting: Vec<String>,
    /// The last error seen, if the group has not converged since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The most recent decisions, oldest first.
    #[serde(default)]
    pub decisions: Vec<Decision>,
}
