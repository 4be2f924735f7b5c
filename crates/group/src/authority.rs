//! Whether the controller may act on the infrastructure right now.
//!
//! A controller run by a manager acts for the leader, and a leader knows it leads only up to a
//! point: the moment its lease was last confirmed, plus the margin it keeps before the lease can
//! expire. A process frozen past that point (SIGSTOP, a paused VM, a swap storm) wakes with every
//! timer fired; its first pass would act on a leadership it has lost, beside the new leader.
//! So each pass asks its [`Authority`] before it decides and again before it acts, and holds
//! while the answer is no; the manager gives the controller its lease as the authority.

/// The source of the controller's right to act.
pub trait Authority: Send + Sync {
    /// Whether actions taken now are backed by a valid leadership.
    fn may_act(&self) -> bool;
}

/// A controller that answers to nobody: a standalone group plugin, or a single manager.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconditional;

impl Authority for Unconditional {
    fn may_act(&self) -> bool {
        true
    }
}
