//! The rollout state machine.
//!
//! ```text
//!              old-config members appear (commit, restart)
//!   Steady ───────────────────────────────────────────────▶ Rolling
//!     ▲  ▲                                                  │  │  │
//!     │  │        all members current and ready             │  │  │ operator pause
//!     │  └──────────────────────────────────────────────────┘  │  ▼
//!     │                                     failure, Pause     │ Paused{reason} ──resume──▶ Rolling
//!     │                                   ┌────────────────────┘  │
//!     │                                   ▼                       │ operator abort
//!     │ done      failure, Rollback ─▶ RollingBack{reason} ◀──────┘
//!     └──────────────────────────────────────┘  │ failure
//!                                               ▼
//!                                        Paused{rollback failed}
//! ```
//!
//! `Rolling` is derived from the tags (members of another config exist), so a rollout interrupted
//! by a restart resumes by itself; `Paused` and `RollingBack` cannot be seen in tags and are
//! journaled.

use serde::{Deserialize, Serialize};

/// Where a group's rollout stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rollout {
    /// Every member runs the current config.
    #[default]
    Steady,
    /// Members of older configs are being replaced.
    Rolling,
    /// No member is replaced for the rollout; healing goes on.
    Paused {
        /// Why.
        reason: Pause,
    },
    /// The previous spec was restored; its members replace the failed config's.
    RollingBack {
        /// Why the rollout was rolled back.
        reason: String,
    },
}

/// Why a rollout is paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pause {
    /// An operator asked.
    Operator,
    /// A new member or its provisions failed; the text says how.
    Failed(String),
}

impl Rollout {
    /// True while members are being replaced (with surge allowed).
    pub fn is_moving(&self) -> bool {
        matches!(self, Self::Rolling | Self::RollingBack { .. })
    }

    /// The reason to show, if any.
    pub fn reason(&self) -> Option<String> {
        match self {
            Self::Steady | Self::Rolling => None,
            Self::Paused { reason: Pause::Operator } => Some("paused by an operator".to_owned()),
            Self::Paused { reason: Pause::Failed(why) } => Some(why.clone()),
            Self::RollingBack { reason } => Some(reason.clone()),
        }
    }
}
