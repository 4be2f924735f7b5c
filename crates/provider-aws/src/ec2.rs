//! EC2 as this plugin uses it: the few API calls it makes, each through the rate limiter and
//! each error classified. The SDK's own retries are off so that every retry is the limiter's,
//! counted and paced by EC2's buckets.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder;
use aws_sdk_ec2::types::{Filter, Instance, InstanceStateName, Tag, Volume};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use infrakit_spi::types::Tags;

use crate::error::{Ec2Error, ErrorKind};
use crate::options::AwsOptions;
use crate::rate::{Api, Limiter};

/// Instances per DescribeInstances page: EC2's maximum, so a large group is few calls.
const DESCRIBE_PAGE_SIZE: i32 = 1000;

/// One attempt of one call may take this long before it counts as failed and is retried: EC2
/// answers in well under a second, so a minute means a lost connection, not a slow server.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Connecting to the endpoint may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The name under which credentials from the options appear in the SDK's logs.
const CREDENTIALS_SOURCE: &str = "infrakit-aws-options";

/// The states in which an instance counts as existing: launched and not yet on its way out.
pub const LIVE_STATES: [&str; 2] = ["pending", "running"];

/// An EC2 client for one region and account.
#[derive(Debug, Clone)]
pub struct Ec2 {
    client: Client,
    limiter: Arc<Limiter>,
}

impl Ec2 {
    /// A client configured from the AWS chain with `options` over it.
    pub async fn connect(options: &AwsOptions) -> Self {
        let https =
            aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts);
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &options.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let (Some(id), Some(secret)) = (&options.access_key_id, &options.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(id, secret, None, None, CREDENTIALS_SOURCE));
        }
        if let Some(endpoint) = &options.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        Self { client: Client::new(&loader.load().await), limiter: Arc::new(Limiter::new()) }
    }

    /// The limiter, for its counters.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// A launch request with nothing set yet.
    pub fn run_instances_request(&self) -> RunInstancesFluentBuilder {
        self.client.run_instances()
    }

    /// Launches one instance.
    pub async fn run_instance(&self, request: RunInstancesFluentBuilder) -> Result<Instance, Ec2Error> {
        let api = Api::RunInstances;
        let output = self
            .limiter
            .call(api, 1, || async { request.clone().send().await.map_err(|e| Ec2Error::from_sdk(api, e)) })
            .await?;
        output
            .instances
            .and_then(|i| i.into_iter().next())
            .ok_or_else(|| Ec2Error::new(api, ErrorKind::Transient, "EC2 answered RunInstances without an instance"))
    }

    /// The instances in a live state that carry all of `tags`, every page of them.
    pub async fn live_instances(&self, tags: &Tags) -> Result<Vec<Instance>, Ec2Error> {
        let mut filters = vec![filter("instance-state-name", LIVE_STATES)];
        filters.extend(tags.iter().map(|(k, v)| filter(&format!("tag:{k}"), [v.as_str()])));
        self.describe_instances(filters).await
    }

    /// The instance with this ID, whatever its state, if EC2 knows it.
    pub async fn instance(&self, id: &str) -> Result<Option<Instance>, Ec2Error> {
        Ok(self.describe_instances(vec![filter("instance-id", [id])]).await?.into_iter().next())
    }

    async fn describe_instances(&self, filters: Vec<Filter>) -> Result<Vec<Instance>, Ec2Error> {
        let api = Api::DescribeInstances;
        let mut instances = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let request = self
                .client
                .describe_instances()
                .set_filters(Some(filters.clone()))
                .max_results(DESCRIBE_PAGE_SIZE)
                .set_next_token(next_token.clone());
            let page = self
                .limiter
                .call(api, 1, || async { request.clone().send().await.map_err(|e| Ec2Error::from_sdk(api, e)) })
                .await?;
            instances.extend(
                page.reservations.unwrap_or_default().into_iter().flat_map(|r| r.instances.unwrap_or_default()),
            );
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(token) => next_token = Some(token),
                None => return Ok(instances),
            }
        }
    }

    /// Puts these tags on a resource, overwriting values of keys it has.
    pub async fn create_tags(&self, resource: &str, tags: &Tags) -> Result<(), Ec2Error> {
        let api = Api::CreateTags;
        let request = self.client.create_tags().resources(resource).set_tags(Some(ec2_tags(tags)));
        self.limiter
            .call(api, 1, || async { request.clone().send().await.map_err(|e| Ec2Error::from_sdk(api, e)) })
            .await?;
        Ok(())
    }

    /// Terminates an instance.
    pub async fn terminate(&self, id: &str) -> Result<(), Ec2Error> {
        let api = Api::TerminateInstances;
        let request = self.client.terminate_instances().instance_ids(id);
        self.limiter
            .call(api, 1, || async { request.clone().send().await.map_err(|e| Ec2Error::from_sdk(api, e)) })
            .await?;
        Ok(())
    }

    /// The volumes that carry this tag.
    pub async fn volumes_tagged(&self, key: &str, value: &str) -> Result<Vec<Volume>, Ec2Error> {
        let api = Api::DescribeVolumes;
        let request = self.client.describe_volumes().filters(filter(&format!("tag:{key}"), [value]));
        let output = self
            .limiter
            .call(api, 1, || async { request.clone().send().await.map_err(|e| Ec2Error::from_sdk(api, e)) })
            .await?;
        Ok(output.volumes.unwrap_or_default())
    }

    /// The volume with this ID, if EC2 knows it.
    pub async fn volume(&self, id: &str) -> Result<Option<Volume>, Ec2Error> {
        let api = Api::DescribeVolumes;
        let request = self.client.describe_volumes().filters(filter("volume-id", [id]));
        let output = self
            .limiter
            .call(api, 1, || async { request.clone().send().await.map_err(|e| Ec2Error::from_sdk(api, e)) })
            .await?;
        Ok(output.volumes.unwrap_or_default().into_iter().next())
    }

    /// Attaches a volume to an instance as `device`.
    pub async fn attach_volume(&self, instance: &str, volume: &str, device: &str) -> Result<(), Ec2Error> {
        let api = Api::AttachVolume;
        let request = self.client.attach_volume().instance_id(instance).volume_id(volume).device(device);
        self.limiter
            .call(api, 1, || async { request.clone().send().await.map_err(|e| Ec2Error::from_sdk(api, e)) })
            .await?;
        Ok(())
    }
}

/// Whether an instance is on its way out or gone.
pub fn is_gone(instance: &Instance) -> bool {
    matches!(
        instance.state.as_ref().and_then(|s| s.name.as_ref()),
        Some(InstanceStateName::ShuttingDown | InstanceStateName::Terminated)
    )
}

/// Whether an instance is running.
pub fn is_running(instance: &Instance) -> bool {
    matches!(instance.state.as_ref().and_then(|s| s.name.as_ref()), Some(InstanceStateName::Running))
}

/// Tags in EC2's form.
pub fn ec2_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn filter<'a>(name: &str, values: impl IntoIterator<Item = &'a str>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().map(str::to_owned).collect())).build()
}
