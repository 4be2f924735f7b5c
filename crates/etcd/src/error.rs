//! What can go wrong in a call, always naming the endpoint (or endpoints) concerned.

use std::time::Duration;

/// A failed etcd call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An endpoint is not an `http://host:port` URL.
    #[error("invalid etcd endpoint '{endpoint}': {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    /// No endpoint accepted a connection; `attempts` says why, endpoint by endpoint.
    #[error("no etcd endpoint could be reached: {attempts}")]
    Unreachable { attempts: String },
    /// The endpoint took the request but did not answer in time.
    #[error("etcd at {endpoint} did not answer {path} within {timeout:?}")]
    Timeout { endpoint: String, path: &'static str, timeout: Duration },
    /// The connection broke while the request was under way.
    #[error("etcd at {endpoint} broke off {path}: {reason}")]
    Transport { endpoint: String, path: &'static str, reason: String },
    /// etcd refused the call: `code` is the gRPC status code, `message` etcd's reason.
    #[error("etcd at {endpoint} refused {path}: {message} (code {code})")]
    Refused { endpoint: String, path: &'static str, code: i32, message: String },
    /// The answer was not the JSON this client expects.
    #[error("etcd at {endpoint} answered {path} with something unreadable: {reason}")]
    Decode { endpoint: String, path: &'static str, reason: String },
}

/// gRPC's status code for a service that cannot serve now (a member without a quorum, one
/// shutting down): another member may answer.
pub(crate) const CODE_UNAVAILABLE: i32 = 14;

impl Error {
    /// Whether another member might answer the same call: the next call goes elsewhere.
    pub(crate) fn suggests_another_member(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::Transport { .. } => true,
            Error::Refused { code, .. } => *code == CODE_UNAVAILABLE,
            Error::InvalidEndpoint { .. } | Error::Unreachable { .. } | Error::Decode { .. } => false,
        }
    }
}
