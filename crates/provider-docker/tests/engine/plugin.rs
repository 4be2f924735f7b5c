//! The docker plugin against the machine's real engine: provision, describe, label, destroy,
//! Init, a missing image, health, and the changes it pushes.

use std::time::Duration;

use futures::StreamExt;
use infrakit_provider_docker::{DockerHealth, DockerOptions, DockerPlugin};
use infrakit_spi::Error;
use infrakit_spi::changes::ChangeKind;
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::instance::{DestroyContext, InstancePlugin, LogicalId, Spec};
use infrakit_spi::types::Tags;
use serde_json::json;

use crate::support::{Scope, docker_kill, image};

/// How long a change may take to arrive: the engine reports a kill in milliseconds.
const CHANGE_WITHIN: Duration = Duration::from_secs(2);

async fn plugin() -> DockerPlugin {
    DockerPlugin::connect(DockerOptions::default()).await.expect("the docker engine runs on this machine")
}

#[tokio::test]
async fn provision_describe_label_destroy() {
    let scope = Scope::new("lifecycle");
    let plugin = plugin().await;
    let mut tags = scope.tags();
    tags.insert("infrakit.group".into(), scope.name.clone());
    let spec = Spec {
        properties: Some(scope.properties(&["sleep", "600"])),
        tags: tags.clone(),
        init: "echo ready > /tmp/ready".into(),
        logical_id: Some(LogicalId::from(format!("{}-pet", scope.name))),
        ..Spec::default()
    };
    plugin.validate(spec.properties.as_ref()).await.unwrap();
    let id = plugin.provision(spec).await.unwrap();
    assert_eq!(id.as_str().len(), 12);
    assert_eq!(scope.containers("status=running"), vec![id.to_string()]);

    let listed = plugin.describe_instances(&tags, true).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].logical_id, Some(LogicalId::from(format!("{}-pet", scope.name))));
    assert_eq!(listed[0].tags.get("infrakit.group"), Some(&scope.name));
    let properties = listed[0].properties.as_ref().unwrap();
    assert_eq!(properties["State"], "running");
    assert_eq!(DockerHealth.healthy(None, &listed[0]).await.unwrap(), Health::Healthy);

    let added = Tags::from([("infrakit.config.hash".to_owned(), "abc".to_owned())]);
    plugin.label(&id, &added).await.unwrap();
    let mut wanted = tags.clone();
    wanted.extend(added);
    let labelled = plugin.describe_instances(&wanted, false).await.unwrap();
    assert_eq!(labelled.len(), 1, "the added tag is merged and filtered on");
    assert!(labelled[0].properties.is_none());

    plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
    assert!(scope.containers("status=exited").is_empty() && scope.containers("status=running").is_empty());
    assert!(plugin.describe_instances(&tags, false).await.unwrap().is_empty());
    let again = plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap_err();
    assert!(matches!(again, Error::NotFound(_)), "{again}");
}

#[tokio::test]
async fn a_failing_init_removes_the_container_and_says_why() {
    let scope = Scope::new("init");
    let plugin = plugin().await;
    let spec = Spec {
        properties: Some(scope.properties(&["sleep", "600"])),
        tags: scope.tags(),
        init: "echo no database here; exit 3".into(),
        ..Spec::default()
    };
    let error = plugin.provision(spec).await.unwrap_err().to_string();
    assert!(error.contains("Init exited with 3: no database here"), "{error}");
    assert!(error.contains("removed"), "{error}");
    assert!(scope.containers("label=io.infrakit.test").is_empty(), "nothing is left behind");
}

#[tokio::test]
async fn a_missing_image_is_a_clear_error() {
    let scope = Scope::new("no-image");
    let plugin = plugin().await;
    let properties = json!({"Tags": scope.tags(), "Config": {"Image": "infrakit-no-such-image:1"}});
    let spec = Spec { properties: Some(properties), tags: scope.tags(), ..Spec::default() };
    let error = plugin.provision(spec).await.unwrap_err().to_string();
    assert!(error.starts_with("image 'infrakit-no-such-image:1' is not on the engine and cannot be pulled"), "{error}");
    let invalid = plugin.validate(Some(&json!({"Config": {}}))).await.unwrap_err();
    assert!(matches!(invalid, Error::Invalid(_)), "{invalid}");
}

#[tokio::test]
async fn a_killed_container_is_reported_at_once_with_its_tags() {
    let scope = Scope::new("kill");
    let plugin = plugin().await;
    let mut changes = plugin.changes().expect("the docker plugin pushes changes");
    let spec = Spec { properties: Some(scope.properties(&["sleep", "600"])), tags: scope.tags(), ..Spec::default() };
    let id = plugin.provision(spec).await.unwrap();

    docker_kill(&[id.to_string()]);
    let change = tokio::time::timeout(CHANGE_WITHIN, async {
        loop {
            let change = changes.next().await.expect("the change stream stays open");
            if change.id == id {
                return change;
            }
        }
    })
    .await
    .expect("a change within the bound");
    assert_eq!(change.kind, ChangeKind::Gone);
    assert_eq!(change.tags.get(crate::support::TEST_LABEL.0), Some(&scope.name));
    assert!(
        plugin.describe_instances(&scope.tags(), false).await.unwrap().is_empty(),
        "a dead container is no instance"
    );
}

#[tokio::test]
async fn an_unhealthy_container_is_reported_and_judged_unhealthy() {
    let scope = Scope::new("health");
    let plugin = plugin().await;
    let mut changes = plugin.changes().unwrap();
    let properties = json!({"Tags": scope.tags(), "Config": {
        "Image": image(),
        "Cmd": ["sleep", "600"],
        "Healthcheck": {"Test": ["CMD", "false"], "Interval": 100_000_000, "Retries": 1, "Timeout": 1_000_000_000},
    }});
    let id =
        plugin.provision(Spec { properties: Some(properties), tags: scope.tags(), ..Spec::default() }).await.unwrap();
    let change = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let change = changes.next().await.unwrap();
            if change.id == id {
                return change;
            }
        }
    })
    .await
    .expect("a health change");
    assert_eq!(change.kind, ChangeKind::Health);
    let listed = plugin.describe_instances(&scope.tags(), true).await.unwrap();
    assert_eq!(listed[0].properties.as_ref().unwrap()["Health"], "unhealthy");
    assert_eq!(DockerHealth.healthy(None, &listed[0]).await.unwrap(), Health::Unhealthy);
}

#[tokio::test]
async fn added_tags_outlive_the_plugin_and_are_matched_though_the_engine_cannot() {
    let scope = Scope::new("labels-file");
    let dir = tempfile::tempdir().unwrap();
    let options = DockerOptions { labels_file: Some(dir.path().join("labels.json")), ..DockerOptions::default() };
    let plugin = DockerPlugin::connect(options.clone()).await.unwrap();
    let spec = Spec { properties: Some(scope.properties(&["sleep", "600"])), tags: scope.tags(), ..Spec::default() };
    let kept = plugin.provision(spec.clone()).await.unwrap();
    let removed = plugin.provision(spec).await.unwrap();
    let role = Tags::from([("role".to_owned(), "db".to_owned())]);
    plugin.label(&kept, &role).await.unwrap();
    plugin.label(&removed, &role).await.unwrap();
    drop(plugin);

    // Removed by hand while no plugin was running: its tags must not come back.
    let out = std::process::Command::new("docker").args(["rm", "-f", removed.as_str()]).output().unwrap();
    assert!(out.status.success());
    let plugin = DockerPlugin::connect(options).await.unwrap();
    let mut wanted = scope.tags();
    wanted.extend(role.clone());
    let listed = plugin.describe_instances(&wanted, false).await.unwrap();
    assert_eq!(listed.iter().map(|d| &d.id).collect::<Vec<_>>(), vec![&kept], "matched on a tag only the plugin has");
    let forgotten = tokio::time::timeout(CHANGE_WITHIN, async {
        loop {
            let file = std::fs::read_to_string(dir.path().join("labels.json")).unwrap();
            if !file.contains(removed.as_str()) {
                return file;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the removed container's tags are forgotten once the plugin reaches the engine");
    assert!(forgotten.contains(kept.as_str()));

    plugin.destroy(&kept, DestroyContext::TERMINATE).await.unwrap();
    let file = std::fs::read_to_string(dir.path().join("labels.json")).unwrap();
    assert!(!file.contains(kept.as_str()), "{file}");
}

#[tokio::test]
async fn a_damaged_labels_file_stops_the_plugin_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labels.json");
    std::fs::write(&file, "[]").unwrap();
    let options = DockerOptions { labels_file: Some(file.clone()), ..DockerOptions::default() };
    let error = DockerPlugin::new(options).err().expect("an invalid labels file is refused").to_string();
    assert!(error.contains(&file.display().to_string()), "{error}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "[]", "nothing overwritten");
}
