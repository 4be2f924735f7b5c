//! What the folder held at the last look, so that listing a thousand instances reads only the
//! files that changed since instead of every one of them.
//!
//! An entry is trusted while its file has the inode it was read from: every write of this plugin
//! replaces the file by a rename (a new inode), as do most editors. A file edited in place keeps
//! its inode; the folder's watcher reports such edits and drops the entry. Where nothing
//! watches the folder, no entry is trusted and every describe reads every file (see
//! [`super::folder::Folder::describe`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use infrakit_spi::instance::Description;
use infrakit_spi::types::Tags;
use serde_json::Value;

/// One instance file as read.
#[derive(Debug)]
pub(super) struct Cached {
    /// The description, without properties.
    pub description: Description,
    /// The spec as JSON: the description's properties when they are asked for.
    pub properties: Option<Value>,
}

#[derive(Debug)]
struct Entry {
    inode: u64,
    file: Arc<Cached>,
}

/// The instance files by name.
#[derive(Debug, Default)]
pub(super) struct Index {
    entries: HashMap<String, Entry>,
}

impl Index {
    /// The file `name` as read, if it still has `inode`.
    pub fn get(&self, name: &str, inode: u64) -> Option<Arc<Cached>> {
        self.entries.get(name).filter(|e| e.inode == inode).map(|e| Arc::clone(&e.file))
    }

    /// Remembers the file `name` as read from `inode`.
    pub fn insert(&mut self, name: String, inode: u64, file: Arc<Cached>) {
        self.entries.insert(name, Entry { inode, file });
    }

    /// Forgets the file `name`; returns the tags it had, if it was known.
    pub fn forget(&mut self, name: &str) -> Option<Tags> {
        self.entries.remove(name).map(|e| e.file.description.tags.clone())
    }

    /// Keeps only the files named in `present`.
    pub fn retain(&mut self, present: &HashSet<&str>) {
        self.entries.retain(|name, _| present.contains(name.as_str()));
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(id: &str) -> Arc<Cached> {
        let mut description = Description { id: id.into(), ..Description::default() };
        description.tags.insert("t".into(), "v".into());
        Arc::new(Cached { description, properties: None })
    }

    #[test]
    fn an_entry_holds_only_for_its_inode() {
        let mut index = Index::default();
        index.insert("instance-1".into(), 7, cached("instance-1"));
        assert!(index.get("instance-1", 7).is_some());
        assert!(index.get("instance-1", 8).is_none(), "the file was replaced");
        assert_eq!(index.forget("instance-1").map(|t| t["t"].clone()), Some("v".to_owned()));
        assert!(index.get("instance-1", 7).is_none());
        index.insert("instance-2".into(), 1, cached("instance-2"));
        index.insert("instance-3".into(), 1, cached("instance-3"));
        index.retain(&HashSet::from(["instance-3"]));
        assert!(index.get("instance-2", 1).is_none() && index.get("instance-3", 1).is_some());
    }
}
