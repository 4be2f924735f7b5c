//! `Instance.DescribeInstances` over a real unix socket against a plugin holding 10 instances, at
//! concurrency 1 and 8: requests per second and p50/p99 latency of complete calls (typed client,
//! JSON encode, HTTP/1.1 over a pooled connection, server dispatch, JSON decode).
//!
//! Run: `cargo bench -p infrakit-rpc --bench rpc`. Server and client share one process and one
//! tokio runtime (a worker per core), as a plugin called by an in-process controller would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use infrakit_rpc::{Client, InstanceClient, PluginServer};
use infrakit_spi::Result;
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, Spec};
use infrakit_spi::types::Tags;
use serde_json::{Value, json};

/// Calls per measured run at each concurrency.
const REQUESTS: usize = 100_000;
/// Calls before measuring, to fill the connection pool and warm caches.
const WARMUP: usize = 5_000;
/// Instances the plugin describes on every call.
const INSTANCES: usize = 10;

/// A plugin whose `DescribeInstances` returns ten realistic descriptions.
struct TenInstances(Vec<Description>);

impl TenInstances {
    fn new() -> Self {
        let instances = (0..INSTANCES)
            .map(|i| Description {
                id: InstanceId(format!("i-0a1b2c3d4e5f6{i:04}")),
                logical_id: None,
                tags: [
                    ("infrakit.group", "workers"),
                    ("infrakit.config.hash", "rvhmljoz72va6rrmbypwsxahwkb6g6sq"),
                    ("tier", "web"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                properties: Some(json!({"Note": "bench", "InstanceType": "m5.large", "Zone": "us-east-1a"})),
            })
            .collect();
        Self(instances)
    }
}

#[async_trait]
impl InstancePlugin for TenInstances {
    async fn validate(&self, _: Option<&Value>) -> Result<()> {
        Ok(())
    }
    async fn provision(&self, _: Spec) -> Result<InstanceId> {
        Ok(InstanceId::default())
    }
    async fn label(&self, _: &InstanceId, _: &Tags) -> Result<()> {
        Ok(())
    }
    async fn destroy(&self, _: &InstanceId, _: DestroyContext) -> Result<()> {
        Ok(())
    }
    async fn describe_instances(&self, _: &Tags, properties: bool) -> Result<Vec<Description>> {
        Ok(self
            .0
            .iter()
            .map(|d| Description { properties: if properties { d.properties.clone() } else { None }, ..d.clone() })
            .collect())
    }
}

struct Run {
    concurrency: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[index]
    }

    fn report(&self) {
        println!(
            "concurrency {:>2}: {:>7} requests in {:>6.2?}  {:>8.0} req/s  p50 {:>6.1?}  p99 {:>6.1?}",
            self.concurrency,
            self.latencies.len(),
            self.elapsed,
            self.latencies.len() as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50),
            self.percentile(0.99),
        );
    }
}

/// Makes `requests` calls from `concurrency` tasks sharing one client.
async fn run(client: &InstanceClient, concurrency: usize, requests: usize) -> Run {
    let tags: Tags = [("infrakit.group".to_owned(), "workers".to_owned())].into();
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, tags) = (client.clone(), tags.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(requests / concurrency);
                for _ in 0..requests / concurrency {
                    let call = Instant::now();
                    let described = client.describe_instances(&tags, true).await.expect("describe");
                    latencies.push(call.elapsed());
                    assert_eq!(described.len(), INSTANCES);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Run { concurrency, elapsed, latencies }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = PluginServer::new("bench").instance("", Arc::new(TenInstances::new())).bind(dir.path()).await;
        let server = server.expect("bind");
        let socket = server.socket_path().to_owned();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));

        let client = InstanceClient::new(Client::unix(&socket), &"bench".parse().expect("name"));
        println!("Instance.DescribeInstances, {INSTANCES} instances with properties, unix socket, one process");
        for concurrency in [1, 8] {
            run(&client, concurrency, WARMUP).await;
            run(&client, concurrency, REQUESTS).await.report();
        }

        let _ = stop.send(());
        serving.await.expect("server task").expect("serve");
    });
}
