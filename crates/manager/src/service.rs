//! The `Manager` RPC service on the manager's socket, and its client.
//!
//! `IsLeader`, `LeaderLocation` and `Specs` answer as the original's (`LeaderLocation` carries
//! Go's `url.URL` struct, not a string); `Enforce`, `Inspect` and `Terminate` fail as the
//! original's always did. `History` and `Rollback` are this manager's own.

use async_trait::async_trait;
use infrakit_rpc::{Client, MethodExample, RpcError, Service, decode_params, encode_result};
use infrakit_spi::group::{GroupId, GroupSpec};
use infrakit_spi::types::InterfaceSpec;
use infrakit_spi::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::manager::Manager;
use crate::store::Version;

/// The RPC service name.
pub const NAME: &str = "Manager";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IsLeaderResponse {
    #[serde(rename = "Leader")]
    pub leader: bool,
}

/// Go's `url.URL`, field for field, as the original's `LeaderLocation` returns it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GoUrl {
    pub scheme: String,
    pub opaque: String,
    pub user: Option<Value>,
    pub host: String,
    pub path: String,
    pub raw_path: String,
    pub force_query: bool,
    pub raw_query: String,
    pub fragment: String,
}

impl GoUrl {
    /// Splits `scheme://host/path?query#fragment` the way Go's parser does for such URLs.
    pub fn parse(url: &str) -> Self {
        let (url, fragment) = url.split_once('#').unwrap_or((url, ""));
        let (url, query) = url.split_once('?').unwrap_or((url, ""));
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let (host, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        Self {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            path: path.to_owned(),
            raw_query: query.to_owned(),
            fragment: fragment.to_owned(),
            ..Self::default()
        }
    }

    /// Back to text.
    pub fn to_url(&self) -> String {
        let mut url = format!("{}://{}{}", self.scheme, self.host, self.path);
        if !self.raw_query.is_empty() {
            url = format!("{url}?{}", self.raw_query);
        }
        url
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LeaderLocationResponse {
    #[serde(rename = "Location")]
    pub location: Option<GoUrl>,
}

/// The original's `types.Spec`, as `Specs` returns each stored group.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackSpec {
    pub kind: String,
    pub version: String,
    pub metadata: Metadata,
    pub properties: Option<Value>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub name: String,
    pub tags: Option<Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SpecsResponse {
    #[serde(rename = "Specs")]
    pub specs: Vec<StackSpec>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct GroupRef {
    #[serde(rename = "ID")]
    pub id: GroupId,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HistoryResponse {
    #[serde(rename = "Versions")]
    pub versions: Vec<Version>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RollbackRequest {
    #[serde(rename = "ID")]
    pub id: GroupId,
    /// The version to restore; none for the spec before the current one.
    #[serde(rename = "Version", default)]
    pub version: Option<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RollbackResponse {
    /// The version the rollback was recorded as.
    #[serde(rename = "Version")]
    pub version: u64,
    /// The controller's plan.
    #[serde(rename = "Message")]
    pub message: String,
}

fn stack_spec(spec: GroupSpec) -> StackSpec {
    StackSpec {
        kind: "group".to_owned(),
        version: String::new(),
        metadata: Metadata { name: spec.id.0, tags: None },
        properties: spec.properties,
    }
}

/// The `Manager` service of a manager's socket.
pub struct ManagerService {
    manager: Manager,
}

impl ManagerService {
    /// Serves `manager`.
    pub fn new(manager: Manager) -> Self {
        Self { manager }
    }
}

#[async_trait]
impl Service for ManagerService {
    fn name(&self) -> &str {
        NAME
    }

    fn interface(&self) -> InterfaceSpec {
        InterfaceSpec::manager()
    }

    async fn objects(&self) -> Vec<String> {
        vec![".".to_owned()]
    }

    fn examples(&self) -> Vec<MethodExample> {
        vec![
            MethodExample::zero::<Empty, IsLeaderResponse>("IsLeader"),
            MethodExample::zero::<Empty, LeaderLocationResponse>("LeaderLocation"),
            MethodExample::zero::<Empty, SpecsResponse>("Specs"),
            MethodExample::zero::<GroupRef, HistoryResponse>("History"),
            MethodExample::zero::<RollbackRequest, RollbackResponse>("Rollback"),
        ]
    }

    async fn call(&self, method: &str, params: Value) -> std::result::Result<Value, RpcError> {
        match method {
            "IsLeader" => encode_result(&IsLeaderResponse { leader: self.manager.is_leader() }),
            "LeaderLocation" => encode_result(&LeaderLocationResponse {
                location: self.manager.leader_location().map(|url| GoUrl::parse(&url)),
            }),
            "Specs" => {
                let specs = self.manager.specs().await?.into_iter().map(stack_spec).collect();
                encode_result(&SpecsResponse { specs })
            }
            "History" => {
                let request: GroupRef = decode_params(params)?;
                encode_result(&HistoryResponse { versions: self.manager.history(&request.id).await? })
            }
            "Rollback" => {
                let request: RollbackRequest = decode_params(params)?;
                let (version, message) = self.manager.rollback(&request.id, request.version).await?;
                encode_result(&RollbackResponse { version, message })
            }
            "Enforce" | "Inspect" | "Terminate" => Err(Error::Unsupported("not implemented".to_owned()).into()),
            other => Err(RpcError::unknown_method(NAME, other)),
        }
    }
}

/// Calls a manager's `Manager` service.
pub struct ManagerClient {
    client: Client,
}

impl ManagerClient {
    /// A client over a connection to the manager's socket (or its remote URL).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Whether the manager is the leader.
    pub async fn is_leader(&self) -> Result<bool> {
        let response: IsLeaderResponse = self.client.call_as("Manager.IsLeader", &Empty {}).await?;
        Ok(response.leader)
    }

    /// Where the leader is, as a URL.
    pub async fn leader_location(&self) -> Result<Option<String>> {
        let response: LeaderLocationResponse = self.client.call_as("Manager.LeaderLocation", &Empty {}).await?;
        Ok(response.location.map(|url| url.to_url()))
    }

    /// The stored specs.
    pub async fn specs(&self) -> Result<Vec<StackSpec>> {
        let response: SpecsResponse = self.client.call_as("Manager.Specs", &Empty {}).await?;
        Ok(response.specs)
    }

    /// A group's versions, oldest first.
    pub async fn history(&self, id: &GroupId) -> Result<Vec<Version>> {
        let response: HistoryResponse = self.client.call_as("Manager.History", &GroupRef { id: id.clone() }).await?;
        Ok(response.versions)
    }

    /// Commits an earlier version's spec again; returns the new version and the plan.
    pub async fn rollback(&self, id: &GroupId, version: Option<u64>) -> Result<(u64, String)> {
        let request = RollbackRequest { id: id.clone(), version };
        let response: RollbackResponse = self.client.call_as("Manager.Rollback", &request).await?;
        Ok((response.version, response.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_location_is_go_url_struct() {
        let url = GoUrl::parse("http://10.0.0.1:24864");
        assert_eq!(
            serde_json::to_string(&LeaderLocationResponse { location: Some(url.clone()) }).unwrap(),
            r#"{"Location":{"Scheme":"http","Opaque":"","User":null,"Host":"10.0.0.1:24864","Path":"","RawPath":"","ForceQuery":false,"RawQuery":"","Fragment":""}}"#
        );
        assert_eq!(url.to_url(), "http://10.0.0.1:24864");
    }

    #[test]
    fn specs_are_the_originals_spec_shape() {
        let spec =
            stack_spec(GroupSpec { id: GroupId("workers".into()), properties: Some(serde_json::json!({"a": 1})) });
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"kind":"group","version":"","metadata":{"name":"workers","tags":null},"properties":{"a":1}}"#
        );
    }
}
