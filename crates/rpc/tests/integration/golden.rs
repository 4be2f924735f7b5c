//! The exact bytes of every method's request and response, as the original writes them, both
//! ways: `tests/golden/<Service.Method>.request.json` is what the typed clients send (captured by a
//! raw HTTP server that answers with the golden response), and `<Service.Method>.response.json` is
//! what the server writes for that request. Request ids are normalised to 1, since a client
//! numbers its calls.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use infrakit_rpc::{Client, FlavorClient, GroupClient, InstanceClient, PluginServer};
use infrakit_spi::Result;
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{AllocationMethod, GroupDescription, GroupId, GroupPlugin, GroupSpec, Index};
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, Spec};
use infrakit_spi::types::Tags;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::support::{Running, post};

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Rewrites the trailing `"id":N}` of a request or response to `"id":1}`.
fn with_id_one(message: &str) -> String {
    let message = message.trim_end_matches('\n');
    let (head, _) = message.rsplit_once(",\"id\":").unwrap_or_else(|| panic!("no id in {message}"));
    format!("{head},\"id\":1}}")
}

fn spec() -> Spec {
    Spec {
        properties: Some(json!({"Note": "x"})),
        tags: [
            ("infrakit.group", "workers"),
            ("tier", "web"),
            ("infrakit.config.hash", "rvhmljoz72va6rrmbypwsxahwkb6g6sq"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        init: "echo hi".into(),
        ..Spec::default()
    }
}

fn member() -> Description {
    Description {
        id: "i-1".into(),
        tags: [("infrakit.group".to_owned(), "workers".to_owned())].into(),
        ..Default::default()
    }
}

fn flavor_properties() -> Value {
    json!({"Init": ["echo hi"]})
}

/// Plugins that answer the golden requests with the golden results, whatever the state.
struct Scripted;

#[async_trait]
impl InstancePlugin for Scripted {
    async fn validate(&self, _: Option<&Value>) -> Result<()> {
        Ok(())
    }
    async fn provision(&self, _: Spec) -> Result<InstanceId> {
        Ok("1505889013394060520".into())
    }
    async fn label(&self, _: &InstanceId, _: &Tags) -> Result<()> {
        Ok(())
    }
    async fn destroy(&self, _: &InstanceId, _: DestroyContext) -> Result<()> {
        Ok(())
    }
    async fn describe_instances(&self, _: &Tags, _: bool) -> Result<Vec<Description>> {
        Ok(vec![Description { properties: Some(json!({"Note": "x"})), ..member() }])
    }
}

#[async_trait]
impl FlavorPlugin for Scripted {
    async fn validate(&self, _: Option<&Value>, _: &AllocationMethod) -> Result<()> {
        Ok(())
    }
    async fn prepare(&self, _: Option<&Value>, mut spec: Spec, _: &AllocationMethod, _: &Index) -> Result<Spec> {
        spec.init = "sudo service nginx start".into();
        spec.tags.insert("project".into(), "infrakit".into());
        Ok(spec)
    }
    async fn healthy(&self, _: Option<&Value>, _: &Description) -> Result<Health> {
        Ok(Health::Healthy)
    }
    async fn drain(&self, _: Option<&Value>, _: &Description) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl GroupPlugin for Scripted {
    async fn commit_group(&self, _: GroupSpec, _: bool) -> Result<String> {
        Ok("Managing 3 instances".into())
    }
    async fn free_group(&self, _: &GroupId) -> Result<()> {
        Ok(())
    }
    async fn describe_group(&self, _: &GroupId) -> Result<GroupDescription> {
        Ok(GroupDescription { instances: vec![member()], converged: true, ..Default::default() })
    }
    async fn destroy_group(&self, _: &GroupId) -> Result<()> {
        Ok(())
    }
    async fn inspect_groups(&self) -> Result<Vec<GroupSpec>> {
        Ok(vec![GroupSpec { id: "workers".into(), properties: Some(json!({"Allocation": {"Size": 3}})) }])
    }
    async fn destroy_instances(&self, _: &GroupId, _: &[InstanceId]) -> Result<()> {
        Ok(())
    }
    async fn size(&self, _: &GroupId) -> Result<u64> {
        Ok(5)
    }
    async fn set_size(&self, _: &GroupId, _: u64) -> Result<()> {
        Ok(())
    }
}

const METHODS: [&str; 18] = [
    "Handshake.Hello",
    "Instance.Validate",
    "Instance.Provision",
    "Instance.Label",
    "Instance.Destroy",
    "Instance.DescribeInstances",
    "Flavor.Validate",
    "Flavor.Prepare",
    "Flavor.Healthy",
    "Flavor.Drain",
    "Group.CommitGroup",
    "Group.FreeGroup",
    "Group.DescribeGroup",
    "Group.DestroyGroup",
    "Group.InspectGroups",
    "Group.DestroyInstances",
    "Group.Size",
    "Group.SetSize",
];

/// Makes the call of `method` that the golden request shows, through the typed clients.
async fn call(method: &str, client: Client) {
    let name = |n: &str| n.parse().unwrap();
    let instance = InstanceClient::new(client.clone(), &name("golden"));
    let flavor = FlavorClient::new(client.clone(), &name("golden"));
    let group = GroupClient::new(client.clone(), &name("mystack/workers"));
    let workers = GroupId::from("workers");
    let allocation = AllocationMethod { size: 3, logical_ids: vec![] };
    let outcome = match method {
        "Handshake.Hello" => client.hello().await.map(drop),
        "Instance.Validate" => instance.validate(Some(&json!({"Note": "custom field"}))).await,
        "Instance.Provision" => InstanceClient::new(client, &name("golden/compute")).provision(spec()).await.map(drop),
        "Instance.Label" => instance.label(&"i-123".into(), &[("k".to_owned(), "v".to_owned())].into()).await,
        "Instance.Destroy" => instance.destroy(&"i-123".into(), DestroyContext::TERMINATE).await,
        "Instance.DescribeInstances" => instance
            .describe_instances(&[("infrakit.group".to_owned(), "workers".to_owned())].into(), true)
            .await
            .map(drop),
        "Flavor.Validate" => flavor.validate(Some(&flavor_properties()), &allocation).await,
        "Flavor.Prepare" => {
            let index = Index { group: workers, sequence: 3 };
            flavor.prepare(Some(&flavor_properties()), spec(), &allocation, &index).await.map(drop)
        }
        "Flavor.Healthy" => flavor.healthy(Some(&flavor_properties()), &member()).await.map(drop),
        "Flavor.Drain" => flavor.drain(Some(&flavor_properties()), &member()).await,
        "Group.CommitGroup" => {
            let properties = json!({
                "Allocation": {"Size": 3},
                "Instance": {"Plugin": "simulator/compute", "Properties": {"Note": "x"}},
                "Flavor": {"Plugin": "vanilla", "Properties": {"Init": ["echo hi"]}}
            });
            let stateless = GroupClient::new(client, &name("group-stateless"));
            stateless.commit_group(GroupSpec { id: workers, properties: Some(properties) }, false).await.map(drop)
        }
        "Group.FreeGroup" => group.free_group(&workers).await,
        "Group.DescribeGroup" => group.describe_group(&workers).await.map(drop),
        "Group.DestroyGroup" => group.destroy_group(&workers).await,
        "Group.InspectGroups" => group.inspect_groups().await.map(drop),
        "Group.DestroyInstances" => group.destroy_instances(&workers, &["i-1".into(), "i-2".into()]).await,
        "Group.Size" => group.size(&workers).await.map(drop),
        "Group.SetSize" => group.set_size(&workers, 10).await,
        other => panic!("no call for {other}"),
    };
    outcome.unwrap_or_else(|e| panic!("{method}: {e}"));
}

/// A raw HTTP server that records request bodies and answers each with its golden response.
struct Capture {
    socket: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

impl Capture {
    async fn start(dir: &Path) -> Self {
        let socket = dir.join("capture");
        let listener = UnixListener::bind(&socket).unwrap();
        let capture = Self { socket, requests: Arc::default(), connections: Arc::default() };
        let (requests, connections) = (capture.requests.clone(), capture.connections.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(answer(stream, requests.clone()));
            }
        });
        capture
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

async fn answer(mut stream: UnixStream, requests: Arc<Mutex<Vec<String>>>) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .expect("content-length");
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed mid-body");
            buffer.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8(buffer[head_end..head_end + length].to_vec()).unwrap();
        buffer.drain(..head_end + length);
        let request: Value = serde_json::from_str(&body).unwrap();
        let method = request["method"].as_str().unwrap().to_owned();
        requests.lock().unwrap().push(body);
        let response =
            golden(&format!("{method}.response.json")).replace(",\"id\":1}", &format!(",\"id\":{}}}", request["id"]));
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n{response}",
            response.len()
        );
        stream.write_all(reply.as_bytes()).await.unwrap();
    }
}

#[tokio::test]
async fn clients_send_the_golden_requests() {
    let dir = tempfile::tempdir().unwrap();
    let capture = Capture::start(dir.path()).await;
    let hello = golden("Handshake.Hello.request.json");
    for method in METHODS {
        let client = Client::unix(&capture.socket);
        call(method, client).await;
        let sent = capture.take();
        let call = sent.last().unwrap_or_else(|| panic!("{method}: nothing sent"));
        assert_eq!(with_id_one(call), with_id_one(&golden(&format!("{method}.request.json"))), "{method}");
        if method != "Handshake.Hello" {
            assert_eq!(sent.len(), 2, "{method}: one handshake, then the call");
            assert_eq!(with_id_one(&sent[0]), with_id_one(&hello), "{method}: handshake");
        }
    }
    assert_eq!(capture.connections.load(Ordering::SeqCst), METHODS.len(), "one kept-alive connection per client");
}

#[tokio::test]
async fn a_typed_client_handshakes_once_and_reuses_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let capture = Capture::start(dir.path()).await;
    let client = InstanceClient::new(Client::unix(&capture.socket), &"golden".parse().unwrap());
    for _ in 0..5 {
        client.destroy(&"i-123".into(), DestroyContext::TERMINATE).await.unwrap();
    }
    let methods: Vec<String> = capture
        .take()
        .iter()
        .map(|body| serde_json::from_str::<Value>(body).unwrap()["method"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        methods,
        [
            "Handshake.Hello",
            "Instance.Destroy",
            "Instance.Destroy",
            "Instance.Destroy",
            "Instance.Destroy",
            "Instance.Destroy"
        ]
    );
    assert_eq!(capture.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_server_writes_the_golden_responses() {
    let scripted = Arc::new(Scripted);
    let server = PluginServer::new("golden")
        .instance("", scripted.clone())
        .instance("compute", scripted.clone())
        .flavor("", scripted.clone())
        .group("", scripted.clone())
        .group("workers", scripted);
    let running = Running::start(server).await;
    for method in METHODS {
        let response = post(&running.socket, golden(&format!("{method}.request.json")).trim_end()).await;
        assert_eq!(response.status, 200, "{method}");
        assert_eq!(response.headers["content-type"], "application/json; charset=utf-8", "{method}");
        assert_eq!(response.text(), golden(&format!("{method}.response.json")), "{method}");
    }
    running.stop().await;
}
