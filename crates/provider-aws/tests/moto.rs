//! The plugin against moto, an EC2 emulator on a loopback port: provision, describe, label,
//! destroy, idempotent retries and throttling injected at the HTTP layer.
//!
//! `scripts/test.sh` starts moto and names it in `INFRAKIT_TEST_MOTO_URL`. Without it these
//! tests skip on a developer's machine and fail in CI (`CI=true`), so CI cannot pass without them.
//! Tests share one moto and never reset it: each works in a group of its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_ec2::types::InstanceAttributeName;
use infrakit_provider_aws::rate::Api;
use infrakit_provider_aws::{AwsOptions, Ec2InstancePlugin};
use infrakit_spi::instance::{Attachment, DestroyContext, InstancePlugin, Spec};
use infrakit_spi::types::Tags;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The variable naming moto's URL.
const MOTO_URL_ENV: &str = "INFRAKIT_TEST_MOTO_URL";

/// An AMI ID; moto launches any.
const IMAGE: &str = "ami-0123456789abcdef0";

/// The region the tests use; moto keeps one state per region.
const REGION: &str = "us-east-1";

/// moto's URL, or `None` to skip outside CI.
fn moto_url() -> Option<String> {
    match std::env::var(MOTO_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{MOTO_URL_ENV} is not set: CI must run the EC2 tests against moto (scripts/test.sh starts it)")
        }
        _ => {
            eprintln!("skipped: {MOTO_URL_ENV} is not set");
            None
        }
    }
}

fn options(endpoint: &str) -> AwsOptions {
    AwsOptions {
        region: Some(REGION.into()),
        endpoint: Some(endpoint.into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        ..AwsOptions::default()
    }
}

/// A group name no other test uses.
fn unique_group(test: &str) -> String {
    format!("{test}-{:x}", rand::random::<u32>())
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn spec(group: &str, extra: &[(&str, &str)]) -> Spec {
    let mut tags = tags(&[("infrakit.group", group)]);
    tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Spec {
        properties: Some(json!({
            "Tags": {"Name": "infrakit-test", "tier": "from-properties"},
            "RunInstancesInput": {"ImageId": IMAGE, "InstanceType": "t3.micro"},
        })),
        tags,
        init: "#!/bin/sh\necho hello\n".into(),
        ..Spec::default()
    }
}

/// The SDK client, to look at what the plugin did from the outside.
async fn sdk(endpoint: &str) -> aws_sdk_ec2::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .load()
        .await;
    aws_sdk_ec2::Client::new(&config)
}

#[tokio::test]
async fn provision_tags_at_launch_and_passes_init_as_user_data() {
    let Some(url) = moto_url() else { return };
    let plugin = Ec2InstancePlugin::new(options(&url));
    let group = unique_group("provision");
    let mut spec = spec(&group, &[("tier", "from-spec")]);
    spec.logical_id = Some("db-1".into());
    spec.tags.insert("infrakit.logical_id".into(), "db-1".into());
    let id = plugin.provision(spec).await.unwrap();
    assert!(id.as_str().starts_with("i-"), "{id}");

    let listed = plugin.describe_instances(&tags(&[("infrakit.group", &group)]), true).await.unwrap();
    assert_eq!(listed.len(), 1);
    let instance = &listed[0];
    assert_eq!(instance.id, id);
    assert_eq!(instance.tags["Name"], "infrakit-test");
    assert_eq!(instance.tags["tier"], "from-spec", "the spec's tags win over the properties'");
    assert_eq!(instance.logical_id.as_ref().unwrap().as_str(), "db-1", "a pet is named by its tag");
    let properties = instance.properties.as_ref().unwrap();
    assert_eq!(properties["InstanceType"], "t3.micro");
    assert_eq!(properties["State"]["Name"], "running");

    let user_data = sdk(&url)
        .await
        .describe_instance_attribute()
        .instance_id(id.as_str())
        .attribute(InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let encoded = user_data.user_data().and_then(|u| u.value()).unwrap();
    assert_eq!(aws_smithy_types::base64::decode(encoded).unwrap(), b"#!/bin/sh\necho hello\n");
}

#[tokio::test]
async fn describe_matches_every_tag_and_only_live_instances() {
    let Some(url) = moto_url() else { return };
    let plugin = Ec2InstancePlugin::new(options(&url));
    let group = unique_group("describe");
    let web = plugin.provision(spec(&group, &[("role", "web")])).await.unwrap();
    let db = plugin.provision(spec(&group, &[("role", "db")])).await.unwrap();
    let gone = plugin.provision(spec(&group, &[("role", "web")])).await.unwrap();
    plugin.destroy(&gone, DestroyContext::TERMINATE).await.unwrap();

    let ids = |listed: Vec<infrakit_spi::instance::Description>| listed.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let group_tag = ("infrakit.group", group.as_str());
    let mut all = ids(plugin.describe_instances(&tags(&[group_tag]), false).await.unwrap());
    all.sort();
    let mut expected = vec![web.clone(), db.clone()];
    expected.sort();
    assert_eq!(all, expected, "the terminated instance is not listed");
    assert_eq!(ids(plugin.describe_instances(&tags(&[group_tag, ("role", "web")]), false).await.unwrap()), [web]);
    let listed = plugin.describe_instances(&tags(&[group_tag, ("role", "db")]), false).await.unwrap();
    assert!(listed[0].properties.is_none(), "properties only when asked");
    assert!(listed[0].logical_id.is_some(), "cattle are named by their private IP");
}

#[tokio::test]
async fn namespace_tags_scope_launches_and_listings() {
    let Some(url) = moto_url() else { return };
    let group = unique_group("namespace");
    let mut scoped = options(&url);
    scoped.namespace = tags(&[("stack", &group)]);
    let plugin = Ec2InstancePlugin::new(scoped);
    let other = Ec2InstancePlugin::new(options(&url));
    let id = plugin.provision(spec(&group, &[])).await.unwrap();
    other.provision(spec(&group, &[])).await.unwrap();
    let listed = plugin.describe_instances(&tags(&[("infrakit.group", &group)]), false).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].tags["stack"], group);
}

#[tokio::test]
async fn label_merges_tags_and_destroy_terminates() {
    let Some(url) = moto_url() else { return };
    let plugin = Ec2InstancePlugin::new(options(&url));
    let group = unique_group("label");
    let id = plugin.provision(spec(&group, &[("infrakit.config.hash", "bootstrap")])).await.unwrap();
    let relabel = tags(&[("infrakit.config.hash", "abc"), ("owner", "ops"), ("aws:reserved", "x")]);
    plugin.label(&id, &relabel).await.unwrap();
    let listed =
        plugin.describe_instances(&tags(&[("infrakit.group", &group), ("owner", "ops")]), false).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].tags["infrakit.config.hash"], "abc");
    assert_eq!(listed[0].tags["Name"], "infrakit-test", "labels merge into the existing tags");
    assert!(!listed[0].tags.contains_key("aws:reserved"));

    plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
    assert!(plugin.describe_instances(&tags(&[("infrakit.group", &group)]), false).await.unwrap().is_empty());
    let error = plugin.destroy(&"i-00000000000000000".into(), DestroyContext::TERMINATE).await.unwrap_err();
    assert!(matches!(error, infrakit_spi::Error::NotFound(_)), "{error:?}");
}

#[tokio::test]
async fn a_retried_provision_with_the_same_token_creates_one_instance() {
    let Some(url) = moto_url() else { return };
    let group = unique_group("retry");
    let provision = spec(&group, &[("infrakit.provision.token", "t-7")]);
    let first = Ec2InstancePlugin::new(options(&url)).provision(provision.clone()).await.unwrap();
    // A new plugin, as after a restart: the retry is recognised from EC2's state, not memory.
    let again = Ec2InstancePlugin::new(options(&url)).provision(provision.clone()).await.unwrap();
    assert_eq!(again, first);
    let listed = Ec2InstancePlugin::new(options(&url))
        .describe_instances(&tags(&[("infrakit.group", &group)]), false)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);

    let other = spec(&group, &[("infrakit.provision.token", "t-8")]);
    let second = Ec2InstancePlugin::new(options(&url)).provision(other).await.unwrap();
    assert_ne!(second, first, "another provision token is another instance");
}

#[tokio::test]
async fn ebs_attachments_and_attach_volume_inputs_are_attached() {
    let Some(url) = moto_url() else { return };
    let client = sdk(&url).await;
    let group = unique_group("ebs");
    let make_volume = |tag: Option<String>| {
        let client = client.clone();
        async move {
            let mut request = client.create_volume().availability_zone(format!("{REGION}a")).size(1);
            if let Some(tag) = tag {
                let tag = aws_sdk_ec2::types::Tag::builder().key("docker-infrakit-volume").value(tag).build();
                request = request.tag_specifications(
                    aws_sdk_ec2::types::TagSpecification::builder()
                        .resource_type(aws_sdk_ec2::types::ResourceType::Volume)
                        .tags(tag)
                        .build(),
                );
            }
            request.send().await.unwrap().volume_id.unwrap()
        }
    };
    let tagged = make_volume(Some(format!("{group}-data"))).await;
    let named = make_volume(None).await;
    let mut spec = spec(&group, &[]);
    spec.properties = Some(json!({
        "RunInstancesInput": {"ImageId": IMAGE, "Placement": {"AvailabilityZone": format!("{REGION}a")}},
        "AttachVolumeInputs": [{"Device": "/dev/sdf", "VolumeId": named, "InstanceId": null}],
    }));
    spec.attachments = vec![Attachment { id: format!("{group}-data"), r#type: "ebs".into() }];
    let plugin = Ec2InstancePlugin::new(options(&url));
    let id = plugin.provision(spec).await.unwrap();

    let volumes = client.describe_volumes().volume_ids(&tagged).volume_ids(&named).send().await.unwrap();
    let devices: BTreeMap<_, _> = volumes
        .volumes()
        .iter()
        .map(|v| {
            let attachment = &v.attachments()[0];
            assert_eq!(attachment.instance_id(), Some(id.as_str()));
            (v.volume_id().unwrap().to_owned(), attachment.device().unwrap().to_owned())
        })
        .collect();
    assert_eq!(devices[&named], "/dev/sdf");
    assert_eq!(devices[&tagged], "/dev/sdg", "the ebs attachment takes the next free device");
}

#[tokio::test]
async fn throttling_at_the_http_layer_is_backed_off_and_counted() {
    let Some(url) = moto_url() else { return };
    let throttles = 3;
    let proxy = ThrottlingProxy::start(&url, throttles).await;
    let plugin = Ec2InstancePlugin::new(options(&proxy.url));
    let group = unique_group("throttle");
    let id = plugin.provision(spec(&group, &[("infrakit.provision.token", "t-1")])).await.unwrap();
    assert_eq!(proxy.throttled.load(Ordering::SeqCst), throttles);

    let counts = plugin.api_counts();
    let throttled: u64 = counts.values().map(|c| c.throttled).sum();
    assert_eq!(throttled, u64::from(throttles), "{counts:?}");
    assert_eq!(counts[&Api::RunInstances].calls, 1, "{counts:?}");
    assert!(counts.values().all(|c| c.failed == 0), "{counts:?}");
    let listed = plugin.describe_instances(&tags(&[("infrakit.group", &group)]), false).await.unwrap();
    assert_eq!(listed.iter().map(|d| &d.id).collect::<Vec<_>>(), [&id]);
}

/// A TCP proxy in front of moto whose first connections each get one `RequestLimitExceeded`
/// answer, as EC2 gives it, and are closed; later connections pass through untouched.
struct ThrottlingProxy {
    url: String,
    throttled: Arc<AtomicU32>,
}

/// EC2's throttling answer.
const THROTTLE_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors>\
<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>";

impl ThrottlingProxy {
    async fn start(upstream: &str, throttles: u32) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let throttled = Arc::new(AtomicU32::new(0));
        let count = throttled.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if count.fetch_add(1, Ordering::SeqCst) < throttles {
                    tokio::spawn(async move { throttle(&mut client).await });
                } else {
                    count.fetch_sub(1, Ordering::SeqCst);
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        let mut server = TcpStream::connect(&upstream).await.unwrap();
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    });
                }
            }
        });
        Self { url, throttled }
    }
}

/// Reads one request and answers it with EC2's throttling error.
async fn throttle(client: &mut TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = client.read(&mut buffer).await.unwrap();
        request.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&request);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length || read == 0 {
                break;
            }
        } else if read == 0 {
            break;
        }
    }
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{THROTTLE_BODY}",
        THROTTLE_BODY.len()
    );
    client.write_all(response.as_bytes()).await.unwrap();
    client.shutdown().await.unwrap();
}
