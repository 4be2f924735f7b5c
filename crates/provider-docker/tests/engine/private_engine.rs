//! A Docker engine of the test's own, for what cannot be done to the machine's engine: stopping
//! it and starting it again.
//!
//! It is the machine's `dockerd` with everything under a temporary folder (socket, images,
//! containers, its own containerd), images kept by the `vfs` driver, in a network namespace of
//! its own with no bridge, so it runs beside the machine's engine without touching it: an engine
//! started with `--bridge none` deletes the `docker0` interface of its namespace, which in the
//! machine's namespace would break the machine's engine. It gets the test image from the
//! machine's engine (`docker save | docker load`), so it needs no registry. The daemon dies with
//! the test (`setpriv --pdeathsig`), even when the test is killed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::support::image;

/// How long the engine may take to answer after it starts: about a second here.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// How long the engine may take to stop: it gives each container its stop timeout (10 s unless
/// the container says otherwise), then kills it.
const STOPPED_WITHIN: Duration = Duration::from_secs(30);

/// A running (or stopped, between [`PrivateEngine::stop`] and [`PrivateEngine::start_again`])
/// engine; stopped and removed when dropped.
pub struct PrivateEngine {
    dir: TempDir,
    daemon: Option<Child>,
}

impl PrivateEngine {
    /// Starts an engine and loads the test image into it.
    pub async fn start() -> Self {
        // Under /tmp: a unix socket's path must fit in 108 bytes.
        let dir = tempfile::Builder::new().prefix("infrakit-engine-").tempdir_in("/tmp").expect("a temp folder");
        std::fs::write(dir.path().join("daemon.json"), "{}").expect("write daemon.json");
        let mut engine = Self { dir, daemon: None };
        engine.start_again().await;
        let image = image();
        let load = format!("docker save {image} | DOCKER_HOST={} docker load", engine.host());
        let out = Command::new("sh").args(["-c", &load]).output().await.expect("docker save | docker load");
        assert!(out.status.success(), "loading {image}: {}", String::from_utf8_lossy(&out.stderr));
        engine
    }

    /// The engine's address, as `DOCKER_HOST` takes it.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the daemon on the engine's folder and waits until it answers.
    pub async fn start_again(&mut self) {
        assert!(self.daemon.is_none(), "the engine is running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.path("dockerd.log")).unwrap();
        let daemon = Command::new("unshare")
            .args(["--net", "setpriv", "--pdeathsig", "KILL", "dockerd"])
            .arg("--config-file")
            .arg(self.path("daemon.json"))
            .args(["--host", &self.host()])
            .arg("--data-root")
            .arg(self.path("data"))
            .arg("--exec-root")
            .arg(self.path("exec"))
            .arg("--pidfile")
            .arg(self.path("docker.pid"))
            .args(["--storage-driver", "vfs", "--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start dockerd (the machine's Docker engine package provides it)");
        self.daemon = Some(daemon);
        let start = Instant::now();
        while !self.answers().await {
            let exited = self.daemon.as_mut().and_then(|d| d.try_wait().ok().flatten());
            assert!(exited.is_none() && start.elapsed() < READY_WITHIN, "the engine did not start:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the daemon as a host's shutdown does (SIGTERM): every container stops with it.
    pub async fn stop(&mut self) {
        let mut daemon = self.daemon.take().expect("the engine is running");
        terminate(&daemon);
        let status = tokio::time::timeout(STOPPED_WITHIN, daemon.wait()).await;
        assert!(matches!(status, Ok(Ok(_))), "the engine did not stop: {status:?}\n{}", self.log());
    }

    /// Whether the engine answers now.
    pub async fn answers(&self) -> bool {
        self.docker(&["version"]).await.status.success()
    }

    /// `docker` with `args` against this engine.
    pub async fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker").env("DOCKER_HOST", self.host()).args(args).output().await.expect("run docker")
    }

    /// The short IDs of the containers `docker ps -a` lists with `filter`.
    pub async fn containers(&self, filter: &str) -> Vec<String> {
        let out = self.docker(&["ps", "-aq", "-f", filter]).await;
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("dockerd.log")).unwrap_or_default()
    }
}

fn terminate(daemon: &Child) {
    if let Some(pid) = daemon.id().and_then(|id| i32::try_from(id).ok()) {
        // `unshare` and `setpriv` exec what follows them, so the child's PID is the daemon's.
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        let Some(mut daemon) = self.daemon.take() else { return };
        // Stopped the way it stops in the test, so that its containers and mounts go with it;
        // killed if it does not stop in time.
        terminate(&daemon);
        let start = Instant::now();
        while matches!(daemon.try_wait(), Ok(None)) && start.elapsed() < STOPPED_WITHIN {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = daemon.start_kill();
    }
}
