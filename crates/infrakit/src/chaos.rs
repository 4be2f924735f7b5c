//! `infrakit bench chaos`: `kill -9` of the whole stack in the middle of a rollout, again and
//! again, through the binary users run.
//!
//! Each trial starts `infrakit up` (manager, group controller, `file` and `vanilla` in one
//! process) on a group of file instances in folders of its own, lets it converge, starts a
//! rollout, kills the process with SIGKILL once a random share of the members is replaced,
//! starts it again and waits for the rollout to finish. A sampler counts the instance files all
//! along. A trial fails when the group ever had more than size + surge instances, or ends with
//! an instance too many (a doubled provision), one too few, one of the old config (a leak), or
//! two instances of one provision token; the figure is how long the restarted stack took.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use infrakit_spi::group::CONFIG_HASH_TAG;
use infrakit_spi::instance::PROVISION_TOKEN_TAG;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// How often the sampler counts instance files: a surge above the limit that lasts less than
/// this may go unseen, one that lasts a pass cannot.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(2);
/// How long a phase of a trial may take before the trial fails.
const PHASE_DEADLINE: Duration = Duration::from_secs(120);
/// How long the converged group is watched for a late instance (a doubled provision landing).
const SETTLE: Duration = Duration::from_secs(2);

/// The shape of the trials.
#[derive(Debug, Clone, Copy)]
pub struct Chaos {
    /// How many kill-and-restart trials.
    pub trials: u32,
    /// The group's size.
    pub size: usize,
    /// The rollout's `MaxSurge`.
    pub surge: usize,
}

/// What one trial saw.
struct Trial {
    /// Members already replaced when the process was killed.
    killed_at: usize,
    /// From the restart to the rollout's end.
    recovery: Duration,
    /// The most instance files at once.
    peak: usize,
}

/// Runs the trials and prints each and a summary; fails on the first broken invariant.
pub fn run(chaos: Chaos) -> Result<()> {
    let binary = std::env::current_exe().context("cannot find this binary")?;
    println!(
        "chaos: {} trials of kill -9 during a rollout of {} file instances (MaxSurge {})",
        chaos.trials, chaos.size, chaos.surge
    );
    let mut recoveries = Vec::new();
    for n in 1..=chaos.trials {
        let trial = trial(&binary, chaos, n).with_context(|| format!("trial {n}"))?;
        println!(
            "trial {n:>3}: killed with {:>3}/{} replaced; converged {:>6.2}s after the restart; peak {}",
            trial.killed_at,
            chaos.size,
            trial.recovery.as_secs_f64(),
            trial.peak
        );
        recoveries.push(trial.recovery);
    }
    recoveries.sort();
    let pick = |q: f64| recoveries[((recoveries.len() - 1) as f64 * q).round() as usize].as_secs_f64();
    println!(
        "chaos: {} trials, 0 leaked, 0 doubled, never above {}; recovery p50 {:.2}s, p90 {:.2}s, slowest {:.2}s",
        recoveries.len(),
        chaos.size + chaos.surge,
        pick(0.5),
        pick(0.9),
        pick(1.0)
    );
    Ok(())
}

fn trial(binary: &Path, chaos: Chaos, n: u32) -> Result<Trial> {
    let root = std::env::temp_dir().join(format!("infrakit-chaos-{}-{n}", std::process::id()));
    let _cleanup = Cleanup(root.clone());
    let (home, instances) = (root.join("home"), root.join("instances"));
    fs::create_dir_all(&instances).with_context(|| format!("cannot create {}", instances.display()))?;
    let stack = Stack { binary, home: &home, instances: &instances, root: &root };
    let sampler = Sampler::start(instances.clone());

    let mut up = stack.up(&stack.spec(chaos, "v1")?)?;
    let old = stack.wait(&mut up, |files| converged(files, chaos.size, None))?;
    let new_spec = stack.spec(chaos, "v2")?;
    stop(&mut up, Signal::SIGTERM)?;

    // A random moment of the rollout: once this many members run the new config.
    let killed_at = rand::random_range(0..chaos.size);
    let mut up = stack.up(&new_spec)?;
    stack.wait(&mut up, |files| (new_members(files, &old) >= killed_at).then(String::new))?;
    stop(&mut up, Signal::SIGKILL)?;

    let restarted = Instant::now();
    let mut up = stack.up(&new_spec)?;
    let new = stack.wait(&mut up, |files| converged(files, chaos.size, Some(&old)))?;
    let recovery = restarted.elapsed();
    thread::sleep(SETTLE);
    let files = instance_files(&instances)?;
    stop(&mut up, Signal::SIGTERM)?;
    let peak = sampler.stop();

    ensure!(peak <= chaos.size + chaos.surge, "{peak} instances at once, above size + surge");
    ensure!(files.len() == chaos.size, "{} instances after the rollout settled, not {}", files.len(), chaos.size);
    let leaked = files.values().filter(|f| f.config.as_deref() != Some(new.as_str())).count();
    ensure!(leaked == 0, "{leaked} instances left on another config than {new}");
    let mut tokens: HashMap<&str, usize> = HashMap::new();
    for token in files.values().filter_map(|f| f.token.as_deref()) {
        *tokens.entry(token).or_default() += 1;
    }
    let doubled = tokens.values().filter(|n| **n > 1).count();
    ensure!(doubled == 0, "{doubled} provision tokens made more than one instance");
    Ok(Trial { killed_at, recovery, peak })
}

/// One trial's stack: the binary, its home and the folder of its instances.
struct Stack<'a> {
    binary: &'a Path,
    home: &'a Path,
    instances: &'a Path,
    root: &'a Path,
}

impl Stack<'_> {
    /// Writes the group spec of `version` and returns its path.
    fn spec(&self, chaos: Chaos, version: &str) -> Result<PathBuf> {
        let spec = serde_json::json!({
            "ID": "chaos",
            "Properties": {
                "Allocation": {"Size": chaos.size},
                "Instance": {"Plugin": "file", "Properties": {"Version": version}},
                "Flavor": {"Plugin": "vanilla", "Properties": {"Tags": {"bench": "chaos"}}},
                "Updating": {"MaxSurge": chaos.surge, "MaxUnavailable": 0},
            },
        });
        let path = self.root.join(format!("{version}.json"));
        fs::write(&path, spec.to_string()).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Starts `infrakit up` on a spec, its output appended to the trial's log.
    fn up(&self, spec: &Path) -> Result<Child> {
        let log = fs::OpenOptions::new().create(true).append(true).open(self.root.join("up.log"))?;
        Command::new(self.binary)
            .arg("up")
            .arg(spec)
            .env("INFRAKIT_HOME", self.home)
            .env("INFRAKIT_INSTANCE_FILE_DIR", self.instances)
            .env("INFRAKIT_GROUP_POLL_INTERVAL", "1s")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {} up", self.binary.display()))
    }

    /// Waits until `done` says the instance files show what it waits for, and returns what it
    /// said; fails when `up` exits or nothing happens for a phase's deadline.
    fn wait(&self, up: &mut Child, done: impl Fn(&BTreeMap<String, InstanceFile>) -> Option<String>) -> Result<String> {
        let started = Instant::now();
        loop {
            let files = instance_files(self.instances)?;
            if let Some(reached) = done(&files) {
                return Ok(reached);
            }
            let exited = up.try_wait()?;
            if exited.is_some() || started.elapsed() > PHASE_DEADLINE {
                let log = fs::read_to_string(self.root.join("up.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                bail!(
                    "{} with {} instance files; last lines of up:\n{}",
                    exited
                        .map_or(format!("no progress in {PHASE_DEADLINE:?}"), |status| format!("up exited ({status})")),
                    files.len(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The config hash of a group of exactly `size` instances on one config (other than `not`).
fn converged(files: &BTreeMap<String, InstanceFile>, size: usize, not: Option<&str>) -> Option<String> {
    let first = files.values().next()?.config.clone()?;
    let one = files.values().all(|f| f.config.as_deref() == Some(first.as_str()));
    (files.len() == size && one && not != Some(first.as_str())).then_some(first)
}

fn new_members(files: &BTreeMap<String, InstanceFile>, old: &str) -> usize {
    files.values().filter(|f| f.config.as_deref().is_some_and(|c| c != old)).count()
}

/// What the trial reads of an instance file.
struct InstanceFile {
    config: Option<String>,
    token: Option<String>,
}

/// The instance files of a folder by name; a file being replaced as it is read is skipped.
fn instance_files(dir: &Path) -> Result<BTreeMap<String, InstanceFile>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("instance-") {
            continue;
        }
        let Ok(text) = fs::read(entry.path()) else { continue };
        let Ok(json) = serde_json::from_slice::<Value>(&text) else { continue };
        let tag = |key: &str| json["Tags"][key].as_str().map(str::to_owned);
        files.insert(name, InstanceFile { config: tag(CONFIG_HASH_TAG), token: tag(PROVISION_TOKEN_TAG) });
    }
    Ok(files)
}

/// Counts instance files on a thread of its own, keeping the most seen at once.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: thread::JoinHandle<()>,
}

impl Sampler {
    fn start(dir: PathBuf) -> Self {
        let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (stopping, most) = (stop.clone(), peak.clone());
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let count = fs::read_dir(&dir).map_or(0, |entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("instance-")))
                        .count()
                });
                most.fetch_max(count, Ordering::Relaxed);
                thread::sleep(SAMPLE_INTERVAL);
            }
        });
        Self { stop, peak, thread }
    }

    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}

/// Sends `signal` and waits for the process to end.
fn stop(child: &mut Child, signal: Signal) -> Result<()> {
    let pid = Pid::from_raw(i32::try_from(child.id()).context("pid out of range")?);
    kill(pid, signal).with_context(|| format!("cannot send {signal} to {pid}"))?;
    child.wait().context("cannot wait for infrakit up")?;
    Ok(())
}

/// Removes a trial's folders however it ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
