//! Leases (`/v3/lease/*`): keys bound to a lease vanish when it expires or is revoked.
//!
//! etcd's keep-alive is a stream in gRPC; through the gateway, one request on it is one
//! keep-alive: the body carries one message and the answer one message, wrapped in `result` (or
//! `error`) as the gateway frames streams.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

use crate::client::Client;
use crate::codec;
use crate::error::Error;
use crate::kv::Header;

/// A lease's ID; 0 means no lease.
pub type LeaseId = i64;

/// A granted lease.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LeaseGrant {
    pub header: Header,
    #[serde(rename = "ID", with = "codec::int64")]
    pub id: LeaseId,
    /// The TTL etcd chose, in seconds.
    #[serde(rename = "TTL", with = "codec::int64")]
    pub ttl: i64,
}

/// One message of a stream through the gateway.
#[derive(Deserialize)]
struct StreamMessage<T> {
    result: Option<T>,
    error: Option<StreamError>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct StreamError {
    grpc_code: i32,
    message: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct KeptAlive {
    #[serde(rename = "TTL", with = "codec::int64")]
    ttl: i64,
}

impl Client {
    /// A new lease of `ttl` seconds.
    pub async fn lease_grant(&self, ttl: i64) -> Result<LeaseGrant, Error> {
        self.call("/v3/lease/grant", &json!({"TTL": ttl.to_string()})).await
    }

    /// Ends the lease now, deleting its keys.
    pub async fn lease_revoke(&self, id: LeaseId) -> Result<(), Error> {
        let _: IgnoredAny = self.call("/v3/lease/revoke", &json!({"ID": id.to_string()})).await?;
        Ok(())
    }

    /// Renews the lease: its remaining TTL in seconds, 0 if it has already expired.
    pub async fn lease_keep_alive(&self, id: LeaseId) -> Result<i64, Error> {
        const PATH: &str = "/v3/lease/keepalive";
        let message: StreamMessage<KeptAlive> = self.call(PATH, &json!({"ID": id.to_string()})).await?;
        match message {
            StreamMessage { result: Some(kept), .. } => Ok(kept.ttl),
            StreamMessage { error: Some(error), .. } => Err(Error::Refused {
                endpoint: self.current_endpoint().to_owned(),
                path: PATH,
                code: error.grpc_code,
                message: error.message,
            }),
            StreamMessage { result: None, error: None } => Err(Error::Decode {
                endpoint: self.current_endpoint().to_owned(),
                path: PATH,
                reason: "neither a result nor an error".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keep_alive_of_an_expired_lease_reads_as_ttl_zero() {
        // etcd leaves the TTL out when it is 0.
        let text = r#"{"result":{"header":{"revision":"2"},"ID":"123"}}"#;
        let message: StreamMessage<KeptAlive> = serde_json::from_str(text).unwrap();
        assert_eq!(message.result.map(|kept| kept.ttl), Some(0));
        let grant: LeaseGrant = serde_json::from_str(r#"{"header":{},"ID":"2324035744595969541","TTL":"5"}"#).unwrap();
        assert_eq!((grant.id, grant.ttl), (2324035744595969541, 5));
    }
}
