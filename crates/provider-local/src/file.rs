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

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use infrakit_spi::group::GROUP_TAG;
use infrakit_spi::instance::{
    Description, DestroyContext, InstanceId, InstancePlugin, PROVISION_TOKEN_TAG, Promises, Spec,
};
use infrakit_spi::types::Tags;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha1::{Digest, Sha1};
use tracing::debug;

use crate::atomic_write::{is_temporary, write_atomically};
use crate::blocking::blocking;
use crate::go_json::marshal_indent_flat;
use crate::options::Environment;
use infrakit_spi::error::chain;

/// The original's variable for the folder of instance files.
pub const DIR_ENV: &str = "INFRAKIT_INSTANCE_FILE_DIR";

/// Every instance ID, and so every instance file name, starts with this.
const ID_PREFIX: &str = "instance-";

/// Files larger than this are skipped unread when scanning: an instance file holds one spec, and
/// the default folder is the shared temp dir, where reading someone's huge file would stall
/// every describe.
const MAX_INSTANCE_FILE_BYTES: u64 = 8 * 1024 * 1024;

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
        Self { folder: Arc::new(Folder { dir: options.dir, changes: Mutex::new(()) }) }
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
        let folder = Arc::clone(&self.folder);
        Ok(blocking(move || folder.provision(spec)).await??)
    }

    async fn label(&self, id: &InstanceId, labels: &Tags) -> infrakit_spi::Result<()> {
        let (folder, id, labels) = (Arc::clone(&self.folder), id.clone(), labels.clone());
        Ok(blocking(move || folder.label(&id, &labels)).await??)
    }

    async fn destroy(&self, id: &InstanceId, _context: DestroyContext) -> infrakit_spi::Result<()> {
        let (folder, id) = (Arc::clone(&self.folder), id.clone());
        Ok(blocking(move || folder.destroy(&id)).await??)
    }

    async fn describe_instances(&self, tags: &Tags, properties: bool) -> infrakit_spi::Result<Vec<Description>> {
        let (folder, tags) = (Arc::clone(&self.folder), tags.clone());
        Ok(blocking(move || folder.describe(&tags, properties)).await??)
    }

    async fn promises(&self) -> infrakit_spi::Result<Promises> {
        Ok(Promises { idempotent_provision: true })
    }
}

/// The folder of instance files, and the blocking work on it.
#[derive(Debug)]
struct Folder {
    dir: PathBuf,
    /// Serializes read-modify-write and remove, so that a label racing a destroy cannot write a
    /// destroyed instance back, and two labels cannot lose each other's tags.
    changes: Mutex<()>,
}

impl Folder {
    fn provision(&self, spec: Spec) -> Result<InstanceId, FileError> {
        let id = InstanceId(format!("{ID_PREFIX}{}", instance_number(&spec)));
        // Held from the look to the write, so two calls with one token make one file.
        let _changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        if self.path_of(&id)?.is_file() {
            debug!(%id, "provision asked again: the instance exists");
            return Ok(id);
        }
        let file = InstanceFile {
            description: Description {
                id: id.clone(),
                logical_id: spec.logical_id.clone(),
                tags: spec.tags.clone(),
                properties: None,
            },
            spec,
        };
        fs::create_dir_all(&self.dir).map_err(|source| FileError::Write { path: self.dir.clone(), source })?;
        self.write(&file)?;
        debug!(%id, dir = %self.dir.display(), "provisioned file instance");
        Ok(id)
    }

    fn label(&self, id: &InstanceId, labels: &Tags) -> Result<(), FileError> {
        let _changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.path_of(id)?;
        let mut file = read_instance_file(&path).map_err(|e| match e {
            FileError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                FileError::NotFound(id.clone())
            }
            other => other,
        })?;
        file.description.tags.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.write(&file)
    }

    fn destroy(&self, id: &InstanceId) -> Result<(), FileError> {
        let _changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.path_of(id)?;
        fs::remove_file(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => FileError::NotFound(id.clone()),
            _ => FileError::Remove { path, source },
        })?;
        debug!(%id, "destroyed file instance");
        Ok(())
    }

    fn describe(&self, tags: &Tags, properties: bool) -> Result<Vec<Description>, FileError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            // No folder yet: nothing was ever provisioned here.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(FileError::List { path: self.dir.clone(), source }),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| FileError::List { path: self.dir.clone(), source })?;
            let Some(file) = instance_file_in(&entry) else { continue };
            let InstanceFile { mut description, spec } = file;
            if !tags.iter().all(|(k, v)| description.tags.get(k) == Some(v)) {
                continue;
            }
            if properties {
                description.properties = serde_json::to_value(&spec).ok();
            }
            found.push(description);
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    /// The file of instance `id`, refusing IDs that would reach outside the folder.
    fn path_of(&self, id: &InstanceId) -> Result<PathBuf, FileError> {
        let name = id.as_str();
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(FileError::NotFound(id.clone()));
        }
        Ok(self.dir.join(name))
    }

    fn write(&self, file: &InstanceFile) -> Result<(), FileError> {
        let id = &file.description.id;
        let bytes = marshal_indent_flat(file).map_err(|source| FileError::Encode { id: id.clone(), source })?;
        let path = self.path_of(id)?;
        write_atomically(&path, &bytes).map_err(|source| FileError::Write { path, source })
    }
}

/// A non-negative 63-bit number, as Go's `rand.Int63()`: random, or derived from the group and
/// the provision token when the spec carries one, so that a repeated provision names the same
/// instance.
fn instance_number(spec: &Spec) -> u64 {
    let Some(token) = spec.tags.get(PROVISION_TOKEN_TAG) else {
        return rand::random::<u64>() >> 1;
    };
    let group = spec.tags.get(GROUP_TAG).map_or("", String::as_str);
    let digest = Sha1::new().chain_update(group).chain_update([0]).chain_update(token).finalize();
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes) >> 1
}

/// The instance held by a folder entry, or `None` (with a debug log) when the entry is not an
/// instance file: the wrong name or type, too large, unreadable, not instance JSON, or naming a
/// different instance than its file name says.
fn instance_file_in(entry: &fs::DirEntry) -> Option<InstanceFile> {
    let path = entry.path();
    let name = entry.file_name();
    let name = name.to_str()?;
    if !name.starts_with(ID_PREFIX) || is_temporary(name) {
        return None;
    }
    match entry.metadata() {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_INSTANCE_FILE_BYTES => {}
        Ok(_) => {
            debug!(path = %path.display(), "skipping: not a regular file of instance size");
            return None;
        }
        Err(e) => {
            debug!(path = %path.display(), error = %e, "skipping: cannot stat");
            return None;
        }
    }
    match read_instance_file(&path) {
        Ok(file) if file.description.id.as_str() == name => Some(file),
        Ok(file) => {
            debug!(path = %path.display(), id = %file.description.id, "skipping: file names another instance");
            None
        }
        Err(e) => {
            debug!(error = %chain(&e), "skipping: not an instance file");
            None
        }
    }
}

fn read_instance_file(path: &Path) -> Result<InstanceFile, FileError> {
    let bytes = fs::read(path).map_err(|source| FileError::Read { path: path.to_owned(), source })?;
    serde_json::from_slice(&bytes).map_err(|source| FileError::Corrupt { path: path.to_owned(), source })
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

    #[test]
    fn ids_cannot_escape_the_folder() {
        let folder = Folder { dir: PathBuf::from("/nowhere"), changes: Mutex::new(()) };
        for bad in ["", ".", "..", "../etc/passwd", "a/b"] {
            assert!(matches!(folder.path_of(&InstanceId::from(bad)), Err(FileError::NotFound(_))), "{bad}");
        }
    }
}
