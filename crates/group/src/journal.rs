//! The little a group controller must remember across a crash that tags cannot carry.
//!
//! Membership and configs live in instance tags, so a restarted controller re-derives them. Four
//! things do not:
//! - provisions decided but perhaps not listed yet: without them a restart during describe lag
//!   provisions again, and a member is doubled;
//! - destroys decided whose instances may still be listed: without them a restart counts a
//!   destroyed member as in service, and a rollout takes one healthy member too many;
//! - a rollout that was paused or rolled back: without it a restart resumes a rollout that an
//!   operator or a failure stopped;
//! - a config whose provisions keep failing: without it a restart hammers the backend again;
//! - a group being destroyed: without it a crash mid-destroy leaves tagged instances that
//!   nothing removes.
//!
//! A [`JournalEntry`] per group holds exactly that. It is saved before any action of a pass is
//! started, so a crash at any point leaves every started provision and destroy in it.
//!
//! [`MemoryJournal`] forgets on restart (tests, and the original's stateless behaviour);
//! [`FileJournal`] writes one JSON file per group, crash-safe by writing a temporary file,
//! syncing it and renaming it over the old one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use infrakit_spi::group::{ConfigHash, GroupId, GroupSpec};
use infrakit_spi::instance::{DestroyReason, InstanceId, LogicalId, ProvisionToken};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::brakes::{Breaker, backoff};
use crate::memory::{DestroyProgress, Destroying, Intent, Memory, Progress};
use crate::rollout::Stage;
use crate::track::Cause;

/// Why a journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file exists but could not be read.
    #[error("cannot read journal {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be written, synced or renamed into place.
    #[error("cannot write journal {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a journal entry.
    #[error("journal {path} is corrupt")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// A provision that was decided and may not be listed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IntentRecord {
    /// The token tagged on the instance.
    pub token: ProvisionToken,
    /// The member's sequence number.
    pub sequence: u64,
    /// The pet, if any.
    #[serde(rename = "LogicalID", default)]
    pub logical_id: Option<LogicalId>,
    /// The config hash provisioned.
    pub config: ConfigHash,
    /// Why.
    pub cause: Cause,
}

/// A destroy that was decided and whose instance may still be listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestroyRecord {
    /// The instance.
    #[serde(rename = "ID")]
    pub id: InstanceId,
    /// Its pet, if any.
    #[serde(rename = "LogicalID", default)]
    pub logical_id: Option<LogicalId>,
    /// Why it was destroyed.
    pub reason: DestroyReason,
}

/// The crash-loop breaker of one config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BreakerRecord {
    /// The config hash.
    pub config: ConfigHash,
    /// Consecutive failed provisions.
    pub failures: u32,
    /// The last failure.
    pub last_error: String,
}

/// A spec whose rollout failed and was rolled back, so that re-committing it (the manager does
/// on every start) does not roll it out again; resuming the rollout does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailedSpec {
    /// The spec.
    pub spec: GroupSpec,
    /// Why it was rolled back.
    pub reason: String,
}

/// Everything a group's controller must remember across a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JournalEntry {
    /// Provisions not yet listed.
    #[serde(default)]
    pub intents: Vec<IntentRecord>,
    /// Destroys whose instances may still be listed.
    #[serde(default)]
    pub destroys: Vec<DestroyRecord>,
    /// The rollout's stage.
    #[serde(default)]
    pub rollout: Stage,
    /// The last spec the group converged on: what a rollback restores.
    #[serde(default)]
    pub stable: Option<GroupSpec>,
    /// The spec that was rolled back, if the last rollout was.
    #[serde(default)]
    pub failed: Option<FailedSpec>,
    /// Configs whose provisions keep failing.
    #[serde(default)]
    pub breakers: Vec<BreakerRecord>,
    /// The spec of a group being destroyed, so that a restarted controller finishes the destroy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring: Option<GroupSpec>,
}

impl JournalEntry {
    /// The part of `memory` that must survive a restart, with the specs a rollback needs and,
    /// for a group being destroyed, its spec.
    pub fn capture(
        memory: &Memory,
        stable: Option<GroupSpec>,
        failed: Option<FailedSpec>,
        retiring: Option<GroupSpec>,
    ) -> Self {
        Self {
            intents: memory
                .intents
                .iter()
                .map(|i| IntentRecord {
                    token: i.token.clone(),
                    sequence: i.sequence,
                    logical_id: i.logical_id.clone(),
                    config: i.config.clone(),
                    cause: i.cause,
                })
                .collect(),
            destroys: {
                let mut destroys: Vec<DestroyRecord> = memory
                    .destroys
                    .iter()
                    .map(|(id, d)| DestroyRecord { id: id.clone(), logical_id: d.logical_id.clone(), reason: d.reason })
                    .collect();
                destroys.sort_by(|a, b| a.id.cmp(&b.id));
                destroys
            },
            rollout: memory.rollout.stage.clone(),
            stable,
            failed,
            retiring,
            breakers: memory
                .breakers
                .iter()
                .filter_map(|(config, breaker)| match breaker {
                    // A restart forgives a breaker on probation: its probe was listed.
                    Breaker::Closed | Breaker::Probation { .. } => None,
                    Breaker::Open { failures, last_error, .. } => Some(BreakerRecord {
                        config: config.clone(),
                        failures: *failures,
                        last_error: last_error.clone(),
                    }),
                })
                .collect(),
        }
    }

    /// Puts the journaled operations back into a fresh memory. Restored provisions wait a full
    /// visibility timeout from `now`; restored breakers wait their backoff from `now`. The
    /// rollout's configs are the caller's to restore: they must be resolved to plugins first.
    pub fn restore(&self, memory: &mut Memory, now: Instant, max_backoff: std::time::Duration) {
        memory.intents = self
            .intents
            .iter()
            .map(|r| Intent {
                token: r.token.clone(),
                sequence: r.sequence,
                logical_id: r.logical_id.clone(),
                config: r.config.clone(),
                cause: r.cause,
                since: now,
                progress: Progress::Restored,
                quick_deaths: 0,
            })
            .collect();
        memory.destroys = self
            .destroys
            .iter()
            .map(|r| {
                let destroying = Destroying {
                    since: now,
                    reason: r.reason,
                    progress: DestroyProgress::Restored,
                    logical_id: r.logical_id.clone(),
                };
                (r.id.clone(), destroying)
            })
            .collect();
        memory.retiring = self.retiring.is_some();
        memory.breakers = self
            .breakers
            .iter()
            .map(|b| {
                let open = Breaker::Open {
                    failures: b.failures,
                    until: now + backoff(b.failures, max_backoff),
                    last_error: b.last_error.clone(),
                };
                (b.config.clone(), open)
            })
            .collect();
    }
}

/// Where group controllers keep their journal entries.
#[async_trait]
pub trait Journal: Send + Sync {
    /// The group's entry, if one was saved.
    async fn load(&self, group: &GroupId) -> Result<Option<JournalEntry>, JournalError>;

    /// Replaces the group's entry, durably: when this returns, a crash does not lose it.
    async fn save(&self, group: &GroupId, entry: &JournalEntry) -> Result<(), JournalError>;

    /// Forgets the group.
    async fn remove(&self, group: &GroupId) -> Result<(), JournalError>;

    /// Every group with an entry.
    async fn groups(&self) -> Result<Vec<GroupId>, JournalError>;
}

/// A journal in memory: lost on restart, like the original controller's state.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    entries: Mutex<HashMap<GroupId, JournalEntry>>,
}

impl MemoryJournal {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<GroupId, JournalEntry>> {
        // A panic while holding the lock cannot leave a half-written map: inserts are atomic.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    async fn load(&self, group: &GroupId) -> Result<Option<JournalEntry>, JournalError> {
        Ok(self.entries().get(group).cloned())
    }

    async fn save(&self, group: &GroupId, entry: &JournalEntry) -> Result<(), JournalError> {
        self.entries().insert(group.clone(), entry.clone());
        Ok(())
    }

    async fn remove(&self, group: &GroupId) -> Result<(), JournalError> {
        self.entries().remove(group);
        Ok(())
    }

    async fn groups(&self) -> Result<Vec<GroupId>, JournalError> {
        Ok(self.entries().keys().cloned().collect())
    }
}

/// A journal of one JSON file per group in a directory.
#[derive(Debug, Clone)]
pub struct FileJournal {
    dir: PathBuf,
}

impl FileJournal {
    /// A journal in `dir`, created on first save.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file of a group: its ID with anything but `[A-Za-z0-9_-]` percent-encoded, so that
    /// every ID maps to one file name and none escapes the directory.
    fn path(&self, group: &GroupId) -> PathBuf {
        let mut name = String::new();
        for byte in group.as_str().bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => name.push(byte as char),
                _ => name.push_str(&format!("%{byte:02X}")),
            }
        }
        self.dir.join(format!("{name}.json"))
    }

    /// The group whose file this is, if it is one ([`FileJournal::path`] undone).
    fn group_of(file_name: &str) -> Option<GroupId> {
        let encoded = file_name.strip_suffix(".json")?.as_bytes();
        let mut bytes = Vec::with_capacity(encoded.len());
        let mut i = 0;
        while i < encoded.len() {
            match encoded[i] {
                b'%' => {
                    let hex = std::str::from_utf8(encoded.get(i + 1..i + 3)?).ok()?;
                    bytes.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                }
                byte => {
                    bytes.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8(bytes).ok().map(GroupId)
    }
}

#[async_trait]
impl Journal for FileJournal {
    async fn load(&self, group: &GroupId) -> Result<Option<JournalEntry>, JournalError> {
        let path = self.path(group);
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(JournalError::Read { path, source }),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|source| JournalError::Corrupt { path, source })
    }

    async fn save(&self, group: &GroupId, entry: &JournalEntry) -> Result<(), JournalError> {
        let path = self.path(group);
        let write = |source| JournalError::Write { path: path.clone(), source };
        let bytes = serde_json::to_vec_pretty(entry).map_err(|e| write(std::io::Error::other(e)))?;
        tokio::fs::create_dir_all(&self.dir).await.map_err(write)?;
        let temporary = path.with_extension("json.tmp");
        let mut file = tokio::fs::File::create(&temporary).await.map_err(write)?;
        file.write_all(&bytes).await.map_err(write)?;
        file.sync_all().await.map_err(write)?;
        drop(file);
        tokio::fs::rename(&temporary, &path).await.map_err(write)?;
        // The rename is durable once the directory is synced.
        let dir = tokio::fs::File::open(&self.dir).await.map_err(write)?;
        dir.sync_all().await.map_err(write)
    }

    async fn remove(&self, group: &GroupId) -> Result<(), JournalError> {
        let path = self.path(group);
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(JournalError::Write { path, source: e }),
            _ => Ok(()),
        }
    }

    async fn groups(&self) -> Result<Vec<GroupId>, JournalError> {
        let read = |source| JournalError::Read { path: self.dir.clone(), source };
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(read(e)),
        };
        let mut groups = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(read)? {
            if let Some(group) = entry.file_name().to_str().and_then(Self::group_of) {
                groups.push(group);
            }
        }
        groups.sort();
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Pause;

    fn entry() -> JournalEntry {
        JournalEntry {
            intents: vec![IntentRecord {
                token: "t-1".into(),
                sequence: 1,
                logical_id: Some("db-1".into()),
                config: "abc".into(),
                cause: Cause::Heal,
            }],
            destroys: vec![DestroyRecord { id: "i-2".into(), logical_id: None, reason: DestroyReason::RollingUpdate }],
            rollout: Stage::Paused { reason: Pause::Failed("i-4 unhealthy for 1m0s".into()) },
            stable: Some(GroupSpec { id: "g".into(), properties: None }),
            failed: None,
            breakers: vec![BreakerRecord { config: "abc".into(), failures: 2, last_error: "quota".into() }],
            retiring: None,
        }
    }

    #[tokio::test]
    async fn file_journal_round_trips_and_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let journal = FileJournal::new(dir.path().join("journal"));
        let group = GroupId::from("../we/ird");
        assert_eq!(journal.load(&group).await.unwrap(), None);
        journal.save(&group, &entry()).await.unwrap();
        assert_eq!(journal.load(&group).await.unwrap(), Some(entry()));
        let files: Vec<_> =
            std::fs::read_dir(dir.path().join("journal")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files, ["%2E%2E%2Fwe%2Fird.json"], "one file, no temporary left, nothing outside");
        assert_eq!(journal.groups().await.unwrap(), std::slice::from_ref(&group), "and its name gives the group back");
        journal.remove(&group).await.unwrap();
        assert_eq!(journal.load(&group).await.unwrap(), None);
        journal.remove(&group).await.unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_file_is_reported_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let journal = FileJournal::new(dir.path());
        std::fs::write(dir.path().join("g.json"), b"{not json").unwrap();
        let err = journal.load(&"g".into()).await.unwrap_err();
        assert!(matches!(err, JournalError::Corrupt { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn restore_brings_back_intents_destroys_and_breakers() {
        let now = Instant::now();
        let mut memory = Memory::new("t", "abc".into());
        entry().restore(&mut memory, now, std::time::Duration::from_secs(60));
        assert_eq!(memory.intents[0].progress, Progress::Restored);
        assert_eq!(memory.intents[0].logical_id, Some("db-1".into()));
        assert_eq!(memory.destroys[&InstanceId::from("i-2")].progress, DestroyProgress::Restored);
        assert_eq!(memory.breakers[&ConfigHash::from("abc")].failures(), 2);
        assert!(!memory.retiring);
        memory.rollout.stage = entry().rollout;
        let captured = JournalEntry::capture(&memory, entry().stable, None, None);
        assert_eq!(captured, entry());
    }

    /// A journal as the controller wrote it before configs, tokens and retiring groups had
    /// their own types and fields: it reads into the same entry.
    #[test]
    fn a_journal_of_the_earlier_format_reads_unchanged() {
        let written = r#"{
          "Intents": [{"Token": "t-1", "Sequence": 1, "LogicalID": "db-1", "Config": "abc", "Cause": "heal"}],
          "Destroys": [{"ID": "i-2", "LogicalID": null, "Reason": "rolling_update"}],
          "Rollout": {"paused": {"reason": {"failed": "i-4 unhealthy for 1m0s"}}},
          "Stable": {"ID": "g", "Properties": null},
          "Failed": null,
          "Breakers": [{"Config": "abc", "Failures": 2, "LastError": "quota"}]
        }"#;
        let read: JournalEntry = serde_json::from_str(written).unwrap();
        assert_eq!(read, entry());
        let rewritten = serde_json::to_value(&read).unwrap();
        assert_eq!(rewritten, serde_json::from_str::<serde_json::Value>(written).unwrap(), "and is written the same");
    }

    #[tokio::test]
    async fn a_retiring_group_keeps_its_spec_and_restores_as_retiring() {
        let spec = GroupSpec { id: "g".into(), properties: Some(serde_json::json!({"Allocation": {"Size": 2}})) };
        let retiring = JournalEntry { retiring: Some(spec.clone()), ..JournalEntry::default() };
        let dir = tempfile::tempdir().unwrap();
        let journal = FileJournal::new(dir.path());
        journal.save(&"g".into(), &retiring).await.unwrap();
        let read = journal.load(&"g".into()).await.unwrap().unwrap();
        assert_eq!(read.retiring, Some(spec));
        let mut memory = Memory::new("t", "abc".into());
        read.restore(&mut memory, Instant::now(), std::time::Duration::from_secs(60));
        assert!(memory.retiring);
    }
}
