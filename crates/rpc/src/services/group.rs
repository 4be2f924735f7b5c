//! `Group.*`: JSON-RPC to [`GroupPlugin`] calls, the object resolved from the request's `Name`.
//!
//! A plugin may serve each of its groups as an object of its own, as the original's manager
//! does: the group IDs are then keys beside the fixed objects, all reaching that plugin, so
//! `group/web` (socket `group`, group `web`) resolves with the original's rules. They are listed
//! when asked (a handshake, or a name that no fixed object settles), as the original's are.
//!
//! Beyond the original's eight methods, the rollout controls of the trait are served as
//! `Group.PauseRollout`, `Group.ResumeRollout`, `Group.AbortRollout` and `Group.RolloutStatus`.

use std::sync::Arc;

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

/// The group objects of a plugin: fixed ones, and maybe a plugin whose groups are objects too.
#[derive(Default)]
pub(crate) struct GroupObjects {
    pub(crate) fixed: Keyed<dyn GroupPlugin>,
    pub(crate) per_group: Option<Arc<dyn GroupPlugin>>,
}

impl GroupObjects {
    /// The fixed objects with, if there is a per-group plugin, one more per group it manages
    /// (keys already taken stay with their object). A failed listing adds none, as the
    /// original's manager ignores that error.
    async fn all(&self) -> Keyed<dyn GroupPlugin> {
        let mut all = self.fixed.clone();
        if let Some(plugin) = &self.per_group
            && let Ok(groups) = plugin.inspect_groups().await
        {
            for spec in groups.iter().filter(|spec| !spec.id.0.is_empty()) {
                all.insert(&spec.id.0, Arc::clone(plugin));
            }
        }
        all
    }

    /// The object a request's `Name` addresses, with the original's rules.
    async fn resolve(&self, name: &str) -> Result<Arc<dyn GroupPlugin>, RpcError> {
        if self.per_group.is_none() {
            return self.fixed.resolve(name).cloned();
        }
        if let Some(settled) = self.fixed.settled(name) {
            return Ok(Arc::clone(settled));
        }
        self.all().await.resolve(name).cloned()
    }
}

/// The `Group` service of a plugin.
pub(crate) struct GroupService {
    pub(crate) objects: GroupObjects,
}

#[async_trait]
impl Service for GroupService {
    fn name(&self) -> &str {
        NAME
    }

    fn interface(&self) -> InterfaceSpec {
        InterfaceSpec::group()
    }

    async fn objects(&self) -> Vec<String> {
        self.objects.all().await.names()
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
                let plugin = self.objects.resolve(&request.name).await?;
                let id = request.spec.id.clone();
                let details = plugin.commit_group(request.spec, request.pretend).await?;
                C::encode(&CommitGroupResponse { name: request.name, id, details })
            }
            "FreeGroup" => {
                let request: GroupRef = C::decode(params)?;
                self.objects.resolve(&request.name).await?.free_group(&request.id).await?;
                C::encode(&request)
            }
            "DescribeGroup" => {
                let request: GroupRef = C::decode(params)?;
                let description = self.objects.resolve(&request.name).await?.describe_group(&request.id).await?;
                C::encode(&DescribeGroupResponse { name: request.name, id: request.id, description })
            }
            "DestroyGroup" => {
                let request: GroupRef = C::decode(params)?;
                self.objects.resolve(&request.name).await?.destroy_group(&request.id).await?;
                C::encode(&request)
            }
            "InspectGroups" => {
                let request: GroupRef = C::decode(params)?;
                let groups = self.objects.resolve(&request.name).await?.inspect_groups().await?;
                // The original leaves `ID` empty here whatever the request said.
                C::encode(&InspectGroupsResponse { name: request.name, id: Default::default(), groups })
            }
            "DestroyInstances" => {
                let request: DestroyInstancesRequest = C::decode(params)?;
                self.objects.resolve(&request.name).await?.destroy_instances(&request.id, &request.instances).await?;
                C::encode(&GroupRef { name: request.name, id: request.id })
            }
            "Size" => {
                let request: GroupRef = C::decode(params)?;
                let size = self.objects.resolve(&request.name).await?.size(&request.id).await?;
                C::encode(&SizeResponse { name: request.name, id: request.id, size })
            }
            "SetSize" => {
                let request: SetSizeRequest = C::decode(params)?;
                let plugin = self.objects.resolve(&request.name).await?;
                let size = u64::try_from(request.size).map_err(|_| Error::invalid("size cannot be negative"))?;
                plugin.set_size(&request.id, size).await?;
                C::encode(&GroupRef { name: request.name, id: request.id })
            }
            "PauseRollout" | "ResumeRollout" | "AbortRollout" | "RolloutStatus" => {
                let request: GroupRef = C::decode(params)?;
                let plugin = self.objects.resolve(&request.name).await?;
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
