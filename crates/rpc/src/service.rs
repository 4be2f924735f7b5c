//! The extension point: an RPC service served on a plugin's socket.
//!
//! The built-in `Instance`, `Flavor`, `Group` and `Handshake` services implement [`Service`], and
//! so can any later crate (the manager's `Manager` service, a controller's extra methods) without
//! touching this one: hand it to [`PluginServer::service`](crate::PluginServer::service).

use async_trait::async_trait;
use infrakit_spi::types::InterfaceSpec;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::envelope::{RpcError, SERVER_ERROR};

/// One JSON-RPC service: every method `<name>.<Method>` on a plugin's socket.
#[async_trait]
pub trait Service: Send + Sync {
    /// The service part of the method names, e.g. `Manager` for `Manager.IsLeader`.
    fn name(&self) -> &str;

    /// The interface and version that the handshake reports for this service.
    fn interface(&self) -> InterfaceSpec;

    /// The object names that the handshake lists under the interface: `"."` for the default
    /// object, otherwise sub-types or group IDs. Asked on every handshake, so it may change (the
    /// manager lists the groups it manages).
    async fn objects(&self) -> Vec<String>;

    /// Example calls for `/info/api.json`: one per method, with zero-valued params and result.
    fn examples(&self) -> Vec<MethodExample> {
        Vec::new()
    }

    /// Runs `method` (without the service prefix) with its params, which arrive as a JSON object
    /// (`null` and `[ {...} ]` are already unwrapped). An unknown method answers
    /// [`RpcError::unknown_method`].
    async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError>;

    /// [`call`](Service::call) with the params as JSON text and the result written as JSON: what
    /// the server invokes. The default goes through `call`; a service that decodes its requests
    /// and encodes its responses with serde directly overrides it to skip the `Value`s in between
    /// (the built-in services do: it halves the server's work on a call).
    async fn call_json(&self, method: &str, params: &str) -> Result<Vec<u8>, RpcError> {
        let result = self.call(method, Json::decode(params)?).await?;
        Json::encode(&result)
    }
}

/// An example call of one method, as `/info/api.json` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodExample {
    /// The method name without the service prefix, e.g. `Provision`.
    pub method: String,
    /// The params of an example request.
    pub params: Value,
    /// The result of an example response.
    pub result: Value,
}

impl MethodExample {
    /// The example of a method whose request and response types have zero values.
    pub fn zero<P: Serialize + Default, R: Serialize + Default>(method: &str) -> Self {
        Self { method: method.to_owned(), params: to_value(&P::default()), result: to_value(&R::default()) }
    }
}

/// Decodes a method's params into its request type; a mismatch is the original's `-32600`.
pub fn decode_params<T: DeserializeOwned>(params: Value) -> Result<T, RpcError> {
    Tree::decode(params)
}

/// Encodes a method's result.
pub fn encode_result<T: Serialize>(result: &T) -> Result<Value, RpcError> {
    Tree::encode(result)
}

/// The two forms params and results take: [`Tree`] for [`Service::call`], [`Json`] for
/// [`Service::call_json`]. The built-in services route a call once, generically over the form.
pub(crate) trait Codec {
    /// The params as received.
    type Params<'a>: Send;
    /// The result as returned.
    type Output: Send;

    /// Decodes params into a request type; a mismatch is the original's `-32600`.
    fn decode<T: DeserializeOwned>(params: Self::Params<'_>) -> Result<T, RpcError>;

    /// Encodes a response type.
    fn encode<T: Serialize>(result: &T) -> Result<Self::Output, RpcError>;
}

/// Params and results as `serde_json::Value`s.
pub(crate) struct Tree;

impl Codec for Tree {
    type Params<'a> = Value;
    type Output = Value;

    fn decode<T: DeserializeOwned>(params: Value) -> Result<T, RpcError> {
        serde_json::from_value(params).map_err(|e| RpcError::invalid_params(e.to_string()))
    }

    fn encode<T: Serialize>(result: &T) -> Result<Value, RpcError> {
        serde_json::to_value(result).map_err(|e| RpcError::new(SERVER_ERROR, e.to_string()))
    }
}

/// Params and results as JSON text.
pub(crate) struct Json;

impl Codec for Json {
    type Params<'a> = &'a str;
    type Output = Vec<u8>;

    fn decode<T: DeserializeOwned>(params: &str) -> Result<T, RpcError> {
        serde_json::from_str(params).map_err(|e| RpcError::invalid_params(e.to_string()))
    }

    fn encode<T: Serialize>(result: &T) -> Result<Vec<u8>, RpcError> {
        serde_json::to_vec(result).map_err(|e| RpcError::new(SERVER_ERROR, e.to_string()))
    }
}

/// `to_value` for the wire types of this crate, whose serialization cannot fail (string keys only).
fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
