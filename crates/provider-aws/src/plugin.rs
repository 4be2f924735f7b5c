//! The `ec2-instance` object: the Instance interface over EC2.
//!
//! A provision is one `RunInstances` call, tagged at launch and made idempotent by a client
//! token (see [`crate::client_token`]): before launching, the plugin looks for a live instance
//! already tagged with the token, so a provision retried after a lost answer returns the first
//! instance instead of making a second. Attachments (`AttachVolumeInputs`, and attachments of
//! Type `ebs` found by the `docker-infrakit-volume` tag as in the original) are attached once the
//! instance runs; a retried provision attaches what is still missing.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::Instance;
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, Promises, Spec};
use infrakit_spi::types::Tags;
use infrakit_spi::{Error, Result};
use serde_json::Value;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tracing::{debug, info};

use crate::client_token::{CLIENT_TOKEN_TAG, client_token};
use crate::describe::description;
use crate::ec2::{Ec2, is_gone, is_running};
use crate::launch::{launch_tags, run_instances};
use crate::options::AwsOptions;
use crate::properties::Properties;
use crate::rate::{Api, ApiCount};

/// The attachment type of an EBS volume, as the original names it.
pub const EBS_ATTACHMENT: &str = "ebs";

/// The tag by which an `ebs` attachment's ID finds its volume, as in the original.
pub const VOLUME_TAG: &str = "docker-infrakit-volume";

/// Devices for `ebs` attachments, in order: the original attached every one at `/dev/sdf`,
/// which fails for a second volume.
const EBS_DEVICES: [&str; 11] = [
    "/dev/sdf", "/dev/sdg", "/dev/sdh", "/dev/sdi", "/dev/sdj", "/dev/sdk", "/dev/sdl", "/dev/sdm", "/dev/sdn",
    "/dev/sdo", "/dev/sdp",
];

/// Relaunches tried when EC2 answers a client token with an instance that is already gone. A
/// pet relaunched after its instance died needs one; more means something else is wrong.
const MAX_TOKEN_GENERATIONS: u32 = 4;

/// How often a launched instance is checked until it runs, before volumes are attached.
const RUNNING_POLL: Duration = Duration::from_secs(2);

/// How long a launched instance may take to run before its attachments are given up (the
/// instance stays; a retried provision attaches them).
const RUNNING_DEADLINE: Duration = Duration::from_secs(300);

/// Tags with this prefix are EC2's own and cannot be set.
const RESERVED_TAG_PREFIX: &str = "aws:";

/// The `ec2-instance` plugin. EC2 is connected on first use, so building one does no I/O.
#[derive(Debug)]
pub struct Ec2InstancePlugin {
    options: AwsOptions,
    ec2: OnceCell<Ec2>,
}

/// A volume to attach, and where.
struct VolumeAttachment {
    volume_id: String,
    device: String,
}

impl Ec2InstancePlugin {
    /// A plugin for the region and account the options and the AWS chain name.
    pub fn new(options: AwsOptions) -> Self {
        Self { options, ec2: OnceCell::new() }
    }

    /// The calls made so far, per EC2 API.
    pub fn api_counts(&self) -> BTreeMap<Api, ApiCount> {
        self.ec2.get().map(|ec2| ec2.limiter().counts()).unwrap_or_default()
    }

    async fn ec2(&self) -> &Ec2 {
        self.ec2.get_or_init(|| Ec2::connect(&self.options)).await
    }

    /// Launches the spec's instance, or finds the one an earlier try of the same provision made.
    async fn launch(&self, spec: &Spec, properties: &Properties) -> Result<Instance> {
        let ec2 = self.ec2().await;
        for generation in 0..MAX_TOKEN_GENERATIONS {
            let token = client_token(spec, generation);
            let mut tags = launch_tags(properties, spec, &self.options.namespace);
            tags.insert(CLIENT_TOKEN_TAG.to_owned(), token.clone());
            let earlier = Tags::from([(CLIENT_TOKEN_TAG.to_owned(), token.clone())]);
            if let Some(instance) = ec2.live_instances(&earlier).await?.into_iter().next() {
                debug!(id = instance.instance_id(), "a provision with this token already launched");
                return Ok(instance);
            }
            let request = run_instances(ec2.run_instances_request(), properties, spec, &tags, &token);
            let instance = ec2.run_instance(request).await?;
            if !is_gone(&instance) {
                info!(id = instance.instance_id(), "launched");
                return Ok(instance);
            }
            debug!(id = instance.instance_id(), generation, "the client token names a terminated launch");
        }
        Err(Error::failed(format!(
            "EC2 answered {MAX_TOKEN_GENERATIONS} client tokens with terminated instances; not launching again"
        )))
    }

    /// The volumes the spec wants attached: `AttachVolumeInputs` as given, then each `ebs`
    /// attachment's volume at the next free device.
    async fn wanted_volumes(&self, spec: &Spec, properties: &Properties) -> Result<Vec<VolumeAttachment>> {
        let mut wanted: Vec<_> = properties
            .attach_volume_inputs
            .iter()
            .map(|a| VolumeAttachment { volume_id: a.volume_id.clone(), device: a.device.clone() })
            .collect();
        let ebs: Vec<_> = spec.attachments.iter().filter(|a| a.r#type == EBS_ATTACHMENT).collect();
        let free: Vec<_> = EBS_DEVICES.into_iter().filter(|d| !wanted.iter().any(|w| w.device == *d)).collect();
        let mut devices = free.into_iter();
        for attachment in ebs {
            let volumes = self.ec2().await.volumes_tagged(VOLUME_TAG, &attachment.id).await?;
            let volume_id = match volumes.as_slice() {
                [volume] => volume.volume_id.clone().unwrap_or_default(),
                [] => return Err(Error::not_found(format!("no volume is tagged {VOLUME_TAG}={}", attachment.id))),
                _ => return Err(Error::invalid(format!("several volumes are tagged {VOLUME_TAG}={}", attachment.id))),
            };
            let device = devices.next().ok_or_else(|| {
                Error::invalid(format!("more than {} ebs attachments on one instance", EBS_DEVICES.len()))
            })?;
            wanted.push(VolumeAttachment { volume_id, device: device.to_owned() });
        }
        Ok(wanted)
    }

    /// Waits for the instance to run, then attaches the volumes not yet attached to it.
    async fn attach(&self, instance: &Instance, wanted: Vec<VolumeAttachment>) -> Result<()> {
        let ec2 = self.ec2().await;
        let id = instance.instance_id().unwrap_or_default();
        let deadline = Instant::now() + RUNNING_DEADLINE;
        let mut current = instance.clone();
        while !is_running(&current) {
            if is_gone(&current) || Instant::now() >= deadline {
                return Err(Error::unavailable(format!("instance {id} did not run; its volumes are not attached")));
            }
            tokio::time::sleep(RUNNING_POLL).await;
            current = ec2.instance(id).await?.ok_or_else(|| Error::not_found(format!("instance {id} vanished")))?;
        }
        for VolumeAttachment { volume_id, device } in wanted {
            let volume = ec2.volume(&volume_id).await?;
            let attached = volume.iter().flat_map(|v| v.attachments()).any(|a| a.instance_id() == Some(id));
            if !attached {
                ec2.attach_volume(id, &volume_id, &device).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl InstancePlugin for Ec2InstancePlugin {
    async fn validate(&self, properties: Option<&Value>) -> Result<()> {
        Properties::parse(properties).map(|_| ()).map_err(Error::invalid)
    }

    async fn provision(&self, spec: Spec) -> Result<InstanceId> {
        let properties = Properties::parse(spec.properties.as_ref()).map_err(Error::invalid)?;
        let wanted = self.wanted_volumes(&spec, &properties).await?;
        let instance = self.launch(&spec, &properties).await?;
        if !wanted.is_empty() {
            self.attach(&instance, wanted).await?;
        }
        Ok(InstanceId(instance.instance_id.unwrap_or_default()))
    }

    async fn label(&self, id: &InstanceId, labels: &Tags) -> Result<()> {
        let settable: Tags = labels
            .iter()
            .filter(|(k, _)| !k.starts_with(RESERVED_TAG_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if settable.is_empty() {
            return Ok(());
        }
        Ok(self.ec2().await.create_tags(id.as_str(), &settable).await?)
    }

    async fn destroy(&self, id: &InstanceId, _context: DestroyContext) -> Result<()> {
        Ok(self.ec2().await.terminate(id.as_str()).await?)
    }

    async fn describe_instances(&self, tags: &Tags, properties: bool) -> Result<Vec<Description>> {
        let mut wanted = tags.clone();
        wanted.extend(self.options.namespace.iter().map(|(k, v)| (k.clone(), v.clone())));
        let instances = self.ec2().await.live_instances(&wanted).await.map_err(Error::from)?;
        Ok(instances.iter().map(|i| description(i, properties)).collect())
    }

    /// A launch's client token comes from the provision token, and a launch looks for an earlier
    /// one by it first (see [`Self::launch`]).
    async fn promises(&self) -> Result<Promises> {
        Ok(Promises { idempotent_provision: true })
    }
}
