//! The real `infrakit` binary against real plugins on real unix sockets.

use std::os::unix::net::UnixListener;

use crate::util::Home;

#[test]
fn plugins_start_list_serve_and_stop_cleanly() {
    let home = Home::create();
    let mut server = home.start(&["file:instance-file", "vanilla:flavor-vanilla", "simulator"]);
    home.wait_for_socket("instance-file");
    home.wait_for_socket("flavor-vanilla");
    home.wait_for_socket("simulator");

    let ls = home.ok(&["plugin", "ls", "-q"]);
    assert_eq!(ls, "flavor-vanilla\ninstance-file\nsimulator/compute\nsimulator/disk\nsimulator/net\n");
    let table = home.ok(&["plugin", "ls"]);
    assert!(table.contains("instance-file") && table.contains("Instance/0.6.1"), "{table}");
    assert!(table.contains("Flavor/0.1.1"), "{table}");

    let spec = home.write("spec.yml", "Properties: {Note: hello}\nTags: {tier: web}\n");
    let id = home.ok(&["instance", "instance-file", "provision", &spec]).trim().to_owned();
    assert!(id.starts_with("instance-"), "{id}");
    assert!(home.instance_files().join("").contains(&id));
    let ids = home.ok(&["instance", "instance-file", "describe", "-q", "--tags", "tier=web"]);
    assert_eq!(ids.trim(), id);
    assert_eq!(home.ok(&["instance", "instance-file", "describe", "-q", "--tags", "tier=db"]), "");

    std::fs::remove_file(home.instance_dir().join(&id)).unwrap();
    assert_eq!(home.ok(&["instance", "instance-file", "describe", "-q"]), "", "a deleted file is a dead instance");

    let json = home.ok(&["instance", "simulator/compute", "describe", "-o", "json"]);
    assert_eq!(json.trim(), "[]");

    home.ok(&["plugin", "stop", "simulator"]);
    let status = server.wait().unwrap();
    assert!(status.success(), "the server exits cleanly on SIGTERM: {status}");
    for name in ["instance-file", "flavor-vanilla", "simulator"] {
        assert!(!home.plugins().join(name).exists(), "{name} socket left behind");
        assert!(!home.plugins().join(format!("{name}.pid")).exists(), "{name} pid file left behind");
    }
}

#[test]
fn a_stale_socket_and_pid_file_are_replaced() {
    let home = Home::create();
    std::fs::create_dir_all(home.plugins()).unwrap();
    drop(UnixListener::bind(home.plugins().join("vanilla")).unwrap());
    std::fs::write(home.plugins().join("vanilla.pid"), "999999").unwrap();
    let mut server = home.start(&["vanilla"]);
    home.wait_for_socket("vanilla");
    assert_eq!(home.ok(&["plugin", "ls", "-q"]), "vanilla\n");
    home.ok(&["plugin", "stop", "vanilla"]);
    assert!(server.wait().unwrap().success());
}

#[test]
fn a_second_live_plugin_with_the_same_name_is_refused() {
    let home = Home::create();
    let mut first = home.start(&["vanilla"]);
    home.wait_for_socket("vanilla");
    let second = home.run(&["plugin", "start", "simulator:vanilla"]);
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("vanilla") && stderr.contains("already"), "{stderr}");
    assert_eq!(home.ok(&["plugin", "ls", "-q"]), "vanilla\n", "the live plugin is untouched");
    home.ok(&["plugin", "stop", "vanilla"]);
    assert!(first.wait().unwrap().success());
}

#[test]
fn bad_input_is_reported_with_its_place_and_changes_nothing() {
    let home = Home::create();
    let mut server = home.start(&["file"]);
    home.wait_for_socket("file");
    let bad = home.write("bad.json", "{\n  \"Properties\": ,\n}");
    let out = home.run(&["instance", "file", "provision", &bad]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.json:2:"), "{stderr}");
    assert_eq!(home.ok(&["instance", "file", "describe", "-q"]), "");
    let unknown = home.run(&["plugin", "start", "teleporter"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown plugin kind 'teleporter'"));
    home.ok(&["plugin", "stop", "file"]);
    assert!(server.wait().unwrap().success());
}

#[test]
fn options_documents_configure_a_plugin() {
    let home = Home::create();
    let options = home.write("sim.yml", "InstanceTypes: [compute]\nCapacity: 1\n");
    let mut server = home.start(&["simulator", "--options", &format!("simulator={options}")]);
    home.wait_for_socket("simulator");
    assert_eq!(home.ok(&["plugin", "ls", "-q"]), "simulator/compute\n");
    let spec = home.write("spec.json", r#"{"Properties": {}}"#);
    home.ok(&["instance", "simulator/compute", "provision", &spec]);
    let full = home.run(&["instance", "simulator/compute", "provision", &spec]);
    assert!(String::from_utf8_lossy(&full.stderr).contains("at capacity 1"), "{full:?}");
    home.ok(&["plugin", "stop", "simulator"]);
    assert!(server.wait().unwrap().success());

    let bad = home.write("bad.yml", "FailureRate: 7\n");
    let refused = home.run(&["plugin", "start", "simulator", "--options", &format!("simulator={bad}")]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("invalid options for simulator"), "{refused:?}");
    let stray = home.run(&["plugin", "start", "vanilla", "--options", &format!("simulator={options}")]);
    assert!(String::from_utf8_lossy(&stray.stderr).contains("not among the plugins to start"), "{stray:?}");
    assert!(!home.plugins().join("vanilla").exists(), "nothing was started");
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::io::{BufRead, BufReader};

    let home = Home::create();
    let mut server = home.start(&["simulator"]);
    home.wait_for_socket("simulator");
    let spec = home.write("spec.json", r#"{"Properties": {"Note": "enough rows to fill a pipe"}}"#);
    for _ in 0..300 {
        home.ok(&["instance", "simulator/compute", "provision", &spec]);
    }
    let mut describe = home
        .command_for(&["instance", "simulator/compute", "describe", "-o", "json", "-p"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(describe.stdout.take().unwrap()).lines().next().unwrap().unwrap();
    assert_eq!(first, "[");
    let out = describe.wait_with_output().unwrap();
    assert!(out.status.success(), "a reader that stops early is not an error: {out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{out:?}");
    home.ok(&["plugin", "stop", "simulator"]);
    assert!(server.wait().unwrap().success());
}

#[test]
fn plugin_start_and_up_take_the_store_from_flags_over_the_environment() {
    let home = Home::create();
    let spec = home.write(
        "web.yml",
        "ID: web\nProperties:\n  Allocation: {Size: 0}\n  Instance: {Plugin: file}\n  Flavor: {Plugin: vanilla}\n",
    );
    for args in [vec!["plugin", "start", "manager", "--store", "bogus"], vec!["up", &spec, "--store", "bogus"]] {
        let out = home.run(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unknown store 'bogus': embedded or etcd"), "{args:?}: {err}");
    }
    for args in [vec!["plugin", "start", "manager"], vec!["up", &spec]] {
        let out = home.command_for(&args).env("INFRAKIT_MANAGER_STORE", "bogus").output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unknown store 'bogus': embedded or etcd"), "{args:?}: {err}");
    }
    let out = home.command_for(&["plugin", "start", "manager", "--store", "etcd"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the etcd store needs endpoints"), "{err}");

    // The flag wins over the variable; other kinds ignore the store.
    let mut manager = home.start_with_env(&["manager", "--store", "embedded"], &[("INFRAKIT_MANAGER_STORE", "bogus")]);
    home.wait_for_socket("group");
    assert!(home.path().join("manager").join("specs.redb").exists(), "the embedded store is open");
    home.ok(&["plugin", "stop", "group"]);
    assert!(manager.wait().unwrap().success());
    let mut file = home.start_with_env(&["file"], &[("INFRAKIT_MANAGER_STORE", "bogus")]);
    home.wait_for_socket("file");
    home.ok(&["plugin", "stop", "file"]);
    assert!(file.wait().unwrap().success());
}
