//! A small etcd v3 client over etcd's HTTP/JSON gateway.
//!
//! The manager needs a handful of etcd calls (ranges, transactions, leases); the gRPC clients
//! generate their code from etcd's protobuf files at build time, which needs `protoc` on the
//! building machine. Every etcd member also serves the same API as JSON over HTTP/1.1 at `/v3/*`
//! (its gRPC gateway), so this client speaks that instead, with the hyper stack the rest of the
//! project already uses. In that JSON, keys and values are base64 and 64-bit integers are
//! strings; fields at their zero value are left out.
//!
//! A [`Client`] holds several endpoints (the members of one cluster) and sticks to the one that
//! last answered; a call that cannot connect goes on to the next at once, and a call that timed
//! out moves the next call to another member.
//!
//! - [`client`]: [`Client`], its endpoints, timeouts and failover.
//! - [`kv`]: keys: ranges, puts, deletes, transactions.
//! - [`lease`]: leases: grant, keep alive, revoke.
//! - [`error`]: [`Error`], which names the endpoint that failed.
//! - `codec`: the gateway's encodings of bytes and 64-bit integers.

pub mod client;
mod codec;
pub mod error;
pub mod kv;
pub mod lease;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{Client, ClientOptions, Status};
pub use error::Error;
pub use kv::{
    Compare, CompareOp, DeleteResponse, Header, KeyValue, PutResponse, RangeResponse, Txn, TxnOp, TxnOpResponse,
    TxnResponse,
};
pub use lease::{LeaseGrant, LeaseId};
