//! `Instance.*`: JSON-RPC to [`InstancePlugin`] calls, one object per `Type`.

use async_trait::async_trait;
use infrakit_spi::instance::InstancePlugin;
use infrakit_spi::types::InterfaceSpec;
use serde_json::Value;

use super::Typed;
use crate::envelope::RpcError;
use crate::service::{Codec, Json, MethodExample, Service, Tree};
use crate::wire::instance::*;

/// The service name of the Instance interface.
pub(crate) const NAME: &str = "Instance";

/// The `Instance` service of a plugin.
pub(crate) struct InstanceService {
    pub(crate) objects: Typed<dyn InstancePlugin>,
}

#[async_trait]
impl Service for InstanceService {
    fn name(&self) -> &str {
        NAME
    }

    fn interface(&self) -> InterfaceSpec {
        InterfaceSpec::instance()
    }

    async fn objects(&self) -> Vec<String> {
        self.objects.names()
    }

    fn examples(&self) -> Vec<MethodExample> {
        vec![
            MethodExample::zero::<DescribeInstancesRequest, DescribeInstancesResponse>("DescribeInstances"),
            MethodExample::zero::<DestroyRequest, OkResponse>("Destroy"),
            MethodExample::zero::<LabelRequest, OkResponse>("Label"),
            MethodExample::zero::<PromisesRequest, PromisesResponse>("Promises"),
            MethodExample::zero::<ProvisionRequest, ProvisionResponse>("Provision"),
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

impl InstanceService {
    async fn dispatch<C: Codec>(&self, method: &str, params: C::Params<'_>) -> Result<C::Output, RpcError> {
        match method {
            "Validate" => {
                let request: ValidateRequest = C::decode(params)?;
                let plugin = self.objects.select(&request.r#type)?;
                plugin.validate(request.properties.as_ref()).await?;
                C::encode(&OkResponse { r#type: request.r#type, ok: true })
            }
            "Provision" => {
                let request: ProvisionRequest = C::decode(params)?;
                let plugin = self.objects.select(&request.r#type)?;
                let id = plugin.provision(request.spec).await?;
                C::encode(&ProvisionResponse { r#type: request.r#type, id: Some(id) })
            }
            "Label" => {
                let request: LabelRequest = C::decode(params)?;
                let plugin = self.objects.select(&request.r#type)?;
                plugin.label(&request.instance, &request.labels).await?;
                C::encode(&OkResponse { r#type: request.r#type, ok: true })
            }
            "Destroy" => {
                let request: DestroyRequest = C::decode(params)?;
                let plugin = self.objects.select(&request.r#type)?;
                plugin.destroy(&request.instance, request.context).await?;
                C::encode(&OkResponse { r#type: request.r#type, ok: true })
            }
            "DescribeInstances" => {
                let request: DescribeInstancesRequest = C::decode(params)?;
                let plugin = self.objects.select(&request.r#type)?;
                let descriptions = plugin.describe_instances(&request.tags, request.properties).await?;
                C::encode(&DescribeInstancesResponse { r#type: request.r#type, descriptions })
            }
            "Promises" => {
                let request: PromisesRequest = C::decode(params)?;
                let plugin = self.objects.select(&request.r#type)?;
                let promises = plugin.promises().await?;
                C::encode(&PromisesResponse { r#type: request.r#type, promises })
            }
            _ => Err(RpcError::unknown_method(NAME, method)),
        }
    }
}
