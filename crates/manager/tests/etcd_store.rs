//! The etcd store against a real etcd (Debian's, started here): versions accumulate, and a write
//! carrying a stale fence (a deposed leader's) is refused and changes nothing.

use infrakit_etcd::testing::SingleMember;
use infrakit_etcd::{Client, ClientOptions};
use infrakit_manager::{Change, EtcdStore, Fence, Store, StoreError};
use infrakit_spi::group::{GroupId, GroupSpec};
use serde_json::json;

const LEADER_KEY: &str = "test/leader";

fn spec(size: u64) -> GroupSpec {
    GroupSpec { id: GroupId("web".into()), properties: Some(json!({"Allocation": {"Size": size}})) }
}

/// Makes the caller the leader: writes the leader key and returns its create revision.
async fn elect(client: &Client) -> Fence {
    let lease = client.lease_grant(60).await.unwrap().id;
    client.delete(LEADER_KEY).await.unwrap();
    let put = client.put(LEADER_KEY, "me", lease).await.unwrap();
    Fence(put.header.revision)
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_are_versioned_and_fenced_by_the_leader_key() {
    let etcd = SingleMember::start().await;
    let client = Client::new(&[etcd.url()], ClientOptions::default()).unwrap();
    let store = EtcdStore::new(client.clone(), "test/", LEADER_KEY);
    let id = spec(1).id;
    let first = elect(&client).await;
    assert_eq!(store.record(&id, Change::Commit { spec: spec(1) }, first).await.unwrap(), 1);
    assert_eq!(store.record(&id, Change::Scale { spec: spec(2) }, first).await.unwrap(), 2);
    assert_eq!(store.specs().await.unwrap(), vec![spec(2)]);

    let second = elect(&client).await;
    assert!(matches!(store.record(&id, Change::Destroy, first).await, Err(StoreError::Fenced)));
    assert_eq!(store.history(&id).await.unwrap().len(), 2, "the deposed leader's write changed nothing");
    assert_eq!(store.record(&id, Change::Free, second).await.unwrap(), 3);
    assert!(store.specs().await.unwrap().is_empty());
    assert_eq!(store.spec(&id).await.unwrap(), None);
}
