//! Independent clients: `curl` as the original's docs use it, and a standard-library Python
//! client (`tests/clients/infrakit_client.py`) that shares no code with this crate.

use std::path::Path;

use infrakit_rpc::PluginServer;
use infrakit_spi::instance::InstanceId;
use tokio::process::Command;

use crate::support::{MemoryGroups, Plugins, Running};

/// Whether `program` can be run; a test that needs it says why it skips otherwise.
async fn available(program: &str) -> bool {
    let found = Command::new(program).arg("--version").output().await.is_ok_and(|o| o.status.success());
    if !found {
        println!("skipping: {program} is not installed");
    }
    found
}

#[tokio::test]
async fn curl_as_in_the_original_docs() {
    if !available("curl").await {
        return;
    }
    let running =
        Running::start(PluginServer::new("group-stateless").group("", std::sync::Arc::new(MemoryGroups::default())))
            .await;
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--unix-socket"])
        .arg(&running.socket)
        .args(["http://rpc", "-X", "POST", "-H", "Content-Type: application/json", "-d"])
        .arg(r#"{"jsonrpc":"2.0","method":"Group.InspectGroups","params":{},"id":1}"#)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "{\"jsonrpc\":\"2.0\",\"result\":{\"Name\":\"\",\"ID\":\"\",\"Groups\":null},\"id\":1}\n"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_python_client_speaks_the_protocol() {
    if !available("python3").await {
        return;
    }
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("simulator")).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/infrakit_client.py");
    let output = Command::new("python3").arg(script).arg(&running.socket).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "hello Flavor/0.1.1 .\n\
         hello Group/0.1.1 .,workers\n\
         hello Instance/0.6.1 .,compute\n\
         provision compute inst-1\n\
         describe inst-1 from python\n\
         destroy error -32000 instance nope not found\n\
         commit simulator/workers workers Managing 2 instances\n\
         inspect workers\n\
         size 2\n\
         set-size error -32000 size cannot be negative\n"
    );
    assert!(plugins.computes.state().instances.contains_key(&InstanceId::from("inst-1")));
    assert_eq!(plugins.workers.state().sizes[&"workers".into()], 2);
    running.stop().await;
}
