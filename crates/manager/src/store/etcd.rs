//! Specs and history in etcd, shared by every manager of a cluster.
//!
//! Keys, under a prefix (default `infrakit/`):
//! - `specs/<group>`: the current spec, absent once freed or destroyed;
//! - `history/<group>/<version, 20 digits>`: every [`Version`], in order;
//! - `heads/<group>`: the latest version number.
//!
//! A change is one transaction that is applied only if the writer's leader key still exists with
//! the create revision it was elected at (the [`Fence`]) and the group's head is unchanged since
//! it was read. A deposed leader's write is refused with [`StoreError::Fenced`].

use std::time::SystemTime;

use async_trait::async_trait;
use infrakit_etcd::{Client, Compare, CompareOp, RangeResponse, Txn, TxnOp};
use infrakit_spi::group::{GroupId, GroupSpec};

use super::{Change, Fence, Store, StoreError, Version};

/// How often a write is retried when another write to the same group came in between (only a
/// leader writes, so this is rare; the bound keeps a bug from spinning).
const MAX_WRITE_CONFLICTS: u32 = 5;

/// Attempts of one etcd call: the client skips members that refuse connections within a call,
/// and after a timeout starts the next call at another member, so a retry reaches a live one.
const CALL_ATTEMPTS: u32 = 3;

/// Specs and history in etcd.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    prefix: String,
    /// The key whose create revision fences writes (the leader key).
    leader_key: String,
    /// The endpoints, for errors.
    endpoints: String,
}

impl EtcdStore {
    /// A store on `client`, its keys under `prefix`, writes fenced by `leader_key`.
    pub fn new(client: Client, prefix: &str, leader_key: &str) -> Self {
        let endpoints = client.endpoints().collect::<Vec<_>>().join(",");
        Self { client, prefix: prefix.to_owned(), leader_key: leader_key.to_owned(), endpoints }
    }

    fn fail(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend { location: format!("etcd {}", self.endpoints), reason: e.to_string() }
    }

    /// Runs `call` until it succeeds or [`CALL_ATTEMPTS`] have failed.
    async fn call<T, F: Future<Output = Result<T, infrakit_etcd::Error>>>(
        &self,
        mut call: impl FnMut() -> F,
    ) -> Result<T, StoreError> {
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(e) if attempt >= CALL_ATTEMPTS => return Err(self.fail(e)),
                Err(_) => attempt += 1,
            }
        }
    }

    async fn get(&self, key: &str, prefix: bool) -> Result<RangeResponse, StoreError> {
        self.call(|| async { if prefix { self.client.get_prefix(key).await } else { self.client.get(key).await } })
            .await
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}/{id}", self.prefix)
    }

    fn version_key(&self, id: &str, number: u64) -> String {
        format!("{}history/{id}/{number:020}", self.prefix)
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(value)
        .map_err(|e| StoreError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), reason: e.to_string() })
}

#[async_trait]
impl Store for EtcdStore {
    async fn specs(&self) -> Result<Vec<GroupSpec>, StoreError> {
        let response = self.get(&self.key("specs", ""), true).await?;
        response.kvs.iter().map(|kv| decode(&kv.key, &kv.value)).collect()
    }

    async fn history(&self, id: &GroupId) -> Result<Vec<Version>, StoreError> {
        let response = self.get(&format!("{}history/{id}/", self.prefix), true).await?;
        response.kvs.iter().map(|kv| decode(&kv.key, &kv.value)).collect()
    }

    async fn record(&self, id: &GroupId, change: Change, fence: Fence) -> Result<u64, StoreError> {
        let head_key = self.key("heads", &id.0);
        let spec_key = self.key("specs", &id.0);
        for _ in 0..MAX_WRITE_CONFLICTS {
            let head = self.get(&head_key, false).await?;
            let (number, head_revision) = match head.kvs.first() {
                Some(kv) => (decode::<u64>(&kv.key, &kv.value)? + 1, kv.mod_revision),
                None => (1, 0),
            };
            let version = Version { number, time: SystemTime::now(), change: change.clone() };
            let bytes = serde_json::to_vec(&version).map_err(|e| self.fail(e))?;
            let spec_op = match change.spec() {
                Some(spec) => TxnOp::put(&spec_key, serde_json::to_vec(spec).map_err(|e| self.fail(e))?),
                None => TxnOp::delete(&spec_key),
            };
            let txn = Txn::new()
                .when([
                    Compare::create_revision(&self.leader_key, CompareOp::Equal, fence.0),
                    Compare::mod_revision(&head_key, CompareOp::Equal, head_revision),
                ])
                .and_then([
                    TxnOp::put(self.version_key(&id.0, number), bytes),
                    TxnOp::put(&head_key, number.to_string()),
                    spec_op,
                ]);
            if self.call(|| self.client.txn(&txn)).await?.succeeded {
                return Ok(number);
            }
            let leader = self.get(&self.leader_key, false).await?;
            if leader.kvs.first().map(|kv| kv.create_revision) != Some(fence.0) {
                return Err(StoreError::Fenced);
            }
        }
        Err(self.fail(format!("{MAX_WRITE_CONFLICTS} writes to group {id} conflicted in a row")))
    }
}
