//! `Group.*`: JSON-RPC to [`GroupPlugin`] calls, the object resolved from the request's `Name`.
//!
//! Beyond the original's eight methods, the rollout controls of the trait are served as
//! `Group.PauseRollout`, `Group.ResumeRollout`, `Group.AbortRollout` and `Group.RolloutStatus`.

use async_trait::async_trait;
use infrakit_spi::Error;
use infrakit_spi::group::GroupPlugin;
use infrakit_spi::types::InterfaceSpec;
use serde_json::Value;

use super::Keyed;
use crate::envelope::RpcError;
use crate::service::{Codec, Json, MethodExample, Service, Tree};
use crate::wire::group::*;

/// The service name of the Group interface.
pub(crate) const NAME: &str = "Group";

/// The `Group` service of a plugin.
pub(crate) struct GroupService {
    pub(crate) objects: Keyed<dyn GroupPlugin>,
}

#[async_trait]
impl Service for GroupService {
    fn name(&self) -> &str {
        NAME
    }

    fn interface(&self) -> InterfaceSpec {
        InterfaceSpec::group()
    }

    fn objects(&self) -> Vec<String> {
        self.objects.names()
    }

    fn examples(&self) -> Vec<MethodExample> {
        vec![
            MethodExample::zero::<CommitGroupRequest, CommitGroupResponse>("CommitGroup"),
            MethodExample::zero::<GroupRef, DescribeGroupResponse>("DescribeGroup"),
            MethodExample::zero::<GroupRef, GroupRef>("DestroyGroup"),
            MethodExample::zero::<GroupRef, RolloutResponse>("AbortRollout"),
            MethodExample::zero::<DestroyInstancesRequest, GroupRef>("DestroyInstances"),
            MethodExample::zero::<GroupRef, GroupRef>("FreeGroup"),
            MethodExample::zero::<GroupRef, InspectGroupsResponse>("InspectGroups"),
            MethodExample::zero::<GroupRef, RolloutResponse>("PauseRollout"),
            MethodExample::zero::<GroupRef, RolloutResponse>("ResumeRollout"),
            MethodExample::zero::<GroupRef, RolloutResponse>("RolloutStatus"),
            MethodExample::zero::<SetSizeRequest, GroupRef>("SetSize"),
            MethodExample::zero::<GroupRef, SizeResponse>("Size"),
        ]
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.dispatch::<Tree>(method, params).await
    }

    async fn call_json(&self, method: &str, params: &str) -> Result<Vec<u8>, RpcError> {
        self.dispatch::<Json>(method, params).await
    }
}

impl GroupService {
    async fn dispatch<C: Codec>(&self, method: &str, params: C::Params<'_>) -> Result<C::Output, RpcError> {
        match method {
            "CommitGroup" => {
                let request: CommitGroupRequest = C::decode(params)?;
                let plugin = self.objects.resolve(&request.name)?;
                let id = request.spec.id.clone();
                let details = plugin.commit_group(request.spec, request.pretend).await?;
                C::encode(&CommitGroupResponse { name: request.name, id, details })
            }
            "FreeGroup" => {
                let request: GroupRef = C::decode(params)?;
                self.objects.resolve(&request.name)?.free_group(&request.id).await?;
                C::encode(&request)
            }
            "DescribeGroup" => {
                let request: GroupRef = C::decode(params)?;
                let description = self.objects.resolve(&request.name)?.describe_group(&request.id).await?;
                C::encode(&DescribeGroupResponse { name: request.name, id: request.id, description })
            }
            "DestroyGroup" => {
                let request: GroupRef = C::decode(params)?;
                self.objects.resolve(&request.name)?.destroy_group(&request.id).await?;
                C::encode(&request)
            }
            "InspectGroups" => {
                let request: GroupRef = C::decode(params)?;
                let groups = self.objects.resolve(&request.name)?.inspect_groups().await?;
                // The original leaves `ID` empty here whatever the request said.
                C::encode(&InspectGroupsResponse { name: request.name, id: Default::default(), groups })
            }
            "DestroyInstances" => {
                let request: DestroyInstancesRequest = C::decode(params)?;
                self.objects.resolve(&request.name)?.destroy_instances(&request.id, &request.instances).await?;
                C::encode(&GroupRef { name: request.name, id: request.id })
            }
            "Size" => {
                let request: GroupRef = C::decode(params)?;
                let size = self.objects.resolve(&request.name)?.size(&request.id).await?;
                C::encode(&SizeResponse { name: request.name, id: request.id, size })
            }
            "SetSize" => {
                let request: SetSizeRequest = C::decode(params)?;
                let plugin = self.objects.resolve(&request.name)?;
                let size = u64::try_from(request.size).map_err(|_| Error::invalid("size cannot be negative"))?;
                plugin.set_size(&request.id, size).await?;
                C::encode(&GroupRef { name: request.name, id: request.id })
            }
            "PauseRollout" | "ResumeRollout" | "AbortRollout" | "RolloutStatus" => {
                let request: GroupRef = C::decode(params)?;
                let plugin = self.objects.resolve(&request.name)?;
                let status = match method {
                    "PauseRollout" => plugin.pause_rollout(&request.id).await?,
                    "ResumeRollout" => plugin.resume_rollout(&request.id).await?,
                    "AbortRollout" => plugin.abort_rollout(&request.id).await?,
                    _ => plugin.rollout_status(&request.id).await?,
                };
                C::encode(&RolloutResponse { name: request.name, id: request.id, status })
            }
            _ => Err(RpcError::unknown_method(NAME, method)),
        }
    }
}
