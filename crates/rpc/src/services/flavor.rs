//! `Flavor.*`: JSON-RPC to [`FlavorPlugin`] calls, one object per `Type`.

use async_trait::async_trait;
use infrakit_spi::flavor::FlavorPlugin;
use infrakit_spi::types::InterfaceSpec;
use serde_json::Value;

use super::Typed;
use crate::envelope::RpcError;
use crate::service::{Codec, Json, MethodExample, Service, Tree};
use crate::wire::flavor::*;

/// The service name of the Flavor interface.
pub(crate) const NAME: &str = "Flavor";

/// The `Flavor` service of a plugin.
pub(crate) struct FlavorService {
    pub(crate) objects: Typed<dyn FlavorPlugin>,
}

#[async_trait]
impl Service for FlavorService {
    fn name(&self) -> &str {
        NAME
    }

    fn interface(&self) -> InterfaceSpec {
        InterfaceSpec::flavor()
    }

    async fn objects(&self) -> Vec<String> {
        self.objects.names()
    }

    fn examples(&self) -> Vec<MethodExample> {
        vec![
            MethodExample::zero::<InstanceRequest, OkResponse>("Drain"),
            MethodExample::zero::<InstanceRequest, HealthyResponse>("Healthy"),
            MethodExample::zero::<PrepareRequest, PrepareResponse>("Prepare"),
            MethodExample::zero::<ValidateRequest, OkResponse>("Validate"),
        ]
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.dispatch::<Tree>(method, params).await
    }

    async fn call_json(&self, method: &str, params: &str) -> Result<Vec<u8>, RpcError> {
        self.dispatch::<Json>(method, params).await
    }
}

impl FlavorService {
    async fn dispatch<C: Codec>(&self, method: &str, params: C::Params<'_>) -> Result<C::Output, RpcError> {
        match method {
            "Validate" => {
                let request: ValidateRequest = C::decode(params)?;
                let plugin = self.objects.select(&request.r#type)?;
                plugin.validate(request.properties.as_ref(), &request.allocation).await?;
                C::encode(&OkResponse { r#type: request.r#type, ok: true })
            }
            "Prepare" => {
                let request: PrepareRequest = C::decode(params)?;
                let plugin = self.objects.select(&request.r#type)?;
                let spec = plugin
                    .prepare(request.properties.as_ref(), request.spec, &request.allocation, &request.index)
                    .await?;
                C::encode(&PrepareResponse { r#type: request.r#type, spec })
            }
            "Healthy" => {
                let request: InstanceRequest = C::decode(params)?;
                let plugin = self.objects.select(&request.r#type)?;
                let health = plugin.healthy(request.properties.as_ref(), &request.instance).await?;
                C::encode(&HealthyResponse { r#type: request.r#type, health })
            }
            "Drain" => {
                let request: InstanceRequest = C::decode(params)?;
                let plugin = self.objects.select(&request.r#type)?;
                plugin.drain(request.properties.as_ref(), &request.instance).await?;
                C::encode(&OkResponse { r#type: request.r#type, ok: true })
            }
            _ => Err(RpcError::unknown_method(NAME, method)),
        }
    }
}
