//! `infrakit bench e2e`: the figures users see, on the path they run. Each scenario starts this
//! binary as a plugin server in a process of its own (`infrakit plugin start ...`), drives it from
//! this process over its real unix sockets, and reads the server's CPU time, memory and threads
//! from `/proc`. The file plugin writes to a tmpfs folder (`/dev/shm` unless `--dir` says
//! otherwise), as the issue that asked for these figures measured the original.
//!
//! Nothing here is a pass/fail test: each line prints the figure next to its target, and
//! BENCHMARKS.md records them with this command.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use infrakit_rpc::{Client, GroupClient, InstanceClient};
use infrakit_spi::group::{GroupId, GroupPlugin, GroupSpec};
use infrakit_spi::instance::{InstancePlugin, Spec};
use infrakit_spi::types::{PluginName, Tags};
use serde_json::json;

/// How long a throughput run calls the plugin.
const THROUGHPUT_RUN: Duration = Duration::from_secs(3);
/// How long the steady state is watched.
const STEADY_WINDOW: Duration = Duration::from_secs(10);
/// How often the bench looks at a folder or a process while it waits: fine enough for a 1 ms
/// resolution, coarse enough not to compete with the server for the CPU.
const WATCH_INTERVAL: Duration = Duration::from_millis(1);
/// A scenario that has not reached its state by then has failed.
const DEADLINE: Duration = Duration::from_secs(120);
/// Heal trials per plugin.
const HEAL_TRIALS: usize = 20;
/// Members of the groups whose members are killed.
const HEAL_GROUP: usize = 10;
/// The group controller's crash-loop window with a margin: a member that dies younger than the
/// window is a quick death, and a slot's second quick death in a row waits for a backoff, by
/// design. Each trial kills the oldest member, a trial every tenth of this, so no member killed
/// is younger than it.
const CRASH_LOOP_AGE: Duration = Duration::from_millis(11_000);

/// Which scenarios to run, and where the file plugin writes.
#[derive(Debug, Clone)]
pub struct E2e {
    /// Only the scenarios whose name contains this.
    pub only: Option<String>,
    /// Runs of each scenario (the figures are given as a range).
    pub runs: u32,
    /// The tmpfs folder for instance files and the servers' homes.
    pub dir: PathBuf,
}

/// Runs the scenarios and prints their figures.
pub async fn run(e2e: E2e) -> Result<()> {
    let binary = std::env::current_exe().context("cannot find this binary")?;
    let bench = Bench { binary, dir: e2e.dir.clone() };
    let wanted = |name: &str| e2e.only.as_deref().is_none_or(|only| name.contains(only));
    println!("e2e: the binary as the server, this process as the client, files in {}", e2e.dir.display());
    if wanted("converge") {
        for _ in 0..e2e.runs {
            bench.converge(1_000, Duration::from_millis(100)).await?;
        }
    }
    if wanted("provision") {
        for clients in [1, 8] {
            for _ in 0..e2e.runs {
                bench.provisions(clients).await?;
            }
        }
    }
    if wanted("describe") {
        for (instances, clients) in [(10, 1), (10, 8), (1_000, 1), (1_000, 8)] {
            for _ in 0..e2e.runs {
                bench.describes(instances, clients).await?;
            }
        }
    }
    if wanted("steady") {
        for poll in [Duration::from_secs(1), Duration::from_millis(100)] {
            bench.steady(1_000, poll).await?;
        }
    }
    if wanted("groups") {
        bench.many_groups(100, 10, Duration::from_secs(1)).await?;
    }
    if wanted("heal") {
        bench.heal_files().await?;
        bench.heal_processes().await?;
    }
    Ok(())
}

struct Bench {
    binary: PathBuf,
    dir: PathBuf,
}

/// A plugin server: this binary, started in a home of its own.
struct Server {
    child: Child,
    home: tempfile::TempDir,
    files: PathBuf,
}

/// What the server process has used so far.
#[derive(Debug, Clone, Copy)]
struct Usage {
    cpu: Duration,
    rss_mib: f64,
    peak_mib: f64,
    threads: u64,
}

impl Bench {
    /// Starts `infrakit plugin start PLUGINS` and waits for its sockets.
    fn server(&self, plugins: &[&str], sockets: &[&str], env: &[(&str, &str)]) -> Result<Server> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        let home = tempfile::Builder::new().prefix("infrakit-e2e-").tempdir_in(&self.dir)?;
        let files = home.path().join("instances");
        let child = Command::new(&self.binary)
            .args(["plugin", "start"])
            .args(plugins)
            .env("INFRAKIT_HOME", home.path())
            .env("INFRAKIT_INSTANCE_FILE_DIR", &files)
            .env_remove("INFRAKIT_PLUGINS_DIR")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the server")?;
        let server = Server { child, home, files };
        let started = Instant::now();
        for socket in sockets {
            while !server.socket(socket).exists() {
                ensure!(started.elapsed() < DEADLINE, "the server did not create socket {socket}");
                std::thread::sleep(WATCH_INTERVAL);
            }
        }
        Ok(server)
    }

    /// The group controller with the file plugin and the vanilla flavor, polling every `poll`.
    fn group_server(&self, poll: &str) -> Result<Server> {
        self.server(
            &["group", "file:instance-file", "vanilla:flavor-vanilla"],
            &["group-stateless", "instance-file", "flavor-vanilla"],
            &[("INFRAKIT_GROUP_POLL_INTERVAL", poll)],
        )
    }

    /// Converges a group from zero through `group-stateless`, file instances, vanilla flavor.
    async fn converge(&self, size: u64, poll: Duration) -> Result<()> {
        let poll_text = format!("{}ms", poll.as_millis());
        let server = self.group_server(&poll_text)?;
        let groups = server.groups("group-stateless")?;
        let before = server.usage()?;
        let started = Instant::now();
        groups.commit_group(group_spec("bench", size), false).await?;
        server.wait_files(size as usize)?;
        let created = started.elapsed();
        let id = GroupId::from("bench");
        while !groups.describe_group(&id).await?.converged {
            ensure!(started.elapsed() < DEADLINE, "the group did not converge");
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
        let converged = started.elapsed();
        let usage = server.usage()?;
        println!(
            "converge {size} (file, {} poll): {:.3} s to {size} files, {:.3} s to converged; {:.2} CPU-s, \
             {:.0} MiB peak, {} threads   (target <= 0.15 s, <= 40 MiB)",
            poll_text,
            created.as_secs_f64(),
            converged.as_secs_f64(),
            (usage.cpu - before.cpu).as_secs_f64(),
            usage.peak_mib,
            usage.threads,
        );
        Ok(())
    }

    /// `Instance.Provision` on the file plugin from `clients` concurrent clients.
    async fn provisions(&self, clients: usize) -> Result<()> {
        let server = self.server(&["file:instance-file"], &["instance-file"], &[])?;
        let before = server.usage()?;
        let latencies = server
            .hammer(clients, |instances, n| async move {
                let spec = Spec {
                    properties: Some(json!({"Note": "bench"})),
                    tags: Tags::from([("infrakit.group".to_owned(), "bench".to_owned())]),
                    init: format!("echo {n}"),
                    ..Spec::default()
                };
                instances.provision(spec).await.map(drop)
            })
            .await?;
        let usage = server.usage()?;
        report(
            &format!("Instance.Provision, file, {clients} client(s)"),
            &latencies,
            usage.cpu - before.cpu,
            "target >= 10,000 req/s at 1 client with p99 < 1 ms, >= 20,000 at 8",
        );
        Ok(())
    }

    /// `Instance.DescribeInstances` of a group of `instances` (with properties, as the group
    /// controller asks) from `clients` concurrent clients.
    async fn describes(&self, instances: usize, clients: usize) -> Result<()> {
        let server = self.server(&["file:instance-file"], &["instance-file"], &[])?;
        let setup = server.instances("instance-file")?;
        let tags = Tags::from([("infrakit.group".to_owned(), "bench".to_owned())]);
        for n in 0..instances {
            let spec = Spec { tags: tags.clone(), init: format!("echo {n}"), ..Spec::default() };
            setup.provision(spec).await?;
        }
        let before = server.usage()?;
        let latencies = server
            .hammer(clients, move |instances_client, _| {
                let tags = tags.clone();
                async move {
                    let found = instances_client.describe_instances(&tags, true).await?;
                    if found.len() != instances {
                        return Err(infrakit_spi::Error::failed(format!("listed {} of {instances}", found.len())));
                    }
                    Ok(())
                }
            })
            .await?;
        let usage = server.usage()?;
        let target = match instances {
            10 => "target >= 20,000 req/s at 8 clients",
            _ => "target >= 1,000 req/s",
        };
        report(
            &format!("Instance.DescribeInstances of {instances}, file, {clients} client(s)"),
            &latencies,
            usage.cpu - before.cpu,
            target,
        );
        Ok(())
    }

    /// A converged group of `size` left alone: the server's CPU, memory and threads.
    async fn steady(&self, size: u64, poll: Duration) -> Result<()> {
        let poll_text = format!("{}ms", poll.as_millis());
        let server = self.group_server(&poll_text)?;
        let groups = server.groups("group-stateless")?;
        groups.commit_group(group_spec("bench", size), false).await?;
        server.wait_files(size as usize)?;
        let id = GroupId::from("bench");
        let started = Instant::now();
        while !groups.describe_group(&id).await?.converged {
            ensure!(started.elapsed() < DEADLINE, "the group did not converge");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(poll.max(Duration::from_secs(1)) * 2).await;
        let before = server.usage()?;
        tokio::time::sleep(STEADY_WINDOW).await;
        let usage = server.usage()?;
        let percent = (usage.cpu - before.cpu).as_secs_f64() / STEADY_WINDOW.as_secs_f64() * 100.0;
        println!(
            "steady {size} (file, {poll_text} poll): {percent:.2}% of a core, {:.0} MiB resident ({:.0} MiB peak), \
             {} threads   (target < 1% at 1 s, <= 40 MiB, <= 16 threads)",
            usage.rss_mib, usage.peak_mib, usage.threads,
        );
        Ok(())
    }

    /// Many small groups on one file plugin left alone: what listing them costs per poll.
    async fn many_groups(&self, groups: usize, size: u64, poll: Duration) -> Result<()> {
        let poll_text = format!("{}ms", poll.as_millis());
        let server = self.group_server(&poll_text)?;
        let client = server.groups("group-stateless")?;
        for n in 0..groups {
            client.commit_group(group_spec(&format!("g{n}"), size), false).await?;
        }
        server.wait_files(groups * size as usize)?;
        tokio::time::sleep(poll * 3).await;
        let before = server.usage()?;
        tokio::time::sleep(STEADY_WINDOW).await;
        let usage = server.usage()?;
        let percent = (usage.cpu - before.cpu).as_secs_f64() / STEADY_WINDOW.as_secs_f64() * 100.0;
        println!(
            "steady, {groups} groups x {size} on one file plugin ({poll_text} poll): {percent:.2}% of a core, \
             {:.0} MiB resident, {} threads",
            usage.rss_mib, usage.threads,
        );
        Ok(())
    }

    /// A file member removed out of band: how long until its replacement exists, with a poll
    /// interval far longer than that (so only a pushed change can heal it quickly).
    async fn heal_files(&self) -> Result<()> {
        let server = self.group_server("10s")?;
        let groups = server.groups("group-stateless")?;
        groups.commit_group(group_spec("bench", HEAL_GROUP as u64), false).await?;
        server.wait_files(HEAL_GROUP)?;
        let remove = || {
            let victim = server.oldest_file()?.context("no member file")?;
            std::fs::remove_file(server.files.join(&victim))?;
            Ok(victim)
        };
        let mut heals = heal_trials(remove, || server.file_names()).await?;
        print_heals("file member removed (10 s poll, 10 members)", &mut heals);
        Ok(())
    }

    /// A process member killed out of band: how long until its replacement runs.
    async fn heal_processes(&self) -> Result<()> {
        let server = self.server(
            &["group", "process", "vanilla:flavor-vanilla"],
            &["group-stateless", "process", "flavor-vanilla"],
            &[("INFRAKIT_GROUP_POLL_INTERVAL", "10s")],
        )?;
        let marker = format!("infrakit-e2e-{}", std::process::id());
        let spec = GroupSpec {
            id: GroupId::from("sleepers"),
            properties: Some(json!({
                "Allocation": {"Size": HEAL_GROUP},
                "Instance": {"Plugin": "process", "Properties": {"Cmd": "sh", "Args": ["-c", "while true; do sleep 1; done", &marker]}},
                "Flavor": {"Plugin": "flavor-vanilla"},
            })),
        };
        let groups = server.groups("group-stateless")?;
        groups.commit_group(spec, false).await?;
        let started = Instant::now();
        while processes(&marker).len() != HEAL_GROUP {
            ensure!(started.elapsed() < DEADLINE, "the processes did not start");
            std::thread::sleep(WATCH_INTERVAL);
        }
        let kill = || {
            // The oldest: the smallest start time, with the pid breaking ties.
            let victim = processes(&marker).into_iter().min_by_key(|pid| (started_at(*pid), *pid));
            let victim = victim.context("no member process")?;
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), nix::sys::signal::Signal::SIGKILL)?;
            Ok(victim)
        };
        let mut heals = heal_trials(kill, || Ok(processes(&marker))).await?;
        print_heals("process member killed (10 s poll, 10 members)", &mut heals);
        groups.destroy_group(&GroupId::from("sleepers")).await?;
        Ok(())
    }
}

impl Server {
    fn socket(&self, name: &str) -> PathBuf {
        self.home.path().join("plugins").join(name)
    }

    fn groups(&self, socket: &str) -> Result<GroupClient> {
        Ok(GroupClient::new(Client::unix(self.socket(socket)), &socket.parse::<PluginName>()?))
    }

    fn instances(&self, socket: &str) -> Result<InstanceClient> {
        Ok(InstanceClient::new(Client::unix(self.socket(socket)), &socket.parse::<PluginName>()?))
    }

    /// The instance files' names.
    fn file_names(&self) -> Result<Vec<String>> {
        match std::fs::read_dir(&self.files) {
            Ok(entries) => Ok(entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.starts_with("instance-") && !name.contains(".tmp"))
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// The member file written longest ago.
    fn oldest_file(&self) -> Result<Option<String>> {
        let mut names = self.file_names()?;
        names.sort_by_key(|name| std::fs::metadata(self.files.join(name)).and_then(|m| m.modified()).ok());
        Ok(names.into_iter().next())
    }

    fn wait_files(&self, count: usize) -> Result<()> {
        let started = Instant::now();
        while self.file_names()?.len() < count {
            ensure!(started.elapsed() < DEADLINE, "only {} of {count} instance files", self.file_names()?.len());
            std::thread::sleep(WATCH_INTERVAL);
        }
        Ok(())
    }

    /// Calls `call` from `clients` concurrent clients, each on its own connection, for the length
    /// of a throughput run; returns every call's latency.
    async fn hammer<F, Fut>(&self, clients: usize, call: F) -> Result<Vec<Duration>>
    where
        F: Fn(Arc<InstanceClient>, u64) -> Fut + Send + Sync + Clone + 'static,
        Fut: std::future::Future<Output = infrakit_spi::Result<()>> + Send,
    {
        let deadline = Instant::now() + THROUGHPUT_RUN;
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let client = Arc::new(self.instances("instance-file")?);
            let call = call.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    call(client.clone(), n).await?;
                    latencies.push(started.elapsed());
                    n += 1;
                }
                Ok::<_, infrakit_spi::Error>(latencies)
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await??);
        }
        Ok(all)
    }

    /// The server's CPU time, resident memory and threads, from `/proc`.
    fn usage(&self) -> Result<Usage> {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The command name is in parentheses and may hold spaces: fields count after the last ')'.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default().split_whitespace().collect();
        let ticks = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as u64;
        let cpu = Duration::from_millis((ticks(11) + ticks(12)) * 1000 / per_second.max(1));
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        Ok(Usage {
            cpu,
            rss_mib: field("VmRSS:") as f64 / 1024.0,
            peak_mib: field("VmHWM:") as f64 / 1024.0,
            threads: field("Threads:"),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Once every member is older than the crash-loop window, [`HEAL_TRIALS`] times: removes the
/// oldest member with `kill`, which returns it, and times how long until `members` lists a
/// whole group without it.
async fn heal_trials<T: PartialEq>(
    mut kill: impl FnMut() -> Result<T>,
    mut members: impl FnMut() -> Result<Vec<T>>,
) -> Result<Vec<Duration>> {
    tokio::time::sleep(CRASH_LOOP_AGE).await;
    let mut heals = Vec::new();
    for _ in 0..HEAL_TRIALS {
        let started = Instant::now();
        let victim = kill()?;
        loop {
            let now = members()?;
            if now.len() == HEAL_GROUP && !now.contains(&victim) {
                break;
            }
            ensure!(started.elapsed() < DEADLINE, "the removed member was not replaced");
            std::thread::sleep(Duration::from_micros(200));
        }
        heals.push(started.elapsed());
        tokio::time::sleep(CRASH_LOOP_AGE / HEAL_GROUP as u32).await;
    }
    Ok(heals)
}

/// A group of `size` file instances with the vanilla flavor.
fn group_spec(id: &str, size: u64) -> GroupSpec {
    GroupSpec {
        id: GroupId::from(id),
        properties: Some(json!({
            "Allocation": {"Size": size},
            "Instance": {"Plugin": "instance-file", "Properties": {"Note": "bench"}},
            "Flavor": {"Plugin": "flavor-vanilla", "Properties": {"Init": ["echo hello"]}},
        })),
    }
}

/// The pids of the processes whose command line carries `marker`.
fn processes(marker: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            cmdline.split(|b| *b == 0).any(|arg| arg == marker.as_bytes()).then_some(pid)
        })
        .collect()
}

/// A process's start time, in clock ticks since boot (`/proc/PID/stat`, field 22).
fn started_at(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    after_name.split_whitespace().nth(19).and_then(|f| f.parse().ok()).unwrap_or(u64::MAX)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

fn report(what: &str, latencies: &[Duration], cpu: Duration, target: &str) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let rate = sorted.len() as f64 / THROUGHPUT_RUN.as_secs_f64();
    println!(
        "{what}: {rate:.0} req/s, p50 {:.0} us, p99 {:.0} us; server {:.0} us CPU per call   ({target})",
        percentile(&sorted, 0.5).as_secs_f64() * 1e6,
        percentile(&sorted, 0.99).as_secs_f64() * 1e6,
        cpu.as_secs_f64() * 1e6 / sorted.len().max(1) as f64,
    );
}

fn print_heals(what: &str, heals: &mut [Duration]) {
    heals.sort();
    println!(
        "heal, {what}: p50 {:.1} ms, p90 {:.1} ms, slowest {:.1} ms over {} trials   (target p50 < 50 ms)",
        percentile(heals, 0.5).as_secs_f64() * 1e3,
        percentile(heals, 0.9).as_secs_f64() * 1e3,
        heals.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        heals.len(),
    );
}

/// The default folder: tmpfs where there is one, as the figures' conditions say.
pub fn default_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    match shm.is_dir() {
        true => shm.join("infrakit-e2e"),
        false => std::env::temp_dir().join("infrakit-e2e"),
    }
}
