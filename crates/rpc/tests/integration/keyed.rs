//! A plugin that serves its groups as objects of their own, as the original's manager does:
//! `Name: "group/web"` reaches group `web` on socket `group`, with the original's request and
//! response bytes (`tests/golden/keyed/`, one step of a session per file pair, in order).

use std::path::Path;
use std::sync::Arc;

use infrakit_rpc::PluginServer;

use crate::support::{MemoryGroups, Running, post};

/// The steps of the session, in order: before the group exists, committed, through each form of
/// name, freed, committed again, destroyed.
const STEPS: [&str; 12] = [
    "01-describe-before-commit",
    "02-commit-through-groups",
    "03-hello",
    "04-describe",
    "05-commit-through-the-group",
    "06-describe-by-socket",
    "07-describe-by-id",
    "08-free",
    "09-describe-after-free",
    "10-commit-again",
    "11-destroy",
    "12-hello-after-destroy",
];

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/keyed").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn groups_served_as_objects_answer_the_originals_names() {
    let groups = Arc::new(MemoryGroups::default());
    let server =
        PluginServer::new("group").group("", groups.clone()).group("groups", groups.clone()).groups_as_objects(groups);
    let running = Running::start(server).await;
    for step in STEPS {
        let response = post(&running.socket, golden(&format!("{step}.request.json")).trim_end()).await;
        assert_eq!(response.status, 200, "{step}");
        assert_eq!(response.text(), golden(&format!("{step}.response.json")), "{step}");
    }
    running.stop().await;
}

#[tokio::test]
async fn a_single_object_plugin_does_not_resolve_group_ids() {
    let groups = Arc::new(MemoryGroups::default());
    let running = Running::start(PluginServer::new("group-stateless").group("", groups)).await;
    let commit = r#"{"jsonrpc":"2.0","method":"Group.CommitGroup","params":{"Name":"group-stateless","Spec":{"ID":"web","Properties":{}},"Pretend":false},"id":1}"#;
    assert!(post(&running.socket, commit).await.text().contains(r#""Details":"Managing 0 instances""#));
    let describe =
        r#"{"jsonrpc":"2.0","method":"Group.DescribeGroup","params":{"Name":"group-stateless/web","ID":"web"},"id":1}"#;
    assert_eq!(
        post(&running.socket, describe).await.text(),
        "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"not found: group-stateless/web (key=web)\",\"data\":null},\"id\":1}\n"
    );
    running.stop().await;
}
