//! The playbooks a user added, by name: `$INFRAKIT_HOME/playbooks.yml`, the original's file,
//! `NAME: {Source: URL}`.
//!
//! A local source is kept as an absolute path, so that the playbook works from any folder. The
//! file is replaced whole (written aside, then renamed), so a crash never leaves half of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// The file's name in InfraKit's home.
pub const FILE_NAME: &str = "playbooks.yml";

/// A playbook: its name and its index's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playbook {
    /// The name it is called by: `infrakit NAME COMMAND`.
    pub name: String,
    /// The URL of its index.
    pub source: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    #[serde(rename = "Source")]
    source: String,
}

/// The playbooks file.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The playbooks file at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The playbooks file of InfraKit's home `home`.
    pub fn in_home(home: &Path) -> Self {
        Self::at(home.join(FILE_NAME))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every playbook, by name.
    pub fn list(&self) -> Result<Vec<Playbook>, Error> {
        Ok(self.read()?.into_iter().map(|(name, r)| Playbook { name, source: r.source }).collect())
    }

    /// The playbook called `name`, if there is one.
    pub fn get(&self, name: &str) -> Result<Option<Playbook>, Error> {
        Ok(self.list()?.into_iter().find(|p| p.name == name))
    }

    /// Records a playbook; a name already taken is refused, nothing changed.
    pub fn add(&self, name: &str, source: &str) -> Result<Playbook, Error> {
        if name.is_empty() || name.starts_with('-') || name.contains(char::is_whitespace) {
            return Err(Error::Invalid(format!("'{name}' cannot name a playbook: it is a word used as a command")));
        }
        let mut records = self.read()?;
        if let Some(existing) = records.get(name) {
            return Err(Error::Invalid(format!(
                "a playbook named {name} exists (from {}); remove it first with `infrakit playbook rm {name}`",
                existing.source
            )));
        }
        let source = absolute(source);
        records.insert(name.to_owned(), Record { source: source.clone() });
        self.write(&records)?;
        Ok(Playbook { name: name.to_owned(), source })
    }

    /// Forgets the playbook `name`.
    pub fn remove(&self, name: &str) -> Result<Playbook, Error> {
        let mut records = self.read()?;
        let record = records.remove(name).ok_or_else(|| Error::NotFound(format!("no playbook named {name}")))?;
        self.write(&records)?;
        Ok(Playbook { name: name.to_owned(), source: record.source })
    }

    fn read(&self) -> Result<BTreeMap<String, Record>, Error> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => return Err(Error::Io { path: self.path.display().to_string(), source }),
        };
        if text.trim().is_empty() {
            return Ok(BTreeMap::new());
        }
        serde_saphyr::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", self.path.display())))
    }

    fn write(&self, records: &BTreeMap<String, Record>) -> Result<(), Error> {
        let io = |source| Error::Io { path: self.path.display().to_string(), source };
        let text = serde_saphyr::to_string(records).map_err(|e| Error::Invalid(e.to_string()))?;
        if let Some(folder) = self.path.parent() {
            std::fs::create_dir_all(folder).map_err(io)?;
        }
        let aside = self.path.with_extension("yml.new");
        std::fs::write(&aside, text).map_err(io)?;
        std::fs::rename(&aside, &self.path).map_err(io)
    }
}

/// A local path made absolute; URLs as given.
fn absolute(source: &str) -> String {
    if source.contains("://") {
        return source.to_owned();
    }
    std::path::absolute(source).map_or_else(|_| source.to_owned(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playbooks_are_added_listed_and_removed() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::in_home(home.path());
        assert!(store.list().unwrap().is_empty(), "no file is no playbook");
        store.add("demo", "https://example.com/pb/index.ikb").unwrap();
        let local = store.add("local", "pb/index.ikb").unwrap();
        assert!(Path::new(&local.source).is_absolute(), "{}", local.source);
        let names: Vec<_> = store.list().unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["demo", "local"]);
        let error = store.add("demo", "other").unwrap_err().to_string();
        assert!(error.contains("exists"), "{error}");
        assert_eq!(store.get("demo").unwrap().unwrap().source, "https://example.com/pb/index.ikb");
        store.remove("demo").unwrap();
        assert!(store.get("demo").unwrap().is_none());
        assert!(matches!(store.remove("demo"), Err(Error::NotFound(_))));
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("local:") && text.contains("Source:"), "the original's layout: {text}");
    }
}
