//! The default store: one redb file under `$INFRAKIT_HOME`, crash-safe by construction.
//!
//! redb commits with a checksummed, fsynced root switch: a `kill -9` or a torn write leaves
//! either the previous commit or the new one, never a mix, so a spec whose commit returned is
//! never lost. Each change is one write transaction that appends the version and moves the
//! group's head.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use infrakit_spi::group::{GroupId, GroupSpec};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Change, Fence, Store, StoreError, Version};

/// `(group, version) -> Version` as JSON: every change of every group.
const VERSIONS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("versions");
/// `group -> latest version number`.
const HEADS: TableDefinition<&str, u64> = TableDefinition::new("heads");

/// Specs and their history in a redb file.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    path: PathBuf,
}

impl EmbeddedStore {
    /// Opens the store at `path`, creating it if missing. Only one process can hold it open.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| backend(path, e))?;
        }
        let db = Database::create(path).map_err(|e| backend(path, e))?;
        let store = Self { db: Arc::new(db), path: path.to_owned() };
        // Tables are created up front so that readers never meet a missing one.
        let txn = store.db.begin_write().map_err(|e| store.fail(e))?;
        txn.open_table(VERSIONS).map_err(|e| store.fail(e))?;
        txn.open_table(HEADS).map_err(|e| store.fail(e))?;
        txn.commit().map_err(|e| store.fail(e))?;
        Ok(store)
    }

    fn fail(&self, e: impl std::fmt::Display) -> StoreError {
        backend(&self.path, e)
    }

    /// Runs blocking redb work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&EmbeddedStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store)).await.map_err(|e| self.fail(e))?
    }

    fn read_specs(&self) -> Result<Vec<GroupSpec>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let heads = txn.open_table(HEADS).map_err(|e| self.fail(e))?;
        let versions = txn.open_table(VERSIONS).map_err(|e| self.fail(e))?;
        let mut specs = Vec::new();
        for head in heads.iter().map_err(|e| self.fail(e))? {
            let (id, number) = head.map_err(|e| self.fail(e))?;
            let key = (id.value(), number.value());
            let Some(bytes) = versions.get(key).map_err(|e| self.fail(e))? else {
                return Err(corrupt(key, "the head names a missing version"));
            };
            if let Some(spec) = decode(key, bytes.value())?.change.spec() {
                specs.push(spec.clone());
            }
        }
        Ok(specs)
    }

    fn read_history(&self, id: &str) -> Result<Vec<Version>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let versions = txn.open_table(VERSIONS).map_err(|e| self.fail(e))?;
        let mut history = Vec::new();
        for entry in versions.range((id, 0)..=(id, u64::MAX)).map_err(|e| self.fail(e))? {
            let (key, bytes) = entry.map_err(|e| self.fail(e))?;
            history.push(decode(key.value(), bytes.value())?);
        }
        Ok(history)
    }

    fn append(&self, id: &str, change: Change) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        let number = {
            let mut heads = txn.open_table(HEADS).map_err(|e| self.fail(e))?;
            let number = heads.get(id).map_err(|e| self.fail(e))?.map_or(0, |n| n.value()) + 1;
            let version = Version { number, time: SystemTime::now(), change };
            let bytes = serde_json::to_vec(&version).map_err(|e| self.fail(e))?;
            txn.open_table(VERSIONS)
                .map_err(|e| self.fail(e))?
                .insert((id, number), bytes.as_slice())
                .map_err(|e| self.fail(e))?;
            heads.insert(id, number).map_err(|e| self.fail(e))?;
            number
        };
        txn.commit().map_err(|e| self.fail(e))?;
        Ok(number)
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn specs(&self) -> Result<Vec<GroupSpec>, StoreError> {
        self.blocking(|store| store.read_specs()).await
    }

    async fn history(&self, id: &GroupId) -> Result<Vec<Version>, StoreError> {
        let id = id.0.clone();
        self.blocking(move |store| store.read_history(&id)).await
    }

    async fn record(&self, id: &GroupId, change: Change, _fence: Fence) -> Result<u64, StoreError> {
        let id = id.0.clone();
        self.blocking(move |store| store.append(&id, change)).await
    }
}

fn backend(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend { location: path.display().to_string(), reason: e.to_string() }
}

fn corrupt((id, number): (&str, u64), reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { key: format!("{id} version {number}"), reason: reason.to_string() }
}

fn decode(key: (&str, u64), bytes: &[u8]) -> Result<Version, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(key, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(id: &str, size: u64) -> GroupSpec {
        GroupSpec { id: GroupId(id.into()), properties: Some(json!({"Allocation": {"Size": size}})) }
    }

    #[tokio::test]
    async fn versions_accumulate_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("specs.redb");
        let web = GroupId("web".into());
        {
            let store = EmbeddedStore::open(&path).unwrap();
            assert_eq!(store.record(&web, Change::Commit { spec: spec("web", 1) }, Fence(0)).await.unwrap(), 1);
            assert_eq!(store.record(&web, Change::Scale { spec: spec("web", 3) }, Fence(0)).await.unwrap(), 2);
            let db = GroupId("db".into());
            store.record(&db, Change::Commit { spec: spec("db", 2) }, Fence(0)).await.unwrap();
            store.record(&db, Change::Free, Fence(0)).await.unwrap();
        }
        let store = EmbeddedStore::open(&path).unwrap();
        assert_eq!(store.specs().await.unwrap(), vec![spec("web", 3)]);
        let history = store.history(&web).await.unwrap();
        assert_eq!(history.iter().map(|v| v.number).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(history[0].change, Change::Commit { spec: spec("web", 1) });
        assert_eq!(store.spec(&GroupId("db".into())).await.unwrap(), None);
        assert_eq!(store.history(&GroupId("none".into())).await.unwrap(), vec![]);
    }

    #[test]
    fn a_second_opener_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("specs.redb");
        let _first = EmbeddedStore::open(&path).unwrap();
        assert!(matches!(EmbeddedStore::open(&path), Err(StoreError::Backend { .. })));
    }
}
