//! The tags that `label` adds to containers, kept by the plugin: a container's labels are fixed
//! when it is created, so added tags cannot live on the container itself.
//!
//! With a file they outlive the plugin: a restarted plugin describes its containers with the tags
//! it was asked to add, so a group controller that relies on them (adopting an instance, marking
//! one drained) sees no difference. Every change rewrites the file whole and renames it into
//! place, so a crash leaves the old map or the new one, never half of either. Tags are forgotten
//! when their container is removed, by this plugin or by anyone (the engine's `destroy` event),
//! and those of containers removed while the plugin was away when it reconnects to the engine.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use infrakit_spi::instance::InstanceId;
use infrakit_spi::types::Tags;
use infrakit_spi::{Error, Result};

/// Added tags by instance, in memory and, if the plugin has a labels file, on disk.
#[derive(Debug)]
pub struct AddedTags {
    tags: Mutex<HashMap<InstanceId, Tags>>,
    file: Option<PathBuf>,
    /// Held from taking a snapshot to renaming the file, so that the file ends with the newest
    /// map whatever order concurrent writers run in.
    writing: tokio::sync::Mutex<()>,
}

impl AddedTags {
    /// Tags kept in memory only: lost when the plugin stops.
    pub fn in_memory() -> Self {
        Self { tags: Mutex::default(), file: None, writing: tokio::sync::Mutex::new(()) }
    }

    /// Tags kept in `file`, starting from what it holds (nothing, if it does not exist yet). A
    /// file that cannot be read is an error rather than an empty start, which would silently drop
    /// every tag in it on the next write.
    pub fn load(file: PathBuf) -> Result<Self> {
        let tags = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice::<HashMap<InstanceId, Tags>>(&bytes).map_err(|e| {
                Error::invalid(format!(
                    "the docker plugin's labels file {} is not valid: {e}; fix or remove it",
                    file.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(Error::failed(format!("cannot read the labels file {}: {e}", file.display()))),
        };
        Ok(Self { tags: Mutex::new(tags), file: Some(file), writing: tokio::sync::Mutex::new(()) })
    }

    fn tags(&self) -> MutexGuard<'_, HashMap<InstanceId, Tags>> {
        // Writers replace whole entries, so a panic mid-write leaves a usable map.
        self.tags.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tags added to `id`, if any.
    pub fn of(&self, id: &InstanceId) -> Option<Tags> {
        self.tags().get(id).cloned()
    }

    /// Every tag key added to some container: a filter on these keys cannot be left to the
    /// engine, which knows only the containers' own labels.
    pub fn keys(&self) -> HashSet<String> {
        self.tags().values().flat_map(|t| t.keys().cloned()).collect()
    }

    /// Adds `tags` to those of `id`, durably if there is a file.
    pub async fn add(&self, id: &InstanceId, tags: &Tags) -> Result<()> {
        let _writing = self.writing.lock().await;
        self.tags().entry(id.clone()).or_default().extend(tags.clone());
        self.save().await
    }

    /// Forgets the tags of a removed container.
    pub async fn forget(&self, id: &InstanceId) -> Result<()> {
        let _writing = self.writing.lock().await;
        if self.tags().remove(id).is_none() {
            return Ok(());
        }
        self.save().await
    }

    /// Forgets the tags of every container not in `existing` (all the engine has, in any state).
    pub async fn retain(&self, existing: &HashSet<InstanceId>) -> Result<()> {
        let _writing = self.writing.lock().await;
        let changed = {
            let mut tags = self.tags();
            let before = tags.len();
            tags.retain(|id, _| existing.contains(id));
            tags.len() != before
        };
        if !changed {
            return Ok(());
        }
        self.save().await
    }

    /// Writes the map whole to a temporary file beside the real one and renames it into place.
    /// Callers hold `writing`.
    async fn save(&self) -> Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        let sorted: BTreeMap<InstanceId, Tags> = self.tags().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let bytes = serde_json::to_vec_pretty(&sorted)
            .map_err(|e| Error::failed(format!("cannot encode the added tags: {e}")))?;
        write_atomically(file, bytes)
            .await
            .map_err(|e| Error::failed(format!("cannot write the labels file {}: {e}", file.display())))
    }
}

async fn write_atomically(file: &Path, bytes: Vec<u8>) -> std::io::Result<()> {
    let file = file.to_owned();
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = file.with_extension("json.tmp");
        let mut out = std::fs::File::create(&temporary)?;
        std::io::Write::write_all(&mut out, &bytes)?;
        out.sync_all()?;
        std::fs::rename(&temporary, &file)
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[tokio::test]
    async fn added_tags_outlive_the_plugin_and_go_with_their_container() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("docker").join("labels.json");
        let (a, b) = (InstanceId::from("aaaaaaaaaaaa"), InstanceId::from("bbbbbbbbbbbb"));
        let added = AddedTags::load(file.clone()).unwrap();
        added.add(&a, &tags(&[("owner", "ops")])).await.unwrap();
        added.add(&a, &tags(&[("drained", "true")])).await.unwrap();
        added.add(&b, &tags(&[("owner", "dev")])).await.unwrap();
        drop(added);

        let again = AddedTags::load(file.clone()).unwrap();
        assert_eq!(again.of(&a), Some(tags(&[("owner", "ops"), ("drained", "true")])));
        assert_eq!(again.keys(), HashSet::from(["owner".to_owned(), "drained".to_owned()]));
        again.forget(&a).await.unwrap();
        again.retain(&HashSet::new()).await.unwrap();
        assert_eq!(AddedTags::load(file).unwrap().of(&b), None, "b was removed while the plugin was away");
    }

    #[test]
    fn a_damaged_file_is_an_error_not_an_empty_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("labels.json");
        std::fs::write(&file, "{not json").unwrap();
        let error = AddedTags::load(file).unwrap_err().to_string();
        assert!(error.contains("is not valid") && error.contains("fix or remove it"), "{error}");
    }
}
