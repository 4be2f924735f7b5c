//! The `file` instance plugin: each instance is one JSON file in a folder.
//!
//! It is the original's simplest plugin and the e2e tests' favourite: provisioning writes
//! `<Dir>/instance-<n>`, destroying removes it, and deleting a file by hand is an instance dying.
//! Files are written exactly as the original writes them (Go's `json.MarshalIndent(v, "", "")`
//! of `{"ID","LogicalID","Tags","Spec"}`), so either implementation can read the other's folder.
//!
//! Only regular files named `instance-*` are candidates when the folder is scanned: the default
//! folder is the OS temp dir, shared with everything else on the machine, and every ID this
//! plugin (or the original) hands out has that prefix.
//!
//! Provisions are idempotent (see [`Promises`]): a spec that carries a provision token gets an ID
//! derived from its group and token, so asking again finds the file the first call wrote.
//!
//! Where the folder can be watched (Linux), a removed file is pushed to listeners as a dead
//! instance at once ([`InstancePlugin::changes`]), and a describe reads only the files that
//! changed since the last one.
//!
//! # Layout
//! - [`folder`]: the blocking work on the folder.
//! - [`index`]: the files as last read.
//! - [`watch`]: the folder's changes, pushed.

mod folder;
mod index;
mod watch;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use infrakit_spi::changes::ChangeStream;
use infrakit_spi::error::chain;
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, Promises, Spec};
use infrakit_spi::types::Tags;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::blocking::blocking;
use crate::options::Environment;
use folder::Folder;

/// The original's variable for the folder of instance files.
pub const DIR_ENV: &str = "INFRAKIT_INSTANCE_FILE_DIR";

/// Every instance ID, and so every instance file name, starts with this.
pub(crate) const ID_PREFIX: &str = "instance-";

/// Files larger than this are skipped unread when scanning: an instance file holds one spec, and
/// the default folder is the shared temp dir, where reading someone's huge file would stall
/// every describe.
pub(crate) const MAX_INSTANCE_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Options of the `file` plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FileOptions {
    /// The folder of instance files; created on the first provision if missing.
    pub dir: PathBuf,
}

impl Default for FileOptions {
    /// The OS temp dir, as the original's default.
    fn default() -> Self {
        Self { dir: std::env::temp_dir() }
    }
}

impl FileOptions {
    /// The defaults with `INFRAKIT_INSTANCE_FILE_DIR` applied.
    pub fn from_env() -> Self {
        Self::from_environment(&Environment::process())
    }

    /// The defaults with `INFRAKIT_INSTANCE_FILE_DIR` from `env` applied.
    pub fn from_environment(env: &Environment<'_>) -> Self {
        env.get(DIR_ENV).map(|dir| Self { dir: dir.into() }).unwrap_or_default()
    }
}

/// The content of an instance file: the description's fields inline, then the spec.
#[derive(Debug, Serialize, Deserialize)]
struct InstanceFile {
    #[serde(flatten)]
    description: Description,
    #[serde(rename = "Spec")]
    spec: Spec,
}

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("instance {0} not found")]
    NotFound(InstanceId),
    #[error("cannot read {}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is not a valid instance file", .path.display())]
    Corrupt { path: PathBuf, source: serde_json::Error },
    #[error("cannot encode instance {id}")]
    Encode { id: InstanceId, source: serde_json::Error },
    #[error("cannot write {}", .path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot remove {}", .path.display())]
    Remove { path: PathBuf, source: io::Error },
    #[error("cannot list {}", .path.display())]
    List { path: PathBuf, source: io::Error },
}

impl From<FileError> for infrakit_spi::Error {
    fn from(error: FileError) -> Self {
        match error {
            FileError::NotFound(_) => Self::not_found(chain(&error)),
            _ => Self::failed(chain(&error)),
        }
    }
}

/// The `file` instance plugin.
#[derive(Debug, Clone)]
pub struct FilePlugin {
    folder: Arc<Folder>,
}

impl FilePlugin {
    /// A plugin over the folder the options name. Nothing is touched until the first call.
    pub fn new(options: FileOptions) -> Self {
        Self { folder: Arc::new(Folder::new(options.dir)) }
    }

    /// Starts watching the folder once it exists.
    fn watch(&self) {
        watch::ensure(&self.folder);
    }

    /// Runs `work` on the folder: on tokio's blocking pool, or right here when the folder is in
    /// memory (tmpfs), where file operations take microseconds and never wait for a disk, and
    /// handing them to another thread would cost more than doing them.
    async fn on_folder<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Folder) -> T + Send + 'static,
    ) -> Result<T, crate::blocking::TaskFailed> {
        if self.folder.in_memory() {
            return Ok(work(&self.folder));
        }
        let folder = Arc::clone(&self.folder);
        blocking(move || work(&folder)).await
    }
}

#[async_trait]
impl InstancePlugin for FilePlugin {
    async fn validate(&self, properties: Option<&Value>) -> infrakit_spi::Result<()> {
        match properties {
            None | Some(Value::Null | Value::Object(_)) => Ok(()),
            Some(other) => Err(infrakit_spi::Error::invalid(format!(
                "file instance properties must be a JSON object, not {}",
                json_kind(other)
            ))),
        }
    }

    async fn provision(&self, spec: Spec) -> infrakit_spi::Result<InstanceId> {
        let id = self.on_folder(move |folder| folder.provision(spec)).await??;
        self.watch();
        Ok(id)
    }

    async fn label(&self, id: &InstanceId, labels: &Tags) -> infrakit_spi::Result<()> {
        let (id, labels) = (id.clone(), labels.clone());
        Ok(self.on_folder(move |folder| folder.label(&id, &labels)).await??)
    }

    async fn destroy(&self, id: &InstanceId, _context: DestroyContext) -> infrakit_spi::Result<()> {
        let id = id.clone();
        Ok(self.on_folder(move |folder| folder.destroy(&id)).await??)
    }

    async fn describe_instances(&self, tags: &Tags, properties: bool) -> infrakit_spi::Result<Vec<Description>> {
        self.watch();
        let tags = tags.clone();
        Ok(self.on_folder(move |folder| folder.describe(&tags, properties)).await??)
    }

    fn changes(&self) -> Option<ChangeStream> {
        Some(self.folder.feed.stream())
    }

    async fn promises(&self) -> infrakit_spi::Result<Promises> {
        Ok(Promises { idempotent_provision: true })
    }
}

/// The JSON type of `value`, for messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn options_default_to_the_temp_dir_and_read_the_originals_variable() {
        let vars = HashMap::from([(DIR_ENV, "/var/lib/instances")]);
        let env = Environment::from_fn(|name| vars.get(name).map(|v| v.to_string()));
        assert_eq!(FileOptions::from_environment(&env).dir, PathBuf::from("/var/lib/instances"));
        let empty = Environment::from_fn(|_| None);
        assert_eq!(FileOptions::from_environment(&empty).dir, std::env::temp_dir());
    }
}
