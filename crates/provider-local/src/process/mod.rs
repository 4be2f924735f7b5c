//! The `process` instance plugin: each instance is a local OS process, the quick start's
//! backend.
//!
//! Provision runs the spec's `Init` (if any) with `sh -c`, then starts the program the
//! properties name ([`ProcessProperties`]) in a process group of its own, output to a log file.
//! The state folder keeps one record per instance (see `state`), so the plugin holds no state of
//! its own: a new plugin value over the same folder, say after a restart, sees and destroys the
//! processes an earlier one started.
//!
//! An instance is alive while its recorded process is: the pid exists, is not a zombie, and has
//! the recorded start time (see `identity`). Describe drops the records of dead processes but
//! keeps their logs, which say why they died; destroy removes both.
//!
//! # Layout
//! - [`properties`]: what an instance runs.
//! - `state`: records and logs in the state folder.
//! - `identity`: whether a recorded process is still ours.
//! - `launch`: running Init and starting the program.
//! - `stop`: SIGTERM, grace, SIGKILL.
//! - `error`: what fails, and what the caller is told.

mod error;
mod identity;
mod launch;
pub mod properties;
mod state;
mod stop;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use infrakit_spi::changes::{ChangeFeed, ChangeKind, ChangeStream, InstanceChange};
use infrakit_spi::duration::GoDuration;
use infrakit_spi::group::GROUP_TAG;
use infrakit_spi::home::{self, HOME_ENV};
use infrakit_spi::instance::{
    Description, DestroyContext, InstanceId, InstancePlugin, PROVISION_TOKEN_TAG, Promises, Spec,
};
use infrakit_spi::types::Tags;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::process::Child;
use tracing::{debug, info, warn};

use crate::blocking::{TaskFailed, blocking};
use crate::options::Environment;
use error::ProcessError;
use identity::Liveness;
use infrakit_spi::error::chain;
use state::{Record, StateDir};
use stop::Stopped;

pub use properties::{InvalidProperties, ProcessProperties};

/// How long a destroyed process has to exit after SIGTERM before it is killed: long enough for
/// a server to finish its requests and flush, as `docker stop` allows.
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// How long Init may run before the provision fails: room for a package install, and a bound
/// on how long a hung script holds a provision.
const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Options of the `process` plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProcessOptions {
    /// The state folder: records and logs. Created on the first provision.
    pub dir: PathBuf,
    /// How long a destroyed process has to exit after SIGTERM before SIGKILL.
    pub stop_grace: GoDuration,
    /// How long the spec's Init may run.
    pub init_timeout: GoDuration,
}

impl Default for ProcessOptions {
    /// The state folder the process environment points at (see [`ProcessOptions::from_env`]).
    fn default() -> Self {
        Self::from_env()
    }
}

impl ProcessOptions {
    /// The defaults: the state folder is the `process` folder of InfraKit's home
    /// (`$INFRAKIT_HOME`, else `~/.infrakit`; see [`infrakit_spi::home`]).
    pub fn from_env() -> Self {
        Self::from_environment(&Environment::process())
    }

    /// The defaults, reading `INFRAKIT_HOME` and `HOME` from `env`.
    pub fn from_environment(env: &Environment<'_>) -> Self {
        let (infrakit_home, user_home) = (env.get(HOME_ENV), env.get("HOME"));
        let dir = home::resolve(infrakit_home.as_deref().map(OsStr::new), user_home.as_deref().map(Path::new))
            .join("process");
        Self { dir, stop_grace: DEFAULT_STOP_GRACE.into(), init_timeout: DEFAULT_INIT_TIMEOUT.into() }
    }
}

/// The `process` instance plugin.
#[derive(Debug, Clone)]
pub struct ProcessPlugin {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: StateDir,
    stop_grace: Duration,
    init_timeout: Duration,
    /// Serializes the read-check-write of records (label, describe's clean-up, destroy's
    /// removal), so that a label cannot write back a record that was just removed.
    records: Mutex<()>,
    /// One turn per provision token in progress, so that a provision asked for again while the
    /// first is still running (Init can take minutes) waits for it and finds its instance.
    tokens: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Instances being destroyed: their exit is this plugin's doing, not a death to report.
    stopping: Mutex<HashSet<InstanceId>>,
    /// Deaths of the processes this plugin started, pushed to listeners as they happen.
    feed: ChangeFeed,
}

impl ProcessPlugin {
    /// A plugin over the options' state folder. Nothing is touched until the first call.
    pub fn new(options: ProcessOptions) -> Self {
        let inner = Inner {
            state: StateDir::new(options.dir),
            stop_grace: options.stop_grace.0,
            init_timeout: options.init_timeout.0,
            records: Mutex::new(()),
            tokens: Mutex::default(),
            stopping: Mutex::default(),
            feed: ChangeFeed::new(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Where instance `id`'s output goes.
    pub fn log_path(&self, id: &InstanceId) -> PathBuf {
        self.inner.state.log_path(id)
    }
}

#[async_trait]
impl InstancePlugin for ProcessPlugin {
    async fn validate(&self, properties: Option<&Value>) -> infrakit_spi::Result<()> {
        ProcessProperties::from_properties(properties)
            .map(drop)
            .map_err(|e| infrakit_spi::Error::invalid(e.to_string()))
    }

    async fn provision(&self, spec: Spec) -> infrakit_spi::Result<InstanceId> {
        // A task of its own, so that a caller giving up half-way cannot leave a process running
        // without a record: once started, a provision runs to the end.
        let inner = Arc::clone(&self.inner);
        let provision = tokio::spawn(async move { inner.provision_once(spec).await });
        Ok(provision.await.map_err(TaskFailed::from)??)
    }

    /// A spec with a provision token already carried by a live process of its group gets that
    /// process; a repeat arriving while the first call runs waits for it.
    async fn promises(&self) -> infrakit_spi::Result<Promises> {
        Ok(Promises { idempotent_provision: true })
    }

    async fn label(&self, id: &InstanceId, labels: &Tags) -> infrakit_spi::Result<()> {
        let (inner, id, labels) = (Arc::clone(&self.inner), id.clone(), labels.clone());
        Ok(blocking(move || inner.label(&id, &labels)).await??)
    }

    async fn destroy(&self, id: &InstanceId, _context: DestroyContext) -> infrakit_spi::Result<()> {
        Ok(Arc::clone(&self.inner).destroy(id.clone()).await?)
    }

    async fn describe_instances(&self, tags: &Tags, properties: bool) -> infrakit_spi::Result<Vec<Description>> {
        let (inner, tags) = (Arc::clone(&self.inner), tags.clone());
        Ok(blocking(move || inner.describe(&tags, properties)).await??)
    }

    /// The exits of the processes this plugin started in this run, as they happen. Processes
    /// adopted from an earlier run are not its children: their deaths are seen by listing.
    fn changes(&self) -> Option<ChangeStream> {
        Some(self.inner.feed.stream())
    }
}

impl Inner {
    /// Provisions, unless the spec's provision token already made a live process of its group.
    async fn provision_once(self: Arc<Self>, spec: Spec) -> Result<InstanceId, ProcessError> {
        let Some(token) = spec.tags.get(PROVISION_TOKEN_TAG).cloned() else {
            return self.provision(spec).await;
        };
        let mut made_by = Tags::from([(PROVISION_TOKEN_TAG.to_owned(), token)]);
        made_by.extend(spec.tags.get(GROUP_TAG).map(|group| (GROUP_TAG.to_owned(), group.clone())));
        let key = serde_json::to_string(&made_by).unwrap_or_default();
        let turn = self.lock_tokens().entry(key.clone()).or_default().clone();
        let provisioned = {
            let _turn = turn.lock().await;
            let inner = Arc::clone(&self);
            let earlier = blocking(move || inner.describe(&made_by, false)).await??;
            match earlier.into_iter().next() {
                Some(made) => {
                    debug!(id = %made.id, "provision asked again: the instance exists");
                    Ok(made.id)
                }
                None => self.provision(spec).await,
            }
        };
        // A later repeat finds the record, so the turn is kept only while a repeat waits for it
        // (turns are cloned only under the map's lock, so the count cannot grow meanwhile).
        let mut tokens = self.lock_tokens();
        if Arc::strong_count(&turn) <= 2 {
            tokens.remove(&key);
        }
        drop(tokens);
        provisioned
    }

    fn lock_tokens(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // Entries are inserted and removed whole.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn provision(self: &Arc<Self>, spec: Spec) -> Result<InstanceId, ProcessError> {
        let properties = ProcessProperties::from_properties(spec.properties.as_ref())?;
        let state = self.state.clone();
        let working_dir = properties.dir.clone();
        let (id, log) = blocking(move || {
            if let Some(dir) = working_dir.filter(|dir| !dir.is_dir()) {
                return Err(ProcessError::MissingDir(dir));
            }
            state.reserve()
        })
        .await??;
        match self.launch(&id, &properties, spec, &log).await {
            Ok(()) => Ok(id),
            Err(e) => {
                // Nothing is left behind: no process (launch saw to that), no record, no log.
                let state = self.state.clone();
                let cleanup_id = id.clone();
                if let Err(cleanup) = blocking(move || state.remove_log(&cleanup_id)).await? {
                    warn!(%id, error = %chain(&cleanup), "cannot remove the log of a failed provision");
                }
                Err(e)
            }
        }
    }

    /// Runs Init, starts the program and records it; on failure, no process is left running.
    async fn launch(
        self: &Arc<Self>,
        id: &InstanceId,
        properties: &ProcessProperties,
        spec: Spec,
        log: &std::fs::File,
    ) -> Result<(), ProcessError> {
        let log_path = self.state.log_path(id);
        let properties = &properties.with_identity(id, spec.logical_id.as_ref());
        if !spec.init.trim().is_empty() {
            launch::run_init(&spec.init, properties, log, &log_path, self.init_timeout).await?;
        }
        let (mut child, process) = launch::start(properties, log)?;
        let spec_tags = spec.tags.clone();
        let record =
            Record { id: id.clone(), logical_id: spec.logical_id.clone(), tags: spec.tags.clone(), spec, process };
        let state = self.state.clone();
        let written = blocking(move || state.write(&record)).await.map_err(ProcessError::from).flatten();
        match &written {
            Ok(()) => info!(%id, pid = process.pid, program = %properties.cmd, log = %log_path.display(), "started"),
            // Unrecorded, it could never be listed or destroyed.
            Err(_) => {
                let _ = child.start_kill();
            }
        }
        tokio::spawn(reap(child, id.clone(), spec_tags, Arc::downgrade(self)));
        written
    }

    fn label(&self, id: &InstanceId, labels: &Tags) -> Result<(), ProcessError> {
        let _records = self.lock_records();
        let mut record = self.state.read(id)?.ok_or_else(|| ProcessError::NotFound(id.clone()))?;
        let liveness = record.process.liveness();
        if !liveness.is_running() {
            self.forget(&record, liveness)?;
            return Err(ProcessError::NotFound(id.clone()));
        }
        record.tags.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.state.write(&record)
    }

    async fn destroy(self: Arc<Self>, id: InstanceId) -> Result<(), ProcessError> {
        let state = self.state.clone();
        let lookup_id = id.clone();
        let record =
            blocking(move || state.read(&lookup_id)).await??.ok_or_else(|| ProcessError::NotFound(id.clone()))?;
        self.stopping().insert(id.clone());
        let stopped = stop::stop(record.process, self.stop_grace).await;
        if stopped.is_err() {
            self.stopping().remove(&id);
        }
        let stopped = stopped?;
        debug!(%id, pid = record.process.pid, ?stopped, "stopped process instance");
        if let Stopped::AlreadyGone(Liveness::PidReused) = stopped {
            warn!(%id, pid = record.process.pid, "the recorded pid belongs to another process now; it was left alone");
        }
        blocking(move || self.remove(&id)).await?
    }

    /// Removes an instance's record and log, once its process is gone.
    fn remove(&self, id: &InstanceId) -> Result<(), ProcessError> {
        let _records = self.lock_records();
        self.state.remove_record(id)?;
        self.state.remove_log(id)
    }

    fn describe(&self, tags: &Tags, properties: bool) -> Result<Vec<Description>, ProcessError> {
        let _records = self.lock_records();
        let mut found = Vec::new();
        for record in self.state.records()? {
            let liveness = record.process.liveness();
            if !liveness.is_running() {
                self.forget(&record, liveness)?;
            } else if tags.iter().all(|(k, v)| record.tags.get(k) == Some(v)) {
                found.push(record.describe(properties));
            }
        }
        Ok(found)
    }

    /// Drops the record of a process that is no longer running; its log stays for post-mortems.
    fn forget(&self, record: &Record, liveness: Liveness) -> Result<(), ProcessError> {
        let log = self.state.log_path(&record.id);
        info!(id = %record.id, pid = record.process.pid, ?liveness, log = %log.display(), "process instance is gone");
        self.state.remove_record(&record.id)
    }

    fn lock_records(&self) -> MutexGuard<'_, ()> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopping(&self) -> MutexGuard<'_, HashSet<InstanceId>> {
        // Only whole inserts and removals happen under the lock.
        self.stopping.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Waits for a child the plugin started, so that it never lingers as a zombie, and reports its
/// death unless the plugin was stopping it.
async fn reap(mut child: Child, id: InstanceId, tags: Tags, plugin: std::sync::Weak<Inner>) {
    match child.wait().await {
        Ok(status) => info!(%id, %status, "process instance exited"),
        Err(e) => return warn!(%id, error = %e, "cannot wait for a process instance"),
    }
    let Some(plugin) = plugin.upgrade() else { return };
    if !plugin.stopping().remove(&id) {
        plugin.feed.publish(InstanceChange { id, tags, kind: ChangeKind::Gone });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_state_folder_follows_infrakit_home_then_home() {
        let vars = HashMap::from([(HOME_ENV, "/srv/infrakit"), ("HOME", "/home/me")]);
        let env = Environment::from_fn(|name| vars.get(name).map(|v| v.to_string()));
        assert_eq!(ProcessOptions::from_environment(&env).dir, PathBuf::from("/srv/infrakit/process"));
        let env = Environment::from_fn(|name| (name == "HOME").then(|| "/home/me".to_owned()));
        let options = ProcessOptions::from_environment(&env);
        assert_eq!(options.dir, PathBuf::from("/home/me/.infrakit/process"));
        assert_eq!((options.stop_grace.0, options.init_timeout.0), (DEFAULT_STOP_GRACE, DEFAULT_INIT_TIMEOUT));
    }

    #[test]
    fn an_options_document_names_pascal_case_keys() {
        let options: ProcessOptions =
            serde_json::from_value(serde_json::json!({"Dir": "/var/lib/p", "StopGrace": "2s"})).unwrap();
        assert_eq!(options.dir, PathBuf::from("/var/lib/p"));
        assert_eq!(options.stop_grace.0, Duration::from_secs(2));
        assert_eq!(options.init_timeout.0, DEFAULT_INIT_TIMEOUT);
    }
}
