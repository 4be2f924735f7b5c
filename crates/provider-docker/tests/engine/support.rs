//! What the engine tests share: the test image, labels that tell a test's containers apart, and
//! a guard that removes them however the test ends.

use std::path::Path;
use std::process::Command;
use std::sync::Once;

use infrakit_spi::types::Tags;
use serde_json::{Value, json};

/// The image `scripts/docker-test-image.sh` builds.
pub const IMAGE: &str = "infrakit-busybox:test";

/// The label on every test container, for cleaning up after a failed run.
pub const TEST_LABEL: (&str, &str) = ("io.infrakit.test", "provider-docker");

/// Builds the test image once per test binary.
pub fn image() -> &'static str {
    static BUILT: Once = Once::new();
    BUILT.call_once(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/docker-test-image.sh");
        let status = Command::new(script).arg(IMAGE).status().expect("run docker-test-image.sh");
        assert!(status.success(), "docker-test-image.sh failed");
    });
    IMAGE
}

/// A test's own label value; removes the test's containers when dropped, and at creation those
/// a crashed earlier run of the same test left.
pub struct Scope {
    pub name: String,
}

impl Scope {
    pub fn new(name: &str) -> Self {
        let scope = Self { name: format!("{}-{name}", TEST_LABEL.1) };
        scope.clean();
        scope
    }

    /// The tags that put a container in this scope.
    pub fn tags(&self) -> Tags {
        Tags::from([(TEST_LABEL.0.to_owned(), self.name.clone())])
    }

    /// Busybox properties running `cmd`, labelled with this scope.
    pub fn properties(&self, cmd: &[&str]) -> Value {
        json!({"Tags": self.tags(), "Config": {"Image": image(), "Cmd": cmd}})
    }

    /// The IDs (12 characters) of this scope's containers in any state.
    pub fn containers(&self, filter: &str) -> Vec<String> {
        let output = Command::new("docker")
            .args(["ps", "-aq", "--no-trunc", "-f", &format!("label={}={}", TEST_LABEL.0, self.name), "-f", filter])
            .output()
            .expect("docker ps");
        String::from_utf8_lossy(&output.stdout).lines().map(|l| l[..12].to_owned()).collect()
    }

    fn clean(&self) {
        let all = self.containers("label=io.infrakit.test");
        if !all.is_empty() {
            let _ = Command::new("docker").args(["rm", "-f", "-v"]).args(&all).output();
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        self.clean();
    }
}

/// `docker kill` of these containers, all in one call.
pub fn docker_kill(ids: &[String]) {
    let status = Command::new("docker").arg("kill").args(ids).output().expect("docker kill");
    assert!(status.status.success(), "docker kill: {}", String::from_utf8_lossy(&status.stderr));
}
