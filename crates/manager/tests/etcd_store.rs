//! The etcd store against a real etcd (Debian's, started here): versions accumulate, and a write
//! carrying a stale fence (a deposed leader's) is refused and changes nothing.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use infrakit_etcd::{Client, ClientOptions};
use infrakit_manager::{Change, EtcdStore, Fence, Store, StoreError};
use infrakit_spi::group::{GroupId, GroupSpec};
use serde_json::json;

/// How long etcd may take to answer after it starts.
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);
const LEADER_KEY: &str = "test/leader";

/// The etcd process and its data folder, removed when the test ends.
struct Etcd {
    process: Child,
    _data: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Two distinct ports free a moment ago: both held until both are found.
fn free_ports() -> (u16, u16) {
    let (a, b) = (TcpListener::bind("127.0.0.1:0").unwrap(), TcpListener::bind("127.0.0.1:0").unwrap());
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

async fn start() -> (Etcd, Client) {
    let dir = tempfile::tempdir().unwrap();
    let (client_port, peer_port) = free_ports();
    let url = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let child = Command::new("etcd")
        .args(["--name", "n0", "--data-dir", &dir.path().join("data").to_string_lossy()])
        .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
        .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("n0={peer}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd is installed (scripts/test.sh installs etcd-server)");
    let etcd = Etcd { process: child, _data: dir };
    let client = Client::new(&[url], ClientOptions::default()).unwrap();
    let started = Instant::now();
    loop {
        if client.status().await.is_ok() {
            return (etcd, client);
        }
        assert!(started.elapsed() < STARTUP_DEADLINE, "etcd did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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
    let (_etcd, client) = start().await;
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
