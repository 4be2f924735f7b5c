//! A single-member etcd for tests, shared by every crate whose tests need a real one: Debian's
//! `etcd` started on free loopback ports in a temporary folder, killed and removed when dropped.
//! Behind the `testing` feature, so nothing of it reaches the binary.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Client, ClientOptions};

/// How long etcd may take to answer after it starts.
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);

/// A running single-member etcd.
pub struct SingleMember {
    process: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl SingleMember {
    /// Starts a member and waits until it answers; panics (it is for tests) if it does not.
    pub async fn start() -> Self {
        let data = tempfile::tempdir().expect("a temporary folder for etcd");
        let ports = free_ports(2);
        let url = format!("http://127.0.0.1:{}", ports[0]);
        let peer = format!("http://127.0.0.1:{}", ports[1]);
        let process = Command::new("etcd")
            .args(["--name", "n0", "--data-dir", &data.path().join("data").to_string_lossy()])
            .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("n0={peer}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd is installed (scripts/test.sh installs etcd-server)");
        let member = Self { process, url, _data: data };
        let client = Client::new(&[&member.url], ClientOptions::default()).expect("a client of the member");
        let started = Instant::now();
        while client.status().await.is_err() {
            assert!(started.elapsed() < STARTUP_DEADLINE, "etcd did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        member
    }

    /// Its client URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its process ID, to freeze or kill it.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }
}

impl Drop for SingleMember {
    fn drop(&mut self) {
        // SIGKILL ends a process even when a test froze it.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// `n` distinct loopback ports free a moment ago: all held until all are found.
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> =
        (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port")).collect();
    held.iter().map(|listener| listener.local_addr().map(|a| a.port()).unwrap_or_default()).collect()
}
