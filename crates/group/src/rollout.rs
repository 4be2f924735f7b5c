//! The rollout: which config a group enforces, which one a rollback restores, and where the
//! replacement of members stands, as one state machine.
//!
//! Everything that changes it is an [`Event`] through [`Rollout::step`]: a commit, an
//! operator's pause, resume or abort, and what a pass of the decision saw (old-config members
//! left, new members not ready yet, a failure). "How does a rollout end or roll back?" is
//! answered here and nowhere else; the decision and the group's task only feed it events.
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
//! A rollback (on failure with `OnFailure: Rollback`, or an abort) makes the stable config the
//! current one and remembers the failed one, so that committing the failed spec again (the
//! manager does on every start) does not roll it out again; resuming does.
//!
//! `Rolling` is derived from the tags (members of another config exist), so a rollout interrupted
//! by a restart resumes by itself; `Paused`, `RollingBack` and the stable and failed configs
//! cannot be seen in tags and are journaled.

use infrakit_spi::group::{ConfigHash, OnFailure};
use serde::{Deserialize, Serialize};

/// Where the replacement of members stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
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
    /// The stable config was restored; its members replace the failed config's.
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

/// What a stage allows above the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surge {
    /// Nothing: the group is at its spec, or a surplus is removed down to the size.
    None,
    /// Members already created above the size stay (a paused rollout keeps its replacements;
    /// removing surplus would take old members and so go on rolling), but none are created.
    Keep,
    /// Replacements are created up to `MaxSurge` above the size.
    Create,
}

impl Stage {
    /// What this stage allows above the size.
    pub fn surge(&self) -> Surge {
        match self {
            Self::Steady => Surge::None,
            Self::Paused { .. } => Surge::Keep,
            Self::Rolling | Self::RollingBack { .. } => Surge::Create,
        }
    }

    /// True while members are being replaced.
    pub fn is_moving(&self) -> bool {
        self.surge() == Surge::Create
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

/// A config whose rollout was rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The config.
    pub config: ConfigHash,
    /// Why it was rolled back.
    pub reason: String,
}

/// A group's rollout: the configs it moves between and its stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollout {
    /// The config every member should run.
    pub current: ConfigHash,
    /// The last config the group converged on: what a rollback restores.
    pub stable: Option<ConfigHash>,
    /// The config whose rollout was last rolled back, if it was.
    pub failed: Option<Failed>,
    /// Where the replacement of members stands.
    pub stage: Stage,
}

/// An operator's control of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop replacing members.
    Pause,
    /// Go on, or retry a rolled-back config.
    Resume,
    /// Restore the stable config.
    Abort,
}

/// Something that moves a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A spec with this config was committed.
    Commit(ConfigHash),
    /// An operator's control.
    Operator(Control),
    /// What a pass of the decision saw of the current config's progress.
    Observed(Progress),
    /// A pass found that the current config's rollout failed, and why.
    Failed {
        /// What failed.
        failure: String,
        /// What the current config's policy says to do.
        on_failure: OnFailure,
    },
}

/// A pass's view of the rollout's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Members on another config than the current one, the controller's own instance aside.
    pub old: u64,
    /// Whether the controller's own instance runs another config: it is replaced by another
    /// controller, so it does not hold the rollout, but the config is not stable until it is.
    pub self_old: bool,
    /// Whether every member of the current config is listed and ready.
    pub settled: bool,
    /// The policy's surge, for the message that starts a rollout.
    pub max_surge: u64,
    /// The policy's unavailability, for the same message.
    pub max_unavailable: u64,
}

/// What a step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transition {
    /// What changed, for the group's events; `None` when nothing did.
    pub message: Option<String>,
    /// A config that starts afresh: its crash-loop breaker closed and its unready members'
    /// health timeouts restarted (an operator resumed or retried it).
    pub fresh_start: Option<ConfigHash>,
}

impl Transition {
    fn said(message: String) -> Self {
        Self { message: Some(message), fresh_start: None }
    }
}

/// Why an event was refused; the rollout is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A commit of the config a rollback restored from.
    #[error("Not rolled out again: the rollout of this spec was rolled back ({0}); resume the rollout to retry it")]
    RolledBack(String),
    /// A resume with nothing paused or rolled back.
    #[error("the rollout is not paused")]
    NotPaused,
    /// An abort with no rollout.
    #[error("there is no rollout in progress")]
    NoRollout,
    /// An abort during a rollback.
    #[error("the group is already rolling back")]
    AlreadyRollingBack,
    /// An abort with no stable config to return to.
    #[error("there is no previous spec to roll back to")]
    NoPrevious,
}

impl Rollout {
    /// A group that starts on `config`, with no history.
    pub fn new(config: ConfigHash) -> Self {
        Self { current: config, stable: None, failed: None, stage: Stage::Steady }
    }

    /// The config a rollback would restore, when there is one other than the current.
    pub fn previous(&self) -> Option<&ConfigHash> {
        self.stable.as_ref().filter(|s| **s != self.current)
    }

    /// Takes back what the journal kept of an earlier run, for a group just committed with the
    /// current config: if that is the config a rollback restored from, the restored one stays.
    pub fn restore(&mut self, stage: Stage, stable: Option<ConfigHash>, failed: Option<Failed>) -> Transition {
        self.stage = stage;
        self.stable = stable;
        self.failed = failed;
        match (&self.failed, &self.stable) {
            (Some(failed), Some(stable)) if failed.config == self.current => {
                let message = format!("keeping config {} restored by a rollback ({})", stable.short(), failed.reason);
                self.current = stable.clone();
                Transition::said(message)
            }
            _ => Transition::default(),
        }
    }

    /// Moves the rollout by one event.
    pub fn step(&mut self, event: Event) -> Result<Transition, Refused> {
        match event {
            Event::Commit(config) => self.commit(config),
            Event::Operator(control) => self.control(control),
            Event::Observed(progress) => Ok(self.observe(progress)),
            Event::Failed { failure, on_failure } => Ok(self.fail(failure, on_failure)),
        }
    }

    fn commit(&mut self, config: ConfigHash) -> Result<Transition, Refused> {
        if config == self.current {
            return Ok(Transition::default());
        }
        if let Some(failed) = self.failed.as_ref().filter(|f| f.config == config) {
            return Err(Refused::RolledBack(failed.reason.clone()));
        }
        // An operator's pause outlives commits: the operator resumes when ready.
        if self.stage != (Stage::Paused { reason: Pause::Operator }) {
            self.stage = Stage::Steady;
        }
        self.failed = None;
        let message = format!("committed config {config} (was {})", self.current);
        self.current = config;
        Ok(Transition::said(message))
    }

    fn control(&mut self, control: Control) -> Result<Transition, Refused> {
        match (control, &self.stage) {
            (Control::Pause, Stage::Paused { .. }) => Ok(Transition::default()),
            (Control::Pause, _) => {
                self.stage = Stage::Paused { reason: Pause::Operator };
                Ok(Transition::said("rollout paused by an operator".to_owned()))
            }
            (Control::Resume, Stage::Paused { .. }) => {
                self.stage = Stage::Rolling;
                let message = "rollout resumed by an operator".to_owned();
                Ok(Transition { message: Some(message), fresh_start: Some(self.current.clone()) })
            }
            (Control::Resume, Stage::Steady) => {
                let failed = self.failed.take().ok_or(Refused::NotPaused)?;
                self.current = failed.config;
                let message = format!("retrying the rollout of config {} by an operator", self.current);
                Ok(Transition { message: Some(message), fresh_start: Some(self.current.clone()) })
            }
            (Control::Resume, _) => Err(Refused::NotPaused),
            (Control::Abort, Stage::Steady) => Err(Refused::NoRollout),
            (Control::Abort, Stage::RollingBack { .. }) => Err(Refused::AlreadyRollingBack),
            (Control::Abort, Stage::Rolling | Stage::Paused { .. }) => {
                let stable = self.previous().cloned().ok_or(Refused::NoPrevious)?;
                let reason = "aborted by an operator".to_owned();
                let message = format!("rollout {reason}; rolling back to config {stable}");
                self.roll_back(stable, reason.clone());
                self.stage = Stage::RollingBack { reason };
                Ok(Transition::said(message))
            }
        }
    }

    fn roll_back(&mut self, to: ConfigHash, reason: String) {
        let from = std::mem::replace(&mut self.current, to);
        self.failed = Some(Failed { config: from, reason });
    }

    fn observe(&mut self, progress: Progress) -> Transition {
        let mut transition = Transition::default();
        match &self.stage {
            Stage::Steady if progress.old > 0 => {
                self.stage = Stage::Rolling;
                transition.message = Some(format!(
                    "rolling {} members to config {} (surge {}, unavailable {})",
                    progress.old,
                    self.current.short(),
                    progress.max_surge,
                    progress.max_unavailable
                ));
            }
            // A pause by an operator holds until resumed, even with nothing left to roll.
            Stage::Rolling | Stage::RollingBack { .. } | Stage::Paused { reason: Pause::Failed(_) }
                if progress.old == 0 && progress.settled =>
            {
                transition.message = Some(match &self.stage {
                    Stage::RollingBack { reason } => {
                        format!("rollback to config {} complete ({reason})", self.current.short())
                    }
                    _ => format!("rollout to config {} complete", self.current.short()),
                });
                self.stage = Stage::Steady;
            }
            _ => {}
        }
        if self.stage == Stage::Steady && progress.old == 0 && !progress.self_old {
            self.stable = Some(self.current.clone());
        }
        transition
    }

    fn fail(&mut self, failure: String, on_failure: OnFailure) -> Transition {
        let reason = format!("rollout to config {} failed: {failure}", self.current.short());
        self.stage = match (&self.stage, on_failure, self.previous().cloned()) {
            (Stage::RollingBack { .. }, _, _) => Stage::Paused {
                reason: Pause::Failed(format!("rollback to config {} failed: {failure}", self.current.short())),
            },
            (_, OnFailure::Rollback, Some(previous)) => {
                let reason = format!("{reason}; rolling back to config {}", previous.short());
                self.roll_back(previous, reason.clone());
                Stage::RollingBack { reason }
            }
            (_, OnFailure::Rollback, None) => {
                Stage::Paused { reason: Pause::Failed(format!("{reason}; no previous spec to roll back to")) }
            }
            (_, OnFailure::Pause, _) => Stage::Paused { reason: Pause::Failed(reason) },
        };
        Transition { message: self.stage.reason(), fresh_start: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(h: &str) -> ConfigHash {
        ConfigHash::from(h)
    }

    const SETTLED: Progress = Progress { old: 0, self_old: false, settled: true, max_surge: 1, max_unavailable: 0 };
    const ROLLING: Progress = Progress { old: 2, self_old: false, settled: false, max_surge: 1, max_unavailable: 0 };

    /// A group that converged on `old`, then was committed `new`.
    fn committed() -> Rollout {
        let mut r = Rollout::new(hash("old"));
        r.step(Event::Observed(SETTLED)).unwrap();
        r.step(Event::Commit(hash("new"))).unwrap();
        r
    }

    #[test]
    fn a_commit_rolls_and_completes_and_the_new_config_becomes_stable() {
        let mut r = committed();
        assert_eq!((r.current.as_str(), r.stable.as_ref().map(|s| s.as_str())), ("new", Some("old")));
        assert!(r.step(Event::Observed(ROLLING)).unwrap().message.unwrap().starts_with("rolling 2 members"));
        assert_eq!(r.stage, Stage::Rolling);
        assert_eq!(r.step(Event::Observed(Progress { old: 0, ..ROLLING })).unwrap(), Transition::default());
        assert_eq!(r.stage, Stage::Rolling, "waits for the new members to be ready");
        assert!(r.step(Event::Observed(SETTLED)).unwrap().message.unwrap().contains("complete"));
        assert_eq!((r.stage.clone(), r.stable.clone()), (Stage::Steady, Some(hash("new"))));
    }

    #[test]
    fn a_failure_rolls_back_to_the_stable_config_and_a_recommit_is_refused() {
        let mut r = committed();
        r.step(Event::Observed(ROLLING)).unwrap();
        let failure = Event::Failed { failure: "i-1 unhealthy".into(), on_failure: OnFailure::Rollback };
        assert!(r.step(failure).unwrap().message.unwrap().contains("rolling back to config old"));
        assert_eq!(r.current, hash("old"));
        assert!(matches!(r.stage, Stage::RollingBack { .. }));
        assert!(matches!(r.step(Event::Commit(hash("new"))), Err(Refused::RolledBack(_))));
        assert_eq!(r.current, hash("old"), "a refused commit changes nothing");
        r.step(Event::Observed(SETTLED)).unwrap();
        assert_eq!(r.stage, Stage::Steady);
        let retry = r.step(Event::Operator(Control::Resume)).unwrap();
        assert_eq!((r.current.clone(), retry.fresh_start), (hash("new"), Some(hash("new"))));
        assert_eq!(r.failed, None);
    }

    #[test]
    fn a_failed_rollback_pauses_and_pause_without_previous_pauses() {
        let mut r = committed();
        r.step(Event::Observed(ROLLING)).unwrap();
        r.step(Event::Failed { failure: "x".into(), on_failure: OnFailure::Rollback }).unwrap();
        r.step(Event::Failed { failure: "y".into(), on_failure: OnFailure::Rollback }).unwrap();
        assert!(matches!(&r.stage, Stage::Paused { reason: Pause::Failed(why) } if why.starts_with("rollback")));

        let mut fresh = Rollout::new(hash("new"));
        fresh.step(Event::Observed(ROLLING)).unwrap();
        fresh.step(Event::Failed { failure: "x".into(), on_failure: OnFailure::Rollback }).unwrap();
        assert!(matches!(&fresh.stage, Stage::Paused { reason: Pause::Failed(why) } if why.contains("no previous")));
        assert_eq!(fresh.current, hash("new"));
    }

    #[test]
    fn operator_controls_and_their_refusals() {
        let mut r = committed();
        assert_eq!(r.step(Event::Operator(Control::Abort)), Err(Refused::NoRollout));
        assert_eq!(r.step(Event::Operator(Control::Resume)), Err(Refused::NotPaused));
        r.step(Event::Observed(ROLLING)).unwrap();
        r.step(Event::Operator(Control::Pause)).unwrap();
        assert_eq!(r.stage.surge(), Surge::Keep);
        assert_eq!(r.step(Event::Operator(Control::Pause)).unwrap(), Transition::default(), "idempotent");
        r.step(Event::Commit(hash("newer"))).unwrap();
        assert_eq!(r.stage, Stage::Paused { reason: Pause::Operator }, "an operator's pause outlives a commit");
        r.step(Event::Operator(Control::Abort)).unwrap();
        assert_eq!((r.current.clone(), r.failed.clone().map(|f| f.config)), (hash("old"), Some(hash("newer"))));
        assert_eq!(r.step(Event::Operator(Control::Abort)), Err(Refused::AlreadyRollingBack));

        let mut first = Rollout::new(hash("only"));
        first.step(Event::Observed(ROLLING)).unwrap();
        assert_eq!(first.step(Event::Operator(Control::Abort)), Err(Refused::NoPrevious));
    }

    #[test]
    fn a_restart_keeps_the_config_a_rollback_restored() {
        let mut r = Rollout::new(hash("new"));
        let failed = Some(Failed { config: hash("new"), reason: "broken".into() });
        let t = r.restore(Stage::Steady, Some(hash("old")), failed.clone());
        assert!(t.message.unwrap().contains("keeping config old"));
        assert_eq!(r.current, hash("old"));
        let mut other = Rollout::new(hash("newest"));
        assert_eq!(other.restore(Stage::Steady, Some(hash("old")), failed), Transition::default());
        assert_eq!(other.current, hash("newest"));
    }
}
