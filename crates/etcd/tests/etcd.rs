//! The client against a real etcd (Debian's, started here): keys, transactions and leases
//! through the gateway; failover past a member that refuses connections; errors that name the
//! endpoint when none answers, or when one is frozen.

use std::time::Duration;

use infrakit_etcd::testing::{SingleMember, free_ports};
use infrakit_etcd::{Client, ClientOptions, Compare, CompareOp, Error, Txn, TxnOp, TxnOpResponse};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// An endpoint where nothing listens.
fn dead_endpoint() -> String {
    format!("http://127.0.0.1:{}", free_ports(1)[0])
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_transactions_and_leases_go_through_the_gateway() {
    let etcd = SingleMember::start().await;
    let client = Client::new(&[etcd.url()], ClientOptions::default()).unwrap();
    assert!(client.status().await.unwrap().version.starts_with('3'));

    let first = client.put("app/a", "1", 0).await.unwrap().header.revision;
    client.put("app/b", [0u8, 0xff], 0).await.unwrap();
    client.put("apq", "outside the prefix", 0).await.unwrap();
    let found = client.get_prefix("app/").await.unwrap();
    let keys: Vec<&[u8]> = found.kvs.iter().map(|kv| kv.key.as_slice()).collect();
    assert_eq!(keys, [b"app/a".as_slice(), b"app/b"]);
    assert_eq!(found.kvs[1].value, [0u8, 0xff], "binary values survive base64");
    let a = &client.get("app/a").await.unwrap().kvs[0];
    assert_eq!((a.create_revision, a.mod_revision, a.version), (first, first, 1));
    assert!(client.get("app/none").await.unwrap().kvs.is_empty());

    // A claim on a key that exists fails and reads it; on one that does not, it succeeds.
    let claim = |key: &str| {
        Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, "mine")])
            .or_else([TxnOp::get(key)])
    };
    let refused = client.txn(&claim("app/a")).await.unwrap();
    assert!(!refused.succeeded);
    assert!(matches!(&refused.responses[0], TxnOpResponse::Get(range) if range.kvs[0].value == b"1"));
    let won = client.txn(&claim("app/c")).await.unwrap();
    assert!(won.succeeded);
    assert!(matches!(won.responses[0], TxnOpResponse::Put(_)));
    let stale = Txn::new()
        .when([Compare::mod_revision("app/a", CompareOp::Equal, first - 1)])
        .and_then([TxnOp::delete("app/a")]);
    assert!(!client.txn(&stale).await.unwrap().succeeded);
    assert_eq!(client.delete("app/b").await.unwrap().deleted, 1);

    let lease = client.lease_grant(30).await.unwrap();
    assert_eq!(lease.ttl, 30);
    client.put("app/leased", "x", lease.id).await.unwrap();
    assert_eq!(client.get("app/leased").await.unwrap().kvs[0].lease, lease.id);
    assert!(client.lease_keep_alive(lease.id).await.unwrap() > 0);
    client.lease_revoke(lease.id).await.unwrap();
    assert!(client.get("app/leased").await.unwrap().kvs.is_empty(), "the lease's key went with it");
    assert_eq!(client.lease_keep_alive(lease.id).await.unwrap(), 0, "a revoked lease is not renewed");
    let error = client.lease_revoke(lease.id).await.unwrap_err();
    assert!(matches!(&error, Error::Refused { code: 5, .. }), "{error:?}");
    assert!(error.to_string().contains(etcd.url()), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_that_refuses_connections_is_skipped_and_none_answering_is_named() {
    let etcd = SingleMember::start().await;
    let dead = dead_endpoint();
    let client = Client::new(&[dead.as_str(), etcd.url()], ClientOptions::default()).unwrap();
    client.put("k", "v", 0).await.unwrap();
    assert_eq!(client.get("k").await.unwrap().kvs[0].value, b"v");

    let other = dead_endpoint();
    let nobody = Client::new(&[&dead, &other], ClientOptions::default()).unwrap();
    let error = nobody.get("k").await.unwrap_err();
    assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&dead) && message.contains(&other), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_member_times_out_and_the_next_call_goes_to_another() {
    let etcd = SingleMember::start().await;
    let dead = dead_endpoint();
    let options = ClientOptions { request_timeout: Duration::from_millis(500), ..ClientOptions::default() };
    let client = Client::new(&[etcd.url(), dead.as_str()], options).unwrap();
    client.put("k", "v", 0).await.unwrap();

    let member = Pid::from_raw(etcd.pid() as i32);
    kill(member, Signal::SIGSTOP).unwrap();
    let error = client.get("k").await.unwrap_err();
    kill(member, Signal::SIGCONT).unwrap();
    assert!(matches!(&error, Error::Timeout { endpoint, .. } if endpoint == etcd.url()), "{error:?}");
    // The next call starts at the dead member, is refused there, and comes back to the live one.
    assert_eq!(client.get("k").await.unwrap().kvs[0].value, b"v");
}
