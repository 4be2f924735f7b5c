//! Bad input of every kind gets the right JSON-RPC error or HTTP status, and never reaches a
//! plugin: the plugins' state is the same afterwards.

use infrakit_rpc::MAX_REQUEST_BODY;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::support::{Plugins, Running, post, raw};

/// The `(code, message)` of a JSON-RPC error response with the given id.
fn error_of(response: &Value, id: Value) -> (i64, String) {
    assert_eq!(response["jsonrpc"], "2.0");
    assert_eq!(response["id"], id, "{response}");
    assert_eq!(response["error"]["data"], Value::Null, "{response}");
    assert!(response.get("result").is_none(), "{response}");
    (response["error"]["code"].as_i64().unwrap(), response["error"]["message"].as_str().unwrap().to_owned())
}

async fn seeded() -> (Plugins, Running) {
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("simulator")).await;
    let seed =
        json!({"jsonrpc": "2.0", "method": "Instance.Provision", "params": {"Spec": {"Tags": {"a": "b"}}}, "id": 1});
    assert_eq!(post(&running.socket, &seed.to_string()).await.json()["result"]["ID"], "inst-1");
    let spec = json!({"ID": "workers", "Properties": {"Allocation": {"Size": 2}}});
    let commit = json!({"jsonrpc": "2.0", "method": "Group.CommitGroup",
        "params": {"Name": "simulator/workers", "Spec": spec}, "id": 2});
    assert_eq!(post(&running.socket, &commit.to_string()).await.json()["result"]["Details"], "Managing 2 instances");
    (plugins, running)
}

#[tokio::test]
async fn malformed_envelopes_and_unknown_methods() {
    let (plugins, running) = seeded().await;
    let before = plugins.snapshot();
    let socket = &running.socket;

    let (code, _) = error_of(&post(socket, "{\"jsonrpc\":\"2.0\",").await.json(), Value::Null);
    assert_eq!(code, -32700);
    let (code, _) = error_of(&post(socket, "not json at all").await.json(), Value::Null);
    assert_eq!(code, -32700);
    let wrong_version = r#"{"jsonrpc":"1.0","method":"Instance.Provision","params":{"Spec":{}},"id":7}"#;
    assert_eq!(error_of(&post(socket, wrong_version).await.json(), json!(7)), (-32600, "jsonrpc must be 2.0".into()));
    let no_version = r#"{"method":"Instance.Provision","params":{"Spec":{}},"id":"x"}"#;
    assert_eq!(error_of(&post(socket, no_version).await.json(), json!("x")).0, -32600);
    let array = r#"["2.0","Instance.Provision",{"Spec":{}},1]"#;
    assert_eq!(error_of(&post(socket, array).await.json(), json!(1)).0, -32600);

    let call = |method: &str| json!({"jsonrpc": "2.0", "method": method, "params": {}, "id": 3}).to_string();
    assert_eq!(
        error_of(&post(socket, &call("Nope.Provision")).await.json(), json!(3)),
        (-32000, r#"rpc: can't find service "Nope.Provision""#.into())
    );
    assert_eq!(
        error_of(&post(socket, &call("Instance.Nope")).await.json(), json!(3)),
        (-32000, r#"rpc: can't find method "Instance.Nope""#.into())
    );
    assert_eq!(
        error_of(&post(socket, &call("Handshake.Nope")).await.json(), json!(3)),
        (-32000, r#"rpc: can't find method "Handshake.Nope""#.into())
    );
    assert_eq!(
        error_of(&post(socket, &call("instance.provision")).await.json(), json!(3)).1,
        r#"rpc: can't find service "instance.provision""#,
        "names are case-sensitive"
    );
    assert_eq!(
        error_of(&post(socket, &call("Instance")).await.json(), json!(3)),
        (-32000, r#"rpc: service/method request ill-formed: "Instance""#.into())
    );
    assert_eq!(plugins.snapshot(), before);
    running.stop().await;
}

#[tokio::test]
async fn wrong_and_missing_params() {
    let (plugins, running) = seeded().await;
    let before = plugins.snapshot();
    let socket = &running.socket;
    let call = |method: &str, params: Value| {
        json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 9}).to_string()
    };
    let invalid = [
        call("Instance.Provision", json!({"Spec": "a spec"})),
        call("Instance.Provision", json!({})),
        call("Instance.Provision", json!([])),
        call("Instance.Provision", json!("Spec")),
        call("Instance.Destroy", json!({"Instance": "inst-1"})),
        call("Instance.Destroy", json!({"Instance": "inst-1", "Context": {"Reason": "because"}})),
        call("Instance.Destroy", json!({"Instance": 1, "Context": {"Reason": "terminate"}})),
        call("Instance.Label", json!({"Labels": {"x": "y"}})),
        call("Instance.Label", json!({"Instance": "inst-1", "Labels": {"x": 1}})),
        call("Instance.DescribeInstances", json!({"Tags": ["a"]})),
        call("Flavor.Drain", json!({"Properties": {}})),
        call("Group.CommitGroup", json!({"Name": "simulator/workers"})),
        call("Group.SetSize", json!({"Name": "simulator/workers", "ID": "workers", "Size": "ten"})),
        call("Group.SetSize", json!({"Name": "simulator/workers", "ID": "workers"})),
        call("Group.SetSize", json!({"Name": "simulator/workers", "ID": "workers", "Size": 1.5})),
        call("Group.DestroyInstances", json!({"Name": "simulator/workers", "ID": "workers"})),
        call("Handshake.Hello", json!([1])),
        json!({"jsonrpc": "2.0", "method": "Instance.Provision", "id": 9}).to_string(),
    ];
    for body in &invalid {
        let (code, message) = error_of(&post(socket, body).await.json(), json!(9));
        assert_eq!(code, -32600, "{body}: {message}");
    }
    assert_eq!(
        error_of(
            &post(socket, &call("Group.SetSize", json!({"Name": "simulator/workers", "ID": "workers", "Size": -1})))
                .await
                .json(),
            json!(9)
        ),
        (-32000, "size cannot be negative".into())
    );
    assert_eq!(
        error_of(
            &post(socket, &call("Instance.Provision", json!({"Type": "disk", "Spec": {}}))).await.json(),
            json!(9)
        ),
        (-32000, "no-plugin:disk".into())
    );
    assert_eq!(
        error_of(
            &post(socket, &call("Group.SetSize", json!({"Name": "x/y/z", "ID": "workers", "Size": 3}))).await.json(),
            json!(9)
        ),
        (-32000, "not found: x/y/z (key=y/z)".into())
    );
    assert_eq!(plugins.snapshot(), before);

    // Gorilla's leniencies stay: unknown fields are ignored, `[params]` is unwrapped.
    let lenient = call("Group.Size", json!([{"Name": "simulator/workers", "ID": "workers", "Extra": true}]));
    assert_eq!(post(socket, &lenient).await.json()["result"]["Size"], 2);
    running.stop().await;
}

#[tokio::test]
async fn notifications_get_no_body() {
    let (plugins, running) = seeded().await;
    let notification =
        r#"{"jsonrpc":"2.0","method":"Group.SetSize","params":{"Name":"simulator/workers","ID":"workers","Size":4}}"#;
    let response = post(&running.socket, notification).await;
    assert_eq!((response.status.as_u16(), response.body.len()), (200, 0));
    assert_eq!(plugins.workers.state().sizes[&"workers".into()], 4, "a notification is still executed, as in gorilla");
    let null_id = r#"{"jsonrpc":"2.0","method":"Nope.Nope","params":{},"id":null}"#;
    assert_eq!(post(&running.socket, null_id).await.body.len(), 0);
    running.stop().await;
}

#[tokio::test]
async fn http_level_errors() {
    let (plugins, running) = seeded().await;
    let before = plugins.snapshot();
    let socket = &running.socket;
    let body = r#"{"jsonrpc":"2.0","method":"Instance.Provision","params":{"Spec":{}},"id":1}"#.as_bytes().to_vec();

    let get = raw(socket, "GET", "/", None, vec![]).await;
    assert_eq!((get.status.as_u16(), get.text()), (405, "rpc: POST method required, received GET".into()));
    let put = raw(socket, "PUT", "/", Some("application/json"), body.clone()).await;
    assert_eq!(put.status, 405);
    let text = raw(socket, "POST", "/", Some("text/plain; charset=utf-8"), body.clone()).await;
    assert_eq!((text.status.as_u16(), text.text()), (415, "rpc: unrecognized Content-Type: text/plain".into()));
    let form = raw(socket, "POST", "/", Some("application/x-www-form-urlencoded"), body.clone()).await;
    assert_eq!(form.status, 415);
    let nowhere = raw(socket, "POST", "/rpc", Some("application/json"), body.clone()).await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(plugins.snapshot(), before);

    let untyped = raw(socket, "POST", "/", None, body.clone()).await;
    assert_eq!(untyped.json()["result"]["ID"], "inst-2", "a missing content type is accepted");
    let charset = raw(socket, "POST", "/", Some("Application/JSON; charset=UTF-8"), body).await;
    assert_eq!(charset.json()["result"]["ID"], "inst-3");
    running.stop().await;
}

/// Writes a request head and then `body_chunks` while reading the answer, as a client that does
/// not wait for the server would; returns the status line and the body of the answer.
async fn oversized(socket: &std::path::Path, head: String, chunks: Vec<Vec<u8>>) -> (String, String) {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        // The server may stop reading and close; the writes then fail, which is expected.
        if writer.write_all(head.as_bytes()).await.is_ok() {
            for chunk in chunks {
                if writer.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut answer = Vec::new();
    reader.read_to_end(&mut answer).await.unwrap_or_default();
    writing.await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let (plugins, running) = seeded().await;
    let before = plugins.snapshot();
    let over = MAX_REQUEST_BODY + 1;
    let expected = format!(
        "{{\"jsonrpc\":\"2.0\",\"error\":{{\"code\":-32600,\"message\":\"request body exceeds {MAX_REQUEST_BODY} bytes\",\"data\":null}},\"id\":null}}\n"
    );

    let declared =
        format!("POST / HTTP/1.1\r\nhost: rpc\r\ncontent-type: application/json\r\ncontent-length: {over}\r\n\r\n");
    let (status, body) = oversized(&running.socket, declared, vec![vec![b' '; over]]).await;
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 413 Payload Too Large", expected.as_str()));

    let chunked =
        "POST / HTTP/1.1\r\nhost: rpc\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    let chunk = 1024 * 1024;
    let chunks = (0..=over / chunk)
        .map(|_| [format!("{chunk:x}\r\n").into_bytes(), vec![b' '; chunk], b"\r\n".to_vec()].concat())
        .collect();
    let (status, body) = oversized(&running.socket, chunked.to_owned(), chunks).await;
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 413 Payload Too Large", expected.as_str()));

    // At the limit exactly, a (space-padded) request is served.
    let call = r#"{"jsonrpc":"2.0","method":"Group.Size","params":{"Name":"simulator/workers","ID":"workers"},"id":1}"#;
    let mut padded = call.as_bytes().to_vec();
    padded.resize(MAX_REQUEST_BODY, b' ');
    assert_eq!(raw(&running.socket, "POST", "/", Some("application/json"), padded).await.json()["result"]["Size"], 2);
    assert_eq!(plugins.snapshot(), before);
    running.stop().await;
}
