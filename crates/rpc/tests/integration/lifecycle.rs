//! A plugin's files in the plugins directory: claimed with the right modes, recovered when a dead
//! plugin left them behind, never touched when a live plugin owns them, removed on shutdown; and
//! discovery of what is there.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use infrakit_rpc::discovery::{self, Address};
use infrakit_rpc::{PluginServer, ServeError, plugin_info, qualified_name};
use infrakit_spi::Error;
use infrakit_spi::types::InterfaceSpec;
use serde_json::json;

use crate::support::{Plugins, Running, post, serve_in};

/// The pid of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().expect("run true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn describe_works(socket: &Path) {
    let call = r#"{"jsonrpc":"2.0","method":"Instance.DescribeInstances","params":{},"id":1}"#;
    assert_eq!(post(socket, call).await.json()["result"]["Type"], "");
}

#[tokio::test]
async fn claims_with_modes_and_cleans_up_on_shutdown() {
    let plugins = Plugins::default();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a/b/plugins");
    let (socket, stop, task) = serve_in(&dir, plugins.server("simulator")).await.unwrap();
    assert_eq!(socket, dir.join("simulator"));
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&socket), 0o600);
    let pid_file = dir.join("simulator.pid");
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), std::process::id().to_string());
    describe_works(&socket).await;

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(!socket.exists() && !pid_file.exists(), "socket and pid file are removed");
    assert!(dir.exists(), "the directory stays");
}

#[tokio::test]
async fn a_dropped_bound_server_releases_its_name() {
    let plugins = Plugins::default();
    let dir = tempfile::tempdir().unwrap();
    let bound = plugins.server("simulator").bind(dir.path()).await.unwrap();
    assert!(dir.path().join("simulator").exists());
    drop(bound);
    assert!(!dir.path().join("simulator").exists() && !dir.path().join("simulator.pid").exists());
}

#[tokio::test]
async fn stale_socket_and_pid_file_are_replaced() {
    let plugins = Plugins::default();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("simulator");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    std::fs::write(dir.path().join("simulator.pid"), dead_pid().to_string()).unwrap();

    let (_, stop, task) = serve_in(dir.path(), plugins.server("simulator")).await.unwrap();
    describe_works(&socket).await;
    assert_eq!(std::fs::read_to_string(dir.path().join("simulator.pid")).unwrap(), std::process::id().to_string());
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_stale_pid_file_alone_is_replaced() {
    let plugins = Plugins::default();
    let dir = tempfile::tempdir().unwrap();
    // A live pid (ours) but no socket: whoever wrote it is not serving this name.
    std::fs::write(dir.path().join("simulator.pid"), std::process::id().to_string()).unwrap();
    let (socket, stop, task) = serve_in(dir.path(), plugins.server("simulator")).await.unwrap();
    describe_works(&socket).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_socket_held_open_for_a_dead_plugin_is_replaced() {
    let plugins = Plugins::default();
    let dir = tempfile::tempdir().unwrap();
    // A socket that still accepts connections (an orphaned child could hold it) while the pid
    // file names a process that is gone.
    let orphan = std::os::unix::net::UnixListener::bind(dir.path().join("simulator")).unwrap();
    std::fs::write(dir.path().join("simulator.pid"), dead_pid().to_string()).unwrap();
    let (socket, stop, task) = serve_in(dir.path(), plugins.server("simulator")).await.unwrap();
    describe_works(&socket).await;
    drop(orphan);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn something_else_with_the_name_is_never_removed() {
    let plugins = Plugins::default();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("simulator"), "my notes").unwrap();
    let error = plugins.server("simulator").bind(dir.path()).await.err().expect("refused");
    assert!(matches!(error, ServeError::NotASocket { .. }), "{error:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("simulator")).unwrap(), "my notes");
    assert!(!dir.path().join("simulator.pid").exists());
}

#[tokio::test]
async fn a_live_plugin_is_never_touched() {
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("simulator")).await;
    let dir = running.plugins_dir();
    let pid_before = std::fs::read_to_string(dir.join("simulator.pid")).unwrap();

    let error = plugins.server("simulator").bind(&dir).await.err().expect("refused");
    let message = error.to_string();
    assert!(matches!(error, ServeError::Conflict { .. }), "{error:?}");
    assert_eq!(
        message,
        format!("plugin 'simulator' is already running (pid {}) at {}", std::process::id(), running.socket.display())
    );
    assert!(matches!(Error::from(error), Error::Conflict(m) if m == message));

    assert_eq!(std::fs::read_to_string(dir.join("simulator.pid")).unwrap(), pid_before);
    describe_works(&running.socket).await;
    running.stop().await;
}

#[tokio::test]
async fn discovery_lists_sockets_and_listen_files() {
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("simulator")).await;
    let dir = running.plugins_dir();
    std::fs::write(dir.join("hyperkit.listen"), "tcp://127.0.0.1:24865").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a plugin").unwrap();
    std::fs::create_dir(dir.join("subdir")).unwrap();

    let found = discovery::list(&dir).unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), ["hyperkit", "simulator"]);
    assert_eq!(found["simulator"].address, Address::Unix(running.socket.clone()));
    assert_eq!(found["hyperkit"].address.to_string(), "http://127.0.0.1:24865/");
    assert_eq!(discovery::find(&dir, &"simulator/compute".parse().unwrap()).unwrap().name, "simulator");
    assert_eq!(discovery::find(&dir, &"nope".parse().unwrap()), Err(Error::not_found("plugin not found:nope")));
    running.stop().await;
}

#[tokio::test]
async fn plugin_info_reports_live_and_dead_plugins() {
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("simulator")).await;
    let dir = running.plugins_dir();
    drop(std::os::unix::net::UnixListener::bind(dir.join("crashed")).unwrap());

    let report = plugin_info(&dir).await.unwrap();
    assert_eq!(report.len(), 2);
    let crashed = &report[0];
    assert_eq!(crashed.endpoint.name, "crashed");
    assert!(matches!(&crashed.interfaces, Err(Error::Unavailable(m)) if m.contains("crashed")), "{crashed:?}");
    let live = report[1].interfaces.as_ref().unwrap();
    let rows: Vec<(String, InterfaceSpec)> = live
        .iter()
        .flat_map(|i| i.objects.iter().map(|o| (qualified_name("simulator", o), i.interface.clone())))
        .collect();
    assert_eq!(
        rows,
        [
            ("simulator".to_owned(), InterfaceSpec::flavor()),
            ("simulator".to_owned(), InterfaceSpec::group()),
            ("simulator/workers".to_owned(), InterfaceSpec::group()),
            ("simulator".to_owned(), InterfaceSpec::instance()),
            ("simulator/compute".to_owned(), InterfaceSpec::instance()),
        ]
    );
    running.stop().await;
}

#[tokio::test]
async fn info_describes_the_first_service() {
    let plugins = Plugins::default();
    let vendor = infrakit_rpc::VendorInfo {
        interface: InterfaceSpec::new("infrakit-simulator", "0.1.0"),
        url: "https://example.com/simulator".into(),
    };
    let running = Running::start(plugins.server("simulator").vendor(vendor)).await;
    let info = running.client().info().await.unwrap();
    assert_eq!(
        info["Vendor"],
        json!({"Name": "infrakit-simulator", "Version": "0.1.0", "Sub": "", "URL": "https://example.com/simulator"})
    );
    assert_eq!(info["Implements"], json!([{"Name": "Instance", "Version": "0.6.1", "Sub": ""}]));
    let interface = &info["Interfaces"][0];
    assert_eq!((&interface["Name"], &interface["Version"]), (&json!("Instance"), &json!("0.6.1")));
    let methods: Vec<&str> =
        interface["Methods"].as_array().unwrap().iter().map(|m| m["Request"]["method"].as_str().unwrap()).collect();
    assert_eq!(
        methods,
        [
            "Instance.DescribeInstances",
            "Instance.Destroy",
            "Instance.Label",
            "Instance.Promises",
            "Instance.Provision",
            "Instance.Validate"
        ]
    );
    let provision = &interface["Methods"][4];
    assert_eq!(provision["Request"]["jsonrpc"], "2.0");
    assert_eq!(
        provision["Request"]["params"],
        json!({"Type": "", "Spec": {"Properties": null, "Tags": null, "Init": "", "LogicalID": null, "Attachments": null}})
    );
    assert_eq!(provision["Response"]["result"], json!({"Type": "", "ID": null}));
    assert_eq!(provision["Request"]["id"], provision["Response"]["id"]);
    assert!(provision["Request"]["id"].as_str().unwrap().parse::<u64>().is_ok());

    let functions = crate::support::raw(&running.socket, "GET", "/info/functions.json", None, vec![]).await;
    assert_eq!((functions.status.as_u16(), functions.text().as_str()), (200, "{}"));

    let bare = Running::start(PluginServer::new("bare")).await;
    assert_eq!(bare.client().info().await.unwrap(), json!({"Vendor": null, "Implements": []}));
    bare.stop().await;
    running.stop().await;
}
