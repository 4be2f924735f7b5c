//! Execution: the only place where a plan touches the world. Each action runs as its own task,
//! at most `MaxParallel` at once, and reports one [`Outcome`]; the group's task applies outcomes
//! to its memory between passes. Execution makes no choices: tokens, logical IDs and victims
//! were all decided.

use std::sync::Arc;

use infrakit_spi::group::{CONFIG_HASH_TAG, ConfigHash, GROUP_TAG, Index};
use infrakit_spi::instance::{DestroyContext, DestroyReason, InstanceId, LOGICAL_ID_TAG, ProvisionToken, Spec};
use infrakit_spi::types::Tags;
use infrakit_spi::{Error, Result};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::model::PROVISION_TOKEN_TAG;
use crate::plan::Action;
use crate::target::Target;

/// What an action came to.
#[derive(Debug)]
pub enum Outcome {
    /// A provision returned.
    Provisioned {
        /// Its token.
        token: ProvisionToken,
        /// The new instance, or why not.
        result: Result<InstanceId>,
    },
    /// A destroy returned.
    Destroyed {
        /// The instance.
        id: InstanceId,
        /// Whether it worked.
        result: Result<()>,
    },
    /// A drain of the controller's own instance returned.
    Drained {
        /// The instance.
        id: InstanceId,
        /// Whether it worked.
        result: Result<()>,
    },
    /// A bootstrap adoption returned.
    Adopted {
        /// The instance.
        id: InstanceId,
        /// Whether it worked.
        result: Result<()>,
    },
}

/// Runs actions as tasks, bounded by a semaphore.
pub struct Executor {
    tasks: JoinSet<Outcome>,
    permits: Option<Arc<Semaphore>>,
    limit: u64,
}

impl Executor {
    /// An executor running at most `max_parallel` actions at once; 0 is no limit.
    pub fn new(max_parallel: u64) -> Self {
        Self { tasks: JoinSet::new(), permits: Self::semaphore(max_parallel), limit: max_parallel }
    }

    fn semaphore(max_parallel: u64) -> Option<Arc<Semaphore>> {
        (max_parallel > 0).then(|| Arc::new(Semaphore::new(max_parallel.min(Semaphore::MAX_PERMITS as u64) as usize)))
    }

    /// Changes the bound for actions started from now on.
    pub fn set_limit(&mut self, max_parallel: u64) {
        if max_parallel != self.limit {
            self.limit = max_parallel;
            self.permits = Self::semaphore(max_parallel);
        }
    }

    /// Starts an action against `target`.
    pub fn run(&mut self, action: Action, target: Arc<Target>) {
        let permits = self.permits.clone();
        self.tasks.spawn(async move {
            // Closed semaphores do not exist here; without a permit the action still runs.
            let _permit = match permits {
                Some(semaphore) => semaphore.acquire_owned().await.ok(),
                None => None,
            };
            perform(action, &target).await
        });
    }

    /// The next outcome, or `None` when nothing runs.
    pub async fn next(&mut self) -> Option<Outcome> {
        loop {
            match self.tasks.join_next().await? {
                Ok(outcome) => return Some(outcome),
                // A task only ends without an outcome when aborted, and then nobody waits for it.
                Err(_) => continue,
            }
        }
    }

    /// True when no action runs.
    pub fn is_idle(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Abandons every running action.
    pub fn abort(&mut self) {
        self.tasks.abort_all();
    }
}

async fn perform(action: Action, target: &Target) -> Outcome {
    match action {
        Action::Provision { token, sequence, logical_id, config } => {
            let result = provision(target, &token, sequence, logical_id, config).await;
            Outcome::Provisioned { token, result }
        }
        Action::Destroy { instance, reason, drain } => {
            let config = &target.config;
            let drained = match drain {
                true => config.flavor.drain(config.flavor_properties(), &instance).await,
                false => Ok(()),
            };
            let result = match (drained, reason) {
                // A rolling update stops at a member that cannot be drained, as the original.
                (Err(e), DestroyReason::RollingUpdate) => {
                    Err(Error::failed(format!("cannot drain {}: {e}", instance.id)))
                }
                (Err(e), DestroyReason::Terminate) => {
                    tracing::warn!(instance = %instance.id, error = %e, "drain failed; destroying anyway");
                    destroy(target, &instance.id, reason).await
                }
                (Ok(()), _) => destroy(target, &instance.id, reason).await,
            };
            Outcome::Destroyed { id: instance.id, result }
        }
        Action::Drain { instance } => {
            let result = target.config.flavor.drain(target.config.flavor_properties(), &instance).await;
            Outcome::Drained { id: instance.id, result }
        }
        Action::Adopt { instance } => {
            let labels = Tags::from([
                (GROUP_TAG.to_owned(), target.id().to_string()),
                (CONFIG_HASH_TAG.to_owned(), target.hash().to_string()),
            ]);
            let result = target.config.instance.label(&instance, &labels).await;
            Outcome::Adopted { id: instance, result }
        }
    }
}

async fn destroy(target: &Target, id: &InstanceId, reason: DestroyReason) -> Result<()> {
    target
        .config
        .instance
        .destroy(id, DestroyContext { reason })
        .await
        .map_err(|e| Error::failed(format!("cannot destroy {id}: {e}")))
}

async fn provision(
    target: &Target,
    token: &ProvisionToken,
    sequence: u64,
    logical_id: Option<infrakit_spi::instance::LogicalId>,
    config: ConfigHash,
) -> Result<InstanceId> {
    let mut identity = Tags::from([
        (GROUP_TAG.to_owned(), target.id().to_string()),
        (CONFIG_HASH_TAG.to_owned(), config.0),
        (PROVISION_TOKEN_TAG.to_owned(), token.to_string()),
    ]);
    if let Some(lid) = &logical_id {
        identity.insert(LOGICAL_ID_TAG.to_owned(), lid.to_string());
    }
    let config = &target.config;
    let spec = Spec {
        properties: config.instance_spec.properties.clone(),
        tags: identity.clone(),
        logical_id,
        ..Spec::default()
    };
    let index = Index { group: target.id().clone(), sequence };
    let mut spec = config
        .flavor
        .prepare(config.flavor_properties(), spec, &target.allocation, &index)
        .await
        .map_err(|e| Error::failed(format!("cannot prepare a member: {e}")))?;
    // The flavor adds tags; membership must not depend on it keeping ours.
    spec.tags.extend(identity);
    config.instance.provision(spec).await.map_err(|e| Error::failed(format!("cannot provision a member: {e}")))
}
