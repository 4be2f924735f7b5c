//! Keys: ranges, puts, deletes, and transactions (`/v3/kv/*`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::codec;
use crate::error::Error;
use crate::lease::LeaseId;

/// The header of every answer: the store's revision when the call was served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Header {
    #[serde(with = "codec::int64")]
    pub revision: i64,
}

/// A key and its value, with the revisions that fence writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct KeyValue {
    #[serde(with = "codec::bytes")]
    pub key: Vec<u8>,
    #[serde(with = "codec::bytes")]
    pub value: Vec<u8>,
    /// The revision of the key's creation; 0 for a key that does not exist.
    #[serde(with = "codec::int64")]
    pub create_revision: i64,
    /// The revision of the key's last change.
    #[serde(with = "codec::int64")]
    pub mod_revision: i64,
    /// The number of changes since its creation.
    #[serde(with = "codec::int64")]
    pub version: i64,
    /// The lease the key is bound to; 0 for none.
    #[serde(with = "codec::int64")]
    pub lease: LeaseId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RangeResponse {
    pub header: Header,
    /// The keys found, in key order.
    pub kvs: Vec<KeyValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PutResponse {
    pub header: Header,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DeleteResponse {
    pub header: Header,
    /// How many keys were deleted.
    #[serde(with = "codec::int64")]
    pub deleted: i64,
}

/// How a [`Compare`] relates the key's field to the given value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// A condition of a [`Txn`] on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    key: Vec<u8>,
    op: CompareOp,
    target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    CreateRevision(i64),
    ModRevision(i64),
    Version(i64),
    Value(Vec<u8>),
}

impl Compare {
    /// On the key's create revision (0 when the key does not exist).
    pub fn create_revision(key: impl AsRef<[u8]>, op: CompareOp, revision: i64) -> Self {
        Self { key: key.as_ref().to_vec(), op, target: Target::CreateRevision(revision) }
    }

    /// On the key's last modification's revision (0 when the key does not exist).
    pub fn mod_revision(key: impl AsRef<[u8]>, op: CompareOp, revision: i64) -> Self {
        Self { key: key.as_ref().to_vec(), op, target: Target::ModRevision(revision) }
    }

    /// On the key's version: the number of its changes since its creation.
    pub fn version(key: impl AsRef<[u8]>, op: CompareOp, version: i64) -> Self {
        Self { key: key.as_ref().to_vec(), op, target: Target::Version(version) }
    }

    /// On the key's value.
    pub fn value(key: impl AsRef<[u8]>, op: CompareOp, value: impl Into<Vec<u8>>) -> Self {
        Self { key: key.as_ref().to_vec(), op, target: Target::Value(value.into()) }
    }

    fn to_json(&self) -> Value {
        let result = match self.op {
            CompareOp::Equal => "EQUAL",
            CompareOp::NotEqual => "NOT_EQUAL",
            CompareOp::Greater => "GREATER",
            CompareOp::Less => "LESS",
        };
        let (target, field, operand) = match &self.target {
            Target::CreateRevision(r) => ("CREATE", "create_revision", json!(r.to_string())),
            Target::ModRevision(r) => ("MOD", "mod_revision", json!(r.to_string())),
            Target::Version(v) => ("VERSION", "version", json!(v.to_string())),
            Target::Value(v) => ("VALUE", "value", json!(base64(v))),
        };
        json!({"result": result, "target": target, "key": base64(&self.key), field: operand})
    }
}

/// An operation of a [`Txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Sets a key, bound to a lease unless it is 0.
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: LeaseId,
    },
    Delete {
        key: Vec<u8>,
    },
    Get {
        key: Vec<u8>,
    },
}

impl TxnOp {
    pub fn put(key: impl AsRef<[u8]>, value: impl Into<Vec<u8>>) -> Self {
        Self::Put { key: key.as_ref().to_vec(), value: value.into(), lease: 0 }
    }

    /// A put whose key is deleted when `lease` expires or is revoked.
    pub fn put_with_lease(key: impl AsRef<[u8]>, value: impl Into<Vec<u8>>, lease: LeaseId) -> Self {
        Self::Put { key: key.as_ref().to_vec(), value: value.into(), lease }
    }

    pub fn delete(key: impl AsRef<[u8]>) -> Self {
        Self::Delete { key: key.as_ref().to_vec() }
    }

    pub fn get(key: impl AsRef<[u8]>) -> Self {
        Self::Get { key: key.as_ref().to_vec() }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::Put { key, value, lease } => json!({"request_put": put_request(key, value, *lease)}),
            Self::Delete { key } => json!({"request_delete_range": {"key": base64(key)}}),
            Self::Get { key } => json!({"request_range": {"key": base64(key)}}),
        }
    }
}

/// Operations applied atomically: `success` if every compare holds, `failure` otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    compare: Vec<Compare>,
    success: Vec<TxnOp>,
    failure: Vec<TxnOp>,
}

impl Txn {
    pub fn new() -> Self {
        Self::default()
    }

    /// The conditions, all of which must hold.
    pub fn when(mut self, compare: impl IntoIterator<Item = Compare>) -> Self {
        self.compare.extend(compare);
        self
    }

    /// What is done when the conditions hold.
    pub fn and_then(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.success.extend(ops);
        self
    }

    /// What is done when they do not.
    pub fn or_else(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.failure.extend(ops);
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "compare": self.compare.iter().map(Compare::to_json).collect::<Vec<_>>(),
            "success": self.success.iter().map(TxnOp::to_json).collect::<Vec<_>>(),
            "failure": self.failure.iter().map(TxnOp::to_json).collect::<Vec<_>>(),
        })
    }
}

/// The answer to a [`Txn`]: which branch ran, and each of its operations' answers in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TxnResponse {
    pub header: Header,
    /// Whether every compare held (and `success` ran).
    pub succeeded: bool,
    pub responses: Vec<TxnOpResponse>,
}

/// The answer to one [`TxnOp`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum TxnOpResponse {
    #[serde(rename = "response_range")]
    Get(RangeResponse),
    #[serde(rename = "response_put")]
    Put(PutResponse),
    #[serde(rename = "response_delete_range")]
    Delete(DeleteResponse),
}

impl Client {
    /// The key, if it exists (`kvs` then holds it alone).
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<RangeResponse, Error> {
        self.call("/v3/kv/range", &json!({"key": base64(key.as_ref())})).await
    }

    /// Every key that starts with `prefix`, in key order.
    pub async fn get_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<RangeResponse, Error> {
        let prefix = prefix.as_ref();
        let request = json!({"key": base64(prefix), "range_end": base64(&prefix_end(prefix))});
        self.call("/v3/kv/range", &request).await
    }

    /// Sets a key, bound to `lease` unless it is 0.
    pub async fn put(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        lease: LeaseId,
    ) -> Result<PutResponse, Error> {
        self.call("/v3/kv/put", &put_request(key.as_ref(), value.as_ref(), lease)).await
    }

    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<DeleteResponse, Error> {
        self.call("/v3/kv/deleterange", &json!({"key": base64(key.as_ref())})).await
    }

    pub async fn txn(&self, txn: &Txn) -> Result<TxnResponse, Error> {
        self.call("/v3/kv/txn", &txn.to_json()).await
    }
}

fn put_request(key: &[u8], value: &[u8], lease: LeaseId) -> Value {
    let mut request = Map::new();
    request.insert("key".into(), base64(key).into());
    request.insert("value".into(), base64(value).into());
    if lease != 0 {
        request.insert("lease".into(), lease.to_string().into());
    }
    Value::Object(request)
}

fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The end of the range of keys starting with `prefix` (exclusive): the prefix with its last
/// byte below 0xff incremented. A prefix of only 0xff bytes (or none) has no end: `\0`, which
/// etcd reads as "every key from here on".
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_its_last_byte_plus_one() {
        assert_eq!(prefix_end(b"infrakit/"), b"infrakit0");
        assert_eq!(prefix_end(&[b'a', 0xff, 0xff]), b"b");
        assert_eq!(prefix_end(&[0xff]), [0]);
        assert_eq!(prefix_end(b""), [0]);
    }

    #[test]
    fn a_txn_is_written_as_the_gateway_reads_it() {
        let txn = Txn::new()
            .when([Compare::create_revision("k", CompareOp::Equal, 0), Compare::value("k", CompareOp::NotEqual, "v")])
            .and_then([TxnOp::put_with_lease("k", "v", 42), TxnOp::delete("d")])
            .or_else([TxnOp::get("k")]);
        assert_eq!(
            txn.to_json(),
            json!({
                "compare": [
                    {"result": "EQUAL", "target": "CREATE", "key": "aw==", "create_revision": "0"},
                    {"result": "NOT_EQUAL", "target": "VALUE", "key": "aw==", "value": "dg=="},
                ],
                "success": [
                    {"request_put": {"key": "aw==", "value": "dg==", "lease": "42"}},
                    {"request_delete_range": {"key": "ZA=="}},
                ],
                "failure": [{"request_range": {"key": "aw=="}}],
            })
        );
    }

    #[test]
    fn answers_with_zero_values_left_out_are_read() {
        // etcd 3.4's answer to a failed claim: `succeeded` (false) and the range's `value`-less
        // fields are absent.
        let text = r#"{"header":{"cluster_id":"3249","revision":"2"},"responses":[{"response_range":
            {"header":{"revision":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2",
            "version":"1","value":"YmFy"}],"count":"1"}}]}"#;
        let answer: TxnResponse = serde_json::from_str(text).unwrap();
        assert!(!answer.succeeded);
        assert_eq!(answer.header.revision, 2);
        let TxnOpResponse::Get(range) = &answer.responses[0] else { panic!("{answer:?}") };
        assert_eq!(
            range.kvs,
            [KeyValue {
                key: b"foo".to_vec(),
                value: b"bar".to_vec(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                lease: 0
            }]
        );
        let empty: RangeResponse = serde_json::from_str(r#"{"header":{"revision":"1"}}"#).unwrap();
        assert!(empty.kvs.is_empty());
    }
}
