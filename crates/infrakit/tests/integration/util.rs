//! A throwaway InfraKit home per test, and the real binary run inside it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a started plugin may take to create its socket before the test fails.
const SOCKET_DEADLINE: Duration = Duration::from_secs(20);

pub struct Home {
    dir: tempfile::TempDir,
    children: std::cell::RefCell<Vec<u32>>,
}

impl Home {
    pub fn create() -> Self {
        let home = Self { dir: tempfile::tempdir().unwrap(), children: Default::default() };
        std::fs::create_dir_all(home.instance_dir()).unwrap();
        home
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn plugins(&self) -> PathBuf {
        self.path().join("plugins")
    }

    pub fn instance_dir(&self) -> PathBuf {
        self.path().join("instances")
    }

    /// The file plugin's instance files (the folder also holds its hidden scratch folder).
    pub fn instance_files(&self) -> Vec<String> {
        std::fs::read_dir(self.instance_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("instance-"))
            .collect()
    }

    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// The binary with these arguments, in this home, not started.
    pub fn command_for(&self, args: &[&str]) -> Command {
        self.command(args)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_infrakit"));
        command
            .args(args)
            .env("INFRAKIT_HOME", self.path())
            .env_remove("INFRAKIT_PLUGINS_DIR")
            .env("INFRAKIT_INSTANCE_FILE_DIR", self.instance_dir())
            .env("RUST_LOG", "info");
        command
    }

    /// Starts `infrakit up ARGS...` in the background, its output discarded.
    pub fn up(&self, args: &[&str]) -> crate::reap::Reaped {
        let mut all = vec!["up"];
        all.extend_from_slice(args);
        crate::reap::Reaped(self.command(&all).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
    }

    /// Starts `infrakit plugin start ARGS...` in the background.
    pub fn start(&self, plugins: &[&str]) -> Child {
        self.start_with_env(plugins, &[])
    }

    /// Starts `infrakit plugin start ARGS...` in the background with extra environment.
    pub fn start_with_env(&self, plugins: &[&str], env: &[(&str, &str)]) -> Child {
        let mut args = vec!["plugin", "start"];
        args.extend_from_slice(plugins);
        let mut command = self.command(&args);
        command.envs(env.iter().copied());
        let child = command.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap();
        self.children.borrow_mut().push(child.id());
        child
    }

    /// Waits until the plugin's socket exists (the server is then accepting connections).
    pub fn wait_for_socket(&self, name: &str) {
        let started = Instant::now();
        while !self.plugins().join(name).exists() {
            assert!(started.elapsed() < SOCKET_DEADLINE, "plugin {name} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "infrakit {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Home {
    /// A failed test must not leave servers running.
    fn drop(&mut self) {
        for pid in self.children.borrow().iter() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// How long [`eventually`] waits for a state.
const STATE_DEADLINE: Duration = Duration::from_secs(60);

/// Waits until `probe` holds, failing the test with `what` after a minute.
pub fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let started = Instant::now();
    while !probe() {
        assert!(started.elapsed() < STATE_DEADLINE, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops a process of the binary as Ctrl-C would (SIGTERM) and waits for it.
pub fn stop(mut child: crate::reap::Reaped) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap();
}
