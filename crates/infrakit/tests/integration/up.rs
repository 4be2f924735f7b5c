//! `infrakit up` and the manager through the real binary: adoption after a clean stop, a
//! rollout resumed after `kill -9` without exceeding its surge, specs kept as versions, the home
//! lock, and bad input that changes nothing.

use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::reap::Reaped;
use crate::util::Home;

/// How long a group may take to reach a state.
const DEADLINE: Duration = Duration::from_secs(60);
/// The pass interval: short, so that a rollout of three takes seconds.
const POLL: &str = "300ms";
/// The group's size and its surge; the instance count must never exceed their sum.
const SIZE: usize = 3;
const MAX_SURGE: usize = 1;

/// A group of three file instances whose new members need five healthy checks, so a rollout
/// lasts long enough to be interrupted.
fn stack(note: &str) -> String {
    format!(
        r#"# the web tier
ID: web
Properties:
  Allocation: {{Size: {SIZE}}}
  Instance:
    Plugin: file
    Properties: {{Note: {note}}}
  Flavor:
    Plugin: vanilla
  Updating: {{Count: 5, MaxSurge: {MAX_SURGE}}}
"#
    )
}

fn up(home: &Home, file: &str) -> Reaped {
    let mut command = home.command_for(&["up", file]);
    command.env("INFRAKIT_GROUP_POLL_INTERVAL", POLL).stdout(Stdio::null()).stderr(Stdio::null());
    Reaped(command.spawn().unwrap())
}

fn stop(child: &mut Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    child.wait().unwrap();
}

fn describe(home: &Home) -> Option<Value> {
    let out = home.run(&["group", "describe", "web", "-o", "json"]);
    out.status.success().then(|| serde_json::from_slice(&out.stdout).ok()).flatten()
}

fn counts(home: &Home) -> Option<Value> {
    describe(home).map(|d| d["Status"]["Counts"].clone())
}

fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let started = Instant::now();
    while !probe() {
        assert!(started.elapsed() < DEADLINE, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn converged(home: &Home) -> bool {
    describe(home).is_some_and(|d| {
        d["Converged"] == true && d["Status"]["Counts"]["Healthy"] == SIZE && d["Status"]["Counts"]["OldConfig"] == 0
    })
}

fn ids(home: &Home) -> Vec<String> {
    let mut ids = home.instance_files();
    ids.sort();
    ids
}

/// Counts instance files every few milliseconds, keeping the highest count seen.
struct Sampler {
    peak: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(dir: std::path::PathBuf) -> Self {
        let (peak, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (p, d) = (peak.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                let count = std::fs::read_dir(&dir).map_or(0, |entries| {
                    let names = entries.filter_map(|e| e.ok()?.file_name().into_string().ok());
                    names.filter(|name| name.starts_with("instance-")).count()
                });
                p.fetch_max(count, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Self { peak, done, thread: Some(thread) }
    }

    fn finish(mut self) -> usize {
        self.done.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.peak.load(Ordering::Relaxed)
    }
}

#[test]
fn up_adopts_after_a_stop_and_resumes_a_rollout_after_kill_9() {
    let home = Home::create();
    let v1 = home.write("v1.yml", &stack("v1"));
    let v2 = home.write("v2.yml", &stack("v2"));
    let sampler = Sampler::start(home.instance_dir());

    let mut first = up(&home, &v1);
    eventually("the first up converges", || converged(&home));
    let members = ids(&home);
    assert_eq!(members.len(), SIZE);
    stop(&mut first, Signal::SIGINT);
    assert_eq!(ids(&home), members, "Ctrl-C leaves the instances running");

    let mut again = up(&home, &v1);
    eventually("the second up converges", || converged(&home));
    assert_eq!(ids(&home), members, "the second up adopts the instances");
    stop(&mut again, Signal::SIGTERM);

    let mut rolling = up(&home, &v2);
    eventually("the rollout is half way", || {
        counts(&home).is_some_and(|c| c["OldConfig"].as_u64().is_some_and(|old| (1..SIZE as u64).contains(&old)))
    });
    stop(&mut rolling, Signal::SIGKILL);
    let after_kill = ids(&home);
    assert!(after_kill.iter().any(|id| members.contains(id)), "killed before the rollout ended");

    let mut resumed = up(&home, &v2);
    eventually("the resumed rollout converges", || converged(&home));
    let finals = ids(&home);
    stop(&mut resumed, Signal::SIGTERM);
    let peak = sampler.finish();

    assert_eq!(finals.len(), SIZE, "nothing leaked or doubled: {finals:?}");
    assert!(finals.iter().all(|id| !members.contains(id)), "every old member was replaced");
    assert!(peak <= SIZE + MAX_SURGE, "{peak} instances at once, more than size + surge");
}

#[test]
fn the_manager_keeps_versions_diffs_and_rolls_back() {
    let home = Home::create();
    let v1 = home.write("v1.yml", &stack("v1"));
    let v2 = home.write("v2.yml", &stack("v2"));
    let mut manager = home.start_with_env(&["manager", "file", "vanilla"], &[("INFRAKIT_GROUP_POLL_INTERVAL", POLL)]);
    home.wait_for_socket("group");
    home.ok(&["group", "commit", &v1]);
    home.ok(&["group", "commit", &v1]);
    home.ok(&["group", "commit", &v2]);
    home.ok(&["group", "scale", "web", "4"]);
    let history = home.ok(&["history", "web"]);
    let actions: Vec<_> = history.lines().skip(1).map(|l| l.split_whitespace().nth(2).unwrap().to_owned()).collect();
    assert_eq!(actions, ["commit", "commit", "scale"], "{history}");
    assert_eq!(
        home.ok(&["diff", "web", "1", "3"]),
        "~ Allocation.Size: 3 -> 4\n~ Instance.Properties.Note: \"v1\" -> \"v2\"\n"
    );
    assert!(home.ok(&["rollback", "web", "1"]).starts_with("rolled back web as version 4"));
    let specs = home.ok(&["group", "ls", "-q"]);
    assert_eq!(specs, "web\n");
    assert_eq!(home.ok(&["diff", "web", "1", "4"]), "no difference between versions 1 and 4 of web\n");

    let second = home.run(&["plugin", "start", "manager:other"]);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("another manager") && err.contains("already running"), "{err}");

    stop(&mut manager, Signal::SIGTERM);
    let mut restarted = home.start_with_env(&["manager", "file", "vanilla"], &[("INFRAKIT_GROUP_POLL_INTERVAL", POLL)]);
    home.wait_for_socket("group");
    eventually("the restarted manager applies the stored spec", || home.ok(&["group", "ls", "-q"]) == "web\n");
    assert_eq!(home.ok(&["history", "web"]).lines().count(), 5);
    home.ok(&["group", "destroy", "web"]);
    stop(&mut restarted, Signal::SIGTERM);
}

#[test]
fn a_bad_file_is_located_and_changes_nothing() {
    let home = Home::create();
    let bad = home.write("bad.yml", "ID: web\nProperties:\n  Allocation: {Size: [\n");
    let out = home.run(&["up", &bad]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml"), "{err}");
    let typed = home.write("typed.yml", "ID: web\nProperties:\n  Allocation: {Size: many}\n");
    for command in ["up", "plan"] {
        let out = home.run(&[command, &typed]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("typed.yml: error: line 3 column 22: invalid u64"), "{err}");
    }
    let invalid = home.write("invalid.yml", "ID: web\nProperties:\n  Allocation: {Size: 2, LogicalIDs: [a]}\n");
    let out = home.run(&["up", &invalid]);
    assert!(!out.status.success());
    assert!(!home.path().join("manager").exists(), "nothing is stored for bad input");
    assert!(!home.plugins().join("group").exists());
}

#[test]
fn plan_changes_nothing_and_exits_2_for_changes() {
    let home = Home::create();
    let v1 = home.write("v1.yml", &stack("v1"));
    let v2 = home.write("v2.yml", &stack("v2"));
    let plan = |file: &str| {
        let out = home.run(&["plan", file]);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, text) = plan(&v1);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.starts_with("web: a new group\n  create 3, destroy 0; peak 3 instances"), "{text}");

    let mut manager = home.start_with_env(&["manager", "file", "vanilla"], &[("INFRAKIT_GROUP_POLL_INTERVAL", POLL)]);
    home.wait_for_socket("group");
    home.ok(&["group", "commit", &v1]);
    eventually("the group converges", || converged(&home));
    let (code, text) = plan(&v1);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = plan(&v2);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("~ Instance.Properties.Note: \"v1\" -> \"v2\""), "{text}");
    assert!(text.contains("controller: Performing a rolling update on 3 instances"), "{text}");
    assert!(text.contains("create 3, destroy 3; roll 3 in 3 batches of at most 1; peak 4 instances"), "{text}");
    assert_eq!(home.ok(&["history", "web"]).lines().count(), 2, "plan stored nothing");
    assert_eq!(counts(&home).unwrap()["OldConfig"], 0, "plan changed nothing");
    stop(&mut manager, Signal::SIGTERM);
}

#[test]
fn sighup_stops_up_cleanly_and_the_next_up_serves_at_once() {
    let home = Home::create();
    let v1 = home.write("v1.yml", &stack("v1"));
    let mut first = up(&home, &v1);
    eventually("the first up converges", || converged(&home));
    kill(Pid::from_raw(first.id() as i32), Signal::SIGHUP).unwrap();
    let status = first.wait().unwrap();
    assert!(status.success(), "SIGHUP is a clean stop: {status}");
    for name in ["group", "file", "vanilla"] {
        assert!(!home.plugins().join(name).exists(), "{name} socket left behind");
        assert!(!home.plugins().join(format!("{name}.pid")).exists(), "{name} pid file left behind");
    }

    let started = Instant::now();
    let mut second = up(&home, &v1);
    eventually("the second up answers", || describe(&home).is_some());
    let reached = started.elapsed();
    assert!(reached < Duration::from_secs(5), "the second up answered after {reached:?}");
    stop(&mut second, Signal::SIGTERM);
}
