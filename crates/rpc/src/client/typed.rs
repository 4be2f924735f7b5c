//! The spi traits over JSON-RPC: a remote plugin behind the same trait object as a local one.
//!
//! Each client addresses one object of a plugin, as its name says (`simulator/compute`: the object
//! `compute` of the plugin `simulator`): Instance and Flavor send the object as `Type`, Group
//! sends the whole name as `Name`. The first call checks the plugin's interface version.

use async_trait::async_trait;
use futures::StreamExt;
use infrakit_spi::changes::{ChangeStream, InstanceChange, changes_topic};
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{AllocationMethod, GroupDescription, GroupId, GroupPlugin, GroupSpec, Index, RolloutStatus};
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, Promises, Spec};
use infrakit_spi::types::{InterfaceSpec, PluginName, Tags};
use infrakit_spi::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Client;
use crate::wire::{flavor, group, instance};

/// Calls through `client` once the plugin is known to serve `interface`.
async fn call<P: Serialize, R: DeserializeOwned>(
    client: &Client,
    interface: &InterfaceSpec,
    method: &str,
    params: &P,
) -> Result<R> {
    client.ensure_interface(interface).await?;
    client.call_as(method, params).await
}

/// An instance plugin reached over RPC.
#[derive(Debug, Clone)]
pub struct InstanceClient {
    client: Client,
    interface: InterfaceSpec,
    object: String,
}

impl InstanceClient {
    /// The object of `name` (its type part; none for the default) at the plugin `client` reaches.
    pub fn new(client: Client, name: &PluginName) -> Self {
        Self { client, interface: InterfaceSpec::instance(), object: name.object().unwrap_or_default().to_owned() }
    }

    async fn call<P: Serialize, R: DeserializeOwned>(&self, method: &str, params: &P) -> Result<R> {
        call(&self.client, &self.interface, method, params).await
    }
}

#[async_trait]
impl InstancePlugin for InstanceClient {
    async fn validate(&self, properties: Option<&Value>) -> Result<()> {
        let request = instance::ValidateRequest { r#type: self.object.clone(), properties: properties.cloned() };
        self.call::<_, instance::OkResponse>("Instance.Validate", &request).await.map(drop)
    }

    async fn provision(&self, spec: Spec) -> Result<InstanceId> {
        let request = instance::ProvisionRequest { r#type: self.object.clone(), spec };
        let response: instance::ProvisionResponse = self.call("Instance.Provision", &request).await?;
        response.id.ok_or_else(|| Error::failed("the plugin provisioned an instance but returned no ID"))
    }

    async fn label(&self, id: &InstanceId, labels: &Tags) -> Result<()> {
        let request =
            instance::LabelRequest { r#type: self.object.clone(), instance: id.clone(), labels: labels.clone() };
        self.call::<_, instance::OkResponse>("Instance.Label", &request).await.map(drop)
    }

    async fn destroy(&self, id: &InstanceId, context: DestroyContext) -> Result<()> {
        let request = instance::DestroyRequest { r#type: self.object.clone(), instance: id.clone(), context };
        self.call::<_, instance::OkResponse>("Instance.Destroy", &request).await.map(drop)
    }

    async fn describe_instances(&self, tags: &Tags, properties: bool) -> Result<Vec<Description>> {
        let request =
            instance::DescribeInstancesRequest { r#type: self.object.clone(), tags: tags.clone(), properties };
        let response: instance::DescribeInstancesResponse = self.call("Instance.DescribeInstances", &request).await?;
        Ok(response.descriptions)
    }

    /// The changes the plugin publishes on its events, subscribed on first poll. A plugin that
    /// pushes none (or an original one) leaves the stream silent; it ends when the connection does.
    async fn promises(&self) -> Result<Promises> {
        let request = instance::PromisesRequest { r#type: self.object.clone() };
        match self.call::<_, instance::PromisesResponse>("Instance.Promises", &request).await {
            Ok(response) => Ok(response.promises),
            // The original's plugins know no such method: they promise nothing.
            Err(e) if e.message().starts_with("rpc: can't find method") => Ok(Promises::default()),
            Err(e) => Err(e),
        }
    }

    fn changes(&self) -> Option<ChangeStream> {
        let client = self.client.clone();
        let topic = changes_topic(&self.object);
        let changes = futures::stream::once(async move { client.subscribe(&topic).await })
            .filter_map(|subscribed| async move {
                subscribed.inspect_err(|e| tracing::debug!(error = %e, "cannot subscribe to changes")).ok()
            })
            .flat_map(|subscription| {
                futures::stream::unfold(subscription, |mut subscription| async move {
                    let event = subscription.next().await?.ok()?;
                    Some((event, subscription))
                })
            })
            .filter_map(|event| async move { serde_json::from_value::<InstanceChange>(event.data?).ok() });
        Some(Box::pin(changes))
    }
}

/// A flavor plugin reached over RPC.
#[derive(Debug, Clone)]
pub struct FlavorClient {
    client: Client,
    interface: InterfaceSpec,
    object: String,
}

impl FlavorClient {
    /// The object of `name` (its type part; none for the default) at the plugin `client` reaches.
    pub fn new(client: Client, name: &PluginName) -> Self {
        Self { client, interface: InterfaceSpec::flavor(), object: name.object().unwrap_or_default().to_owned() }
    }

    async fn call<P: Serialize, R: DeserializeOwned>(&self, method: &str, params: &P) -> Result<R> {
        call(&self.client, &self.interface, method, params).await
    }
}

#[async_trait]
impl FlavorPlugin for FlavorClient {
    async fn validate(&self, properties: Option<&Value>, allocation: &AllocationMethod) -> Result<()> {
        let request = flavor::ValidateRequest {
            r#type: self.object.clone(),
            properties: properties.cloned(),
            allocation: allocation.clone(),
        };
        self.call::<_, flavor::OkResponse>("Flavor.Validate", &request).await.map(drop)
    }

    async fn prepare(
        &self,
        properties: Option<&Value>,
        spec: Spec,
        allocation: &AllocationMethod,
        index: &Index,
    ) -> Result<Spec> {
        let request = flavor::PrepareRequest {
            r#type: self.object.clone(),
            properties: properties.cloned(),
            spec,
            allocation: allocation.clone(),
            index: index.clone(),
        };
        let response: flavor::PrepareResponse = self.call("Flavor.Prepare", &request).await?;
        Ok(response.spec)
    }

    async fn healthy(&self, properties: Option<&Value>, instance: &Description) -> Result<Health> {
        let request = flavor::InstanceRequest {
            r#type: self.object.clone(),
            properties: properties.cloned(),
            instance: instance.clone(),
        };
        let response: flavor::HealthyResponse = self.call("Flavor.Healthy", &request).await?;
        Ok(response.health)
    }

    async fn drain(&self, properties: Option<&Value>, instance: &Description) -> Result<()> {
        let request = flavor::InstanceRequest {
            r#type: self.object.clone(),
            properties: properties.cloned(),
            instance: instance.clone(),
        };
        self.call::<_, flavor::OkResponse>("Flavor.Drain", &request).await.map(drop)
    }
}

/// A group plugin reached over RPC.
#[derive(Debug, Clone)]
pub struct GroupClient {
    client: Client,
    interface: InterfaceSpec,
    name: String,
}

impl GroupClient {
    /// The group plugin `name` (`group-stateless`, `mystack/workers`) that `client` reaches.
    pub fn new(client: Client, name: &PluginName) -> Self {
        Self { client, interface: InterfaceSpec::group(), name: name.to_string() }
    }

    async fn call<P: Serialize, R: DeserializeOwned>(&self, method: &str, params: &P) -> Result<R> {
        call(&self.client, &self.interface, method, params).await
    }

    fn group(&self, id: &GroupId) -> group::GroupRef {
        group::GroupRef { name: self.name.clone(), id: id.clone() }
    }

    async fn rollout(&self, method: &str, id: &GroupId) -> Result<RolloutStatus> {
        let response: group::RolloutResponse = self.call(method, &self.group(id)).await?;
        Ok(response.status)
    }
}

#[async_trait]
impl GroupPlugin for GroupClient {
    async fn commit_group(&self, spec: GroupSpec, pretend: bool) -> Result<String> {
        let request = group::CommitGroupRequest { name: self.name.clone(), spec, pretend };
        let response: group::CommitGroupResponse = self.call("Group.CommitGroup", &request).await?;
        Ok(response.details)
    }

    async fn free_group(&self, id: &GroupId) -> Result<()> {
        self.call::<_, group::GroupRef>("Group.FreeGroup", &self.group(id)).await.map(drop)
    }

    async fn describe_group(&self, id: &GroupId) -> Result<GroupDescription> {
        let response: group::DescribeGroupResponse = self.call("Group.DescribeGroup", &self.group(id)).await?;
        Ok(response.description)
    }

    async fn destroy_group(&self, id: &GroupId) -> Result<()> {
        self.call::<_, group::GroupRef>("Group.DestroyGroup", &self.group(id)).await.map(drop)
    }

    async fn inspect_groups(&self) -> Result<Vec<GroupSpec>> {
        let request = group::GroupRef { name: self.name.clone(), id: GroupId::default() };
        let response: group::InspectGroupsResponse = self.call("Group.InspectGroups", &request).await?;
        Ok(response.groups)
    }

    async fn destroy_instances(&self, id: &GroupId, instances: &[InstanceId]) -> Result<()> {
        let request =
            group::DestroyInstancesRequest { name: self.name.clone(), id: id.clone(), instances: instances.to_vec() };
        self.call::<_, group::GroupRef>("Group.DestroyInstances", &request).await.map(drop)
    }

    async fn size(&self, id: &GroupId) -> Result<u64> {
        let response: group::SizeResponse = self.call("Group.Size", &self.group(id)).await?;
        Ok(response.size)
    }

    async fn set_size(&self, id: &GroupId, size: u64) -> Result<()> {
        let size = i64::try_from(size).map_err(|_| Error::invalid(format!("size {size} is too large")))?;
        let request = group::SetSizeRequest { name: self.name.clone(), id: id.clone(), size };
        self.call::<_, group::GroupRef>("Group.SetSize", &request).await.map(drop)
    }

    async fn pause_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.rollout("Group.PauseRollout", id).await
    }

    async fn resume_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.rollout("Group.ResumeRollout", id).await
    }

    async fn abort_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.rollout("Group.AbortRollout", id).await
    }

    async fn rollout_status(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.rollout("Group.RolloutStatus", id).await
    }
}
