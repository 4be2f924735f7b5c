//! The `process` plugin with real processes (`sleep`, `sh -c`) in a temporary state folder.
//!
//! Processes run in real time, so where a test must wait for one it polls with a deadline
//! ([`eventually`]) rather than sleeping a guessed amount.

use std::fs;
use std::path::Path;
use std::time::Duration;

use infrakit_provider_local::{ProcessOptions, ProcessPlugin};
use infrakit_spi::Error;
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, LogicalId, Spec};
use infrakit_spi::types::Tags;
use serde_json::{Value, json};
use tokio::time::Instant;

/// Longest wait for a real process to do what a test expects; generous for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn plugin(dir: &Path, grace: Duration) -> ProcessPlugin {
    ProcessPlugin::new(ProcessOptions {
        dir: dir.to_owned(),
        stop_grace: grace.into(),
        init_timeout: Duration::from_secs(30).into(),
    })
}

fn spec(properties: Value, pairs: &[(&str, &str)]) -> Spec {
    Spec { properties: Some(properties), tags: tags(pairs), ..Spec::default() }
}

/// Polls `condition` until it holds, failing the test after [`PATIENCE`].
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn describe(plugin: &ProcessPlugin, pairs: &[(&str, &str)]) -> Vec<Description> {
    plugin.describe_instances(&tags(pairs), true).await.unwrap()
}

fn pid_of(description: &Description) -> u32 {
    let pid = description.properties.as_ref().and_then(|p| p["Pid"].as_u64()).expect("the record's Pid");
    u32::try_from(pid).unwrap()
}

/// Field 3 (state) and field 5 (process group) of `/proc/<pid>/stat`, if the process exists.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let group = fields.nth(1)?.parse().ok()?;
    Some((state, group))
}

fn running(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _)| state != 'Z')
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().into_string().unwrap()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[tokio::test]
async fn provision_starts_the_process_describe_lists_it_and_destroy_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(5));
    let spec = Spec {
        logical_id: Some(LogicalId::from("web-1")),
        ..spec(json!({"Cmd": "sleep", "Args": ["30"]}), &[("group", "web")])
    };
    let id = plugin.provision(spec).await.unwrap();
    assert!(id.as_str().starts_with("proc-"), "{id}");

    let described = describe(&plugin, &[("group", "web")]).await;
    assert_eq!(described.len(), 1);
    assert_eq!((&described[0].id, &described[0].logical_id), (&id, &Some(LogicalId::from("web-1"))));
    let pid = pid_of(&described[0]);
    assert_eq!(stat(pid).map(|(_, group)| group), Some(pid), "it leads a process group of its own");
    assert_eq!(fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim(), "sleep");
    assert!(describe(&plugin, &[("group", "db")]).await.is_empty());

    plugin.label(&id, &tags(&[("ready", "yes")])).await.unwrap();
    assert_eq!(describe(&plugin, &[("group", "web"), ("ready", "yes")]).await.len(), 1);

    let start = Instant::now();
    plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(5), "sleep exits on SIGTERM, well within the grace");
    assert!(!running(pid));
    assert!(describe(&plugin, &[]).await.is_empty());
    assert!(files_in(dir.path()).is_empty(), "record and log are gone: {:?}", files_in(dir.path()));
    assert!(matches!(plugin.destroy(&id, DestroyContext::TERMINATE).await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn a_failing_init_fails_the_provision_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(1));
    let spec = Spec {
        init: "echo preparing; echo 'no space left' >&2; exit 3".to_owned(),
        ..spec(json!({"Cmd": "sleep", "Args": ["30"]}), &[("group", "web")])
    };
    let error = plugin.provision(spec).await.unwrap_err();
    assert!(matches!(error, Error::Failed(_)), "{error:?}");
    assert_eq!(error.to_string(), "init exited with code 3; last output: preparing\nno space left");
    assert!(files_in(dir.path()).is_empty(), "{:?}", files_in(dir.path()));
    assert!(describe(&plugin, &[]).await.is_empty());
}

#[tokio::test]
async fn init_runs_first_in_the_same_dir_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(1));
    let properties = json!({"Cmd": "sh", "Args": ["-c", "cat marker; exec sleep 30"], "Env": {"WHO": "init"},
                            "Dir": work.path()});
    let spec = Spec { init: "echo \"prepared by $WHO\" > marker".to_owned(), ..spec(properties, &[]) };
    let id = plugin.provision(spec).await.unwrap();
    let log = plugin.log_path(&id);
    eventually("the program prints what init wrote", async || {
        fs::read_to_string(&log).unwrap_or_default().contains("prepared by init")
    })
    .await;
    plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
}

#[tokio::test]
async fn a_process_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_millis(300);
    let plugin = plugin(dir.path(), grace);
    // Ignored signals stay ignored across exec, so the whole group ignores SIGTERM.
    let properties = json!({"Cmd": "sh", "Args": ["-c", "trap '' TERM; echo ready; exec sleep 30"]});
    let id = plugin.provision(spec(properties, &[])).await.unwrap();
    let log = plugin.log_path(&id);
    eventually("the trap is set", async || fs::read_to_string(&log).unwrap_or_default().contains("ready")).await;
    let pid = pid_of(&describe(&plugin, &[]).await[0]);

    let start = Instant::now();
    plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
    assert!(start.elapsed() >= grace, "destroy waited the grace period: {:?}", start.elapsed());
    assert!(!running(pid));
    assert!(describe(&plugin, &[]).await.is_empty());
}

#[tokio::test]
async fn a_new_plugin_over_the_same_folder_adopts_running_processes() {
    let dir = tempfile::tempdir().unwrap();
    let first = plugin(dir.path(), Duration::from_secs(5));
    let id = first.provision(spec(json!({"Cmd": "sleep", "Args": ["30"]}), &[("group", "web")])).await.unwrap();
    let pid = pid_of(&describe(&first, &[]).await[0]);
    drop(first);

    let restarted = plugin(dir.path(), Duration::from_secs(5));
    let adopted = describe(&restarted, &[("group", "web")]).await;
    assert_eq!(adopted.iter().map(|d| &d.id).collect::<Vec<_>>(), [&id]);
    assert_eq!(pid_of(&adopted[0]), pid);
    restarted.label(&id, &tags(&[("adopted", "yes")])).await.unwrap();
    assert_eq!(describe(&restarted, &[("adopted", "yes")]).await.len(), 1);
    restarted.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
    assert!(!running(pid));
}

#[tokio::test]
async fn a_record_whose_pid_now_belongs_to_another_process_is_not_listed_and_that_process_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(1));
    let mut stranger = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let record = |id: &str| {
        let record = json!({"ID": id, "LogicalID": null, "Tags": {"group": "web"},
            "Spec": {"Properties": {"Cmd": "sleep"}, "Tags": null, "Init": "", "LogicalID": null, "Attachments": null},
            "Pid": stranger.id(), "StartTime": 1});
        fs::write(dir.path().join(format!("{id}.json")), record.to_string()).unwrap();
    };

    record("proc-reused");
    assert!(describe(&plugin, &[("group", "web")]).await.is_empty());
    assert!(files_in(dir.path()).is_empty(), "the stale record is dropped");

    record("proc-reused");
    plugin.destroy(&InstanceId::from("proc-reused"), DestroyContext::TERMINATE).await.unwrap();
    assert!(files_in(dir.path()).is_empty());
    assert!(stranger.try_wait().unwrap().is_none(), "the process that reused the pid was not signalled");
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

#[tokio::test]
async fn a_process_that_exits_by_itself_disappears_and_is_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(1));
    let script = "while [ ! -e stop ]; do sleep 0.02; done; echo done";
    let id =
        plugin.provision(spec(json!({"Cmd": "sh", "Args": ["-c", script], "Dir": work.path()}), &[])).await.unwrap();
    let pid = pid_of(&describe(&plugin, &[]).await[0]);
    fs::write(work.path().join("stop"), b"").unwrap();
    eventually("the exited process is no longer listed", async || describe(&plugin, &[]).await.is_empty()).await;
    eventually("the exited process is reaped", async || stat(pid).is_none_or(|(state, _)| state != 'Z')).await;
    assert_eq!(files_in(dir.path()), [format!("{id}.log")], "the record is dropped, the log kept");
    assert_eq!(fs::read_to_string(plugin.log_path(&id)).unwrap(), "done\n");
    assert!(matches!(plugin.label(&id, &Tags::new()).await, Err(Error::NotFound(_))));
    assert!(matches!(plugin.destroy(&id, DestroyContext::TERMINATE).await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn destroying_an_instance_that_already_exited_succeeds_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(1));
    let id = plugin.provision(spec(json!({"Cmd": "true"}), &[])).await.unwrap();
    let pid: u32 = serde_json::from_slice::<Value>(&fs::read(dir.path().join(format!("{id}.json"))).unwrap()).unwrap()
        ["Pid"]
        .as_u64()
        .unwrap()
        .try_into()
        .unwrap();
    eventually("`true` has exited", async || !running(pid)).await;
    plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn the_log_file_receives_stdout_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(1));
    let script = "echo \"to stdout from $NAME\"; echo to stderr >&2; pwd; exec sleep 30";
    let properties = json!({"Cmd": "sh", "Args": ["-c", script], "Env": {"NAME": "web"}, "Dir": work.path()});
    let id = plugin.provision(spec(properties, &[])).await.unwrap();
    let log = plugin.log_path(&id);
    let expected = format!("to stdout from web\nto stderr\n{}\n", work.path().display());
    eventually("the log holds the output", async || fs::read_to_string(&log).unwrap_or_default() == expected).await;
    plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
}

#[tokio::test]
async fn the_process_knows_its_instance_and_logical_id() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(1));
    let script = "echo \"$INFRAKIT_INSTANCE_ID $INFRAKIT_LOGICAL_ID\"; exec sleep 30";
    let mut pet = spec(json!({"Cmd": "sh", "Args": ["-c", script], "Env": {"INFRAKIT_LOGICAL_ID": "mine"}}), &[]);
    pet.logical_id = Some(LogicalId::from("8081"));
    let id = plugin.provision(pet).await.unwrap();
    let log = plugin.log_path(&id);
    let expected = format!("{id} 8081\n");
    eventually("the log holds the identity", async || fs::read_to_string(&log).unwrap_or_default() == expected).await;
    plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
}

#[tokio::test]
async fn bad_properties_are_refused_clearly_and_start_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(1));
    let error = plugin.validate(Some(&json!({"Args": ["30"]}))).await.unwrap_err();
    assert!(matches!(error, Error::Invalid(_)));
    assert!(error.to_string().starts_with("invalid process properties: missing field `Cmd`"), "{error}");
    assert!(plugin.validate(Some(&json!({"Cmd": "sleep", "Args": ["30"]}))).await.is_ok());

    let missing_dir = json!({"Cmd": "sleep", "Dir": dir.path().join("nowhere")});
    let error = plugin.provision(spec(missing_dir, &[])).await.unwrap_err();
    assert!(matches!(error, Error::Invalid(_)) && error.to_string().contains("does not exist"), "{error}");

    let error = plugin.provision(spec(json!({"Cmd": "no-such-program-here"}), &[])).await.unwrap_err();
    assert!(error.to_string().starts_with("cannot start \"no-such-program-here\": "), "{error}");
    assert!(files_in(dir.path()).is_empty(), "{:?}", files_in(dir.path()));
}

/// Where [`plugin_stopped_with_ctrl_c`] tells its helper to keep state; unset in normal runs.
const HELPER_STATE_ENV: &str = "PROVIDER_LOCAL_TEST_CTRL_C_STATE";

/// Ctrl-C on a terminal sends SIGINT to its foreground process group: the plugin's. The test
/// runs a plugin in a separate process (this test binary, re-run as [`ctrl_c_helper`]) leading
/// a group of its own, provisions through it, interrupts that group, and checks that the
/// instance outlives the plugin and is adopted by the next one.
#[tokio::test]
async fn plugin_stopped_with_ctrl_c() {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    use std::os::unix::process::{CommandExt, ExitStatusExt};

    let dir = tempfile::tempdir().unwrap();
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "ctrl_c_helper", "--nocapture", "--test-threads=1"])
        .env(HELPER_STATE_ENV, dir.path())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let observer = plugin(dir.path(), Duration::from_secs(5));
    eventually("the helper plugin has provisioned", async || describe(&observer, &[]).await.len() == 1).await;

    killpg(Pid::from_raw(i32::try_from(helper.id()).unwrap()), Signal::SIGINT).unwrap();
    let status = helper.wait().unwrap();
    assert_eq!(status.signal(), Some(Signal::SIGINT as i32), "the plugin died of Ctrl-C: {status}");

    let survivors = describe(&observer, &[]).await;
    assert_eq!(survivors.len(), 1, "the instance outlived its plugin");
    let pid = pid_of(&survivors[0]);
    assert!(running(pid));
    observer.destroy(&survivors[0].id, DestroyContext::TERMINATE).await.unwrap();
    assert!(!running(pid));
}

/// The plugin process of [`plugin_stopped_with_ctrl_c`]: provisions one instance, then waits to
/// be interrupted. Does nothing unless that test started it.
#[tokio::test]
async fn ctrl_c_helper() {
    let Some(dir) = std::env::var_os(HELPER_STATE_ENV) else { return };
    let plugin = plugin(Path::new(&dir), Duration::from_secs(5));
    plugin.provision(spec(json!({"Cmd": "sleep", "Args": ["30"]}), &[])).await.unwrap();
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn a_provision_asked_again_while_its_init_runs_waits_and_finds_the_first_process() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(5));
    assert!(plugin.promises().await.unwrap().idempotent_provision);
    let token = [("infrakit.group", "web"), ("infrakit.provision.token", "run1-3")];
    let slow = Spec { init: "sleep 0.3".into(), ..spec(json!({"Cmd": "sleep", "Args": ["30"]}), &token) };
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (plugin, slow) = (plugin.clone(), slow.clone());
        calls.spawn(async move { plugin.provision(slow).await.unwrap() });
    }
    let made: Vec<InstanceId> = calls.join_all().await;
    assert!(made.windows(2).all(|w| w[0] == w[1]), "one process for one token: {made:?}");
    assert_eq!(describe(&plugin, &[]).await.len(), 1);
    let again = plugin.provision(slow.clone()).await.unwrap();
    assert_eq!(again, made[0], "asked again once it runs");

    let other_group = [("infrakit.group", "db"), ("infrakit.provision.token", "run1-3")];
    let other = plugin.provision(spec(json!({"Cmd": "sleep", "Args": ["30"]}), &other_group)).await.unwrap();
    assert_ne!(other, made[0]);
    for id in [&made[0], &other] {
        plugin.destroy(id, DestroyContext::TERMINATE).await.unwrap();
    }
}

#[tokio::test]
async fn a_killed_process_is_pushed_as_gone_and_a_destroyed_one_is_not() {
    use futures::StreamExt;
    use infrakit_spi::changes::ChangeKind;

    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path(), Duration::from_secs(5));
    let mut changes = plugin.changes().expect("the process plugin pushes changes");
    let sleeper = json!({"Cmd": "sleep", "Args": ["600"]});
    let destroyed = plugin.provision(spec(sleeper.clone(), &[("infrakit.group", "web")])).await.unwrap();
    let killed = plugin.provision(spec(sleeper, &[("infrakit.group", "web")])).await.unwrap();
    plugin.destroy(&destroyed, DestroyContext::TERMINATE).await.unwrap();
    let listed = describe(&plugin, &[]).await;
    let victim = listed.iter().find(|d| d.id == killed).expect("listed");
    let pid = nix::unistd::Pid::from_raw(pid_of(victim) as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let change =
        tokio::time::timeout(PATIENCE, changes.next()).await.expect("pushed at once").expect("the stream goes on");
    assert_eq!((&change.id, change.kind), (&killed, ChangeKind::Gone), "the destroyed one is not a death");
    assert!(change.concerns("infrakit.group", "web"));
}
