//! The `file` plugin against a real folder.

use std::fs;
use std::path::Path;

use infrakit_provider_local::{FileOptions, FilePlugin};
use infrakit_spi::instance::{Attachment, DestroyContext, InstanceId, InstancePlugin, LogicalId, Spec};
use infrakit_spi::types::Tags;
use serde_json::json;

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn plugin(dir: &Path) -> FilePlugin {
    FilePlugin::new(FileOptions { dir: dir.to_owned() })
}

fn spec(pairs: &[(&str, &str)]) -> Spec {
    Spec { properties: Some(json!({"Note": "v1"})), tags: tags(pairs), ..Spec::default() }
}

async fn ids(plugin: &FilePlugin, pairs: &[(&str, &str)]) -> Vec<String> {
    let mut ids: Vec<String> =
        plugin.describe_instances(&tags(pairs), false).await.unwrap().into_iter().map(|d| d.id.0).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn provision_label_describe_destroy() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    let id = plugin.provision(spec(&[("group", "web"), ("tier", "front")])).await.unwrap();
    let number = id.as_str().strip_prefix("instance-").expect("the original's ID form");
    assert!(number.parse::<i64>().is_ok_and(|n| n >= 0), "{id}");

    plugin.label(&id, &tags(&[("tier", "back"), ("owner", "me")])).await.unwrap();
    let described = plugin.describe_instances(&tags(&[("group", "web")]), true).await.unwrap();
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].id, id);
    assert_eq!(described[0].tags, tags(&[("group", "web"), ("owner", "me"), ("tier", "back")]));
    let properties = described[0].properties.as_ref().expect("properties were asked for");
    assert_eq!(properties["Properties"], json!({"Note": "v1"}), "Properties is the whole spec");
    assert_eq!(properties["Tags"], json!({"group": "web", "tier": "front"}), "the spec keeps its own tags");
    assert!(plugin.describe_instances(&Tags::new(), false).await.unwrap()[0].properties.is_none());

    plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
    assert!(ids(&plugin, &[]).await.is_empty());
    assert!(!dir.path().join(id.as_str()).exists());
    let again = plugin.destroy(&id, DestroyContext::TERMINATE).await.unwrap_err();
    assert!(matches!(again, infrakit_spi::Error::NotFound(_)), "{again}");
    assert!(matches!(plugin.label(&id, &Tags::new()).await, Err(infrakit_spi::Error::NotFound(_))));
}

/// The file holds what Go's `json.MarshalIndent(fileInstance, "", "")` writes: the description
/// inline (no Properties), then the spec, one member per line, `<>&` escaped, no final newline.
#[tokio::test]
async fn the_file_is_written_as_the_original_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    let spec = Spec {
        properties: Some(json!({"Note": "a<b", "n": 1, "empty": {}})),
        tags: tags(&[("b", "2"), ("a", "1")]),
        init: "echo hi && exit".to_owned(),
        logical_id: Some(LogicalId::from("10.0.0.1")),
        attachments: vec![Attachment { id: "ebs1".into(), r#type: "ebs".into() }],
    };
    let id = plugin.provision(spec).await.unwrap();
    let expected = format!(
        r#"{{
"ID": "{id}",
"LogicalID": "10.0.0.1",
"Tags": {{
"a": "1",
"b": "2"
}},
"Spec": {{
"Properties": {{
"Note": "a\u003cb",
"n": 1,
"empty": {{}}
}},
"Tags": {{
"a": "1",
"b": "2"
}},
"Init": "echo hi \u0026\u0026 exit",
"LogicalID": "10.0.0.1",
"Attachments": [
{{
"ID": "ebs1",
"Type": "ebs"
}}
]
}}
}}"#
    );
    assert_eq!(fs::read_to_string(dir.path().join(id.as_str())).unwrap(), expected);

    let cattle = plugin.provision(Spec::default()).await.unwrap();
    let expected = format!(
        "{{\n\"ID\": \"{cattle}\",\n\"LogicalID\": null,\n\"Tags\": null,\n\"Spec\": {{\n\"Properties\": null,\n\
         \"Tags\": null,\n\"Init\": \"\",\n\"LogicalID\": null,\n\"Attachments\": null\n}}\n}}"
    );
    assert_eq!(fs::read_to_string(dir.path().join(cattle.as_str())).unwrap(), expected);
}

#[tokio::test]
async fn reads_a_file_the_original_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let original = "{\n\"ID\": \"instance-5577006791947779410\",\n\"LogicalID\": null,\n\"Tags\": {\n\"label1\": \"value1\"\n},\n\
                    \"Spec\": {\n\"Properties\": {\n\"ami\": \"x\"\n},\n\"Tags\": {\n\"label1\": \"value1\"\n},\n\
                    \"Init\": \"\",\n\"LogicalID\": null,\n\"Attachments\": null\n}\n}";
    fs::write(dir.path().join("instance-5577006791947779410"), original).unwrap();
    let plugin = plugin(dir.path());
    let described = plugin.describe_instances(&tags(&[("label1", "value1")]), true).await.unwrap();
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].id.as_str(), "instance-5577006791947779410");
    assert_eq!(described[0].properties.as_ref().unwrap()["Properties"], json!({"ami": "x"}));
}

#[tokio::test]
async fn a_file_deleted_by_hand_is_an_instance_that_died() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    let dies = plugin.provision(spec(&[("group", "web")])).await.unwrap();
    let lives = plugin.provision(spec(&[("group", "web")])).await.unwrap();
    fs::remove_file(dir.path().join(dies.as_str())).unwrap();
    assert_eq!(ids(&plugin, &[("group", "web")]).await, [lives.0]);
}

#[tokio::test]
async fn describe_requires_every_tag_to_match() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    let web_a = plugin.provision(spec(&[("group", "web"), ("zone", "a")])).await.unwrap();
    let web_b = plugin.provision(spec(&[("group", "web"), ("zone", "b")])).await.unwrap();
    let db_a = plugin.provision(spec(&[("group", "db"), ("zone", "a")])).await.unwrap();
    let mut web = vec![web_a.0.clone(), web_b.0];
    assert_eq!(ids(&plugin, &[("group", "web"), ("zone", "a")]).await, [web_a.0]);
    web.sort();
    assert_eq!(ids(&plugin, &[("group", "web")]).await, web);
    assert_eq!(ids(&plugin, &[("zone", "a"), ("group", "db")]).await, [db_a.0]);
    assert!(ids(&plugin, &[("group", "web"), ("missing", "x")]).await.is_empty());
    assert_eq!(ids(&plugin, &[]).await.len(), 3);
}

#[tokio::test]
async fn files_that_are_not_instances_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    let id = plugin.provision(spec(&[])).await.unwrap();
    fs::write(dir.path().join("instance-garbage"), b"not json").unwrap();
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    fs::create_dir(dir.path().join("instance-dir")).unwrap();
    // A copy names the instance it was copied from, not itself.
    fs::copy(dir.path().join(id.as_str()), dir.path().join("instance-copy")).unwrap();
    assert_eq!(ids(&plugin, &[]).await, [id.0]);
    assert!(plugin.describe_instances(&Tags::new(), false).await.is_ok());
}

#[tokio::test]
async fn a_missing_folder_has_no_instances_until_the_first_provision_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(&dir.path().join("not-yet"));
    assert!(ids(&plugin, &[]).await.is_empty());
    let id = plugin.provision(spec(&[])).await.unwrap();
    assert_eq!(ids(&plugin, &[]).await, [id.0]);
}

#[tokio::test]
async fn validate_accepts_an_object_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    assert!(plugin.validate(Some(&json!({"Note": "x"}))).await.is_ok());
    assert!(plugin.validate(None).await.is_ok());
    let error = plugin.validate(Some(&json!(["x"]))).await.unwrap_err();
    assert_eq!(error.to_string(), "file instance properties must be a JSON object, not an array");
    assert!(matches!(
        plugin.label(&InstanceId::from("../x"), &Tags::new()).await,
        Err(infrakit_spi::Error::NotFound(_))
    ));
}

#[tokio::test]
async fn a_provision_asked_again_with_its_token_finds_the_first_instance() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    assert!(plugin.promises().await.unwrap().idempotent_provision);
    let token = [("infrakit.group", "web"), ("infrakit.provision.token", "run1-7")];
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let plugin = plugin.clone();
        calls.spawn(async move { plugin.provision(spec(&token)).await.unwrap() });
    }
    let made: Vec<InstanceId> = calls.join_all().await;
    assert!(made.windows(2).all(|w| w[0] == w[1]), "one instance for one token: {made:?}");
    assert_eq!(ids(&plugin, &[]).await.len(), 1);

    // Another group's token, or no token, is another instance.
    let elsewhere = plugin.provision(spec(&[("infrakit.group", "db"), ("infrakit.provision.token", "run1-7")]));
    assert_ne!(elsewhere.await.unwrap(), made[0]);
    let untokened = [plugin.provision(spec(&[])).await.unwrap(), plugin.provision(spec(&[])).await.unwrap()];
    assert_ne!(untokened[0], untokened[1]);
    assert_eq!(ids(&plugin, &[]).await.len(), 4);
}

/// Waits for `probe` to hold, for at most five seconds: the watcher reports on its own thread.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut probe: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !probe().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_file_removed_by_hand_is_pushed_as_gone_with_its_tags_and_its_own_destroys_are_not() {
    use futures::StreamExt;
    use infrakit_spi::changes::ChangeKind;

    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    let mut changes = plugin.changes().expect("the file plugin pushes changes");
    let mine = plugin.provision(spec(&[("infrakit.group", "web")])).await.unwrap();
    let theirs = plugin.provision(spec(&[("infrakit.group", "web")])).await.unwrap();
    assert_eq!(ids(&plugin, &[]).await.len(), 2, "listed, so their tags are known");

    plugin.destroy(&mine, DestroyContext::TERMINATE).await.unwrap();
    fs::remove_file(dir.path().join(theirs.as_str())).unwrap();
    let change = tokio::time::timeout(std::time::Duration::from_secs(5), changes.next())
        .await
        .expect("pushed at once")
        .expect("the stream goes on");
    assert_eq!((&change.id, change.kind), (&theirs, ChangeKind::Gone), "the plugin's own destroy is not a death");
    assert!(change.concerns("infrakit.group", "web"));
}

#[tokio::test]
async fn describe_sees_files_added_removed_and_edited_behind_its_back() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    let id = plugin.provision(spec(&[("group", "web")])).await.unwrap();
    assert_eq!(ids(&plugin, &[("group", "web")]).await, [id.to_string()]);

    // A copy under another name: listed at once, as a new file.
    let copy = "instance-42";
    let text = fs::read_to_string(dir.path().join(id.as_str())).unwrap();
    fs::write(dir.path().join(copy), text.replace(id.as_str(), copy)).unwrap();
    assert_eq!(ids(&plugin, &[("group", "web")]).await.len(), 2);
    // Removed: gone at once.
    fs::remove_file(dir.path().join(copy)).unwrap();
    assert_eq!(ids(&plugin, &[("group", "web")]).await, [id.to_string()]);
    // Edited in place (same inode): seen once the edit is reported.
    let path = dir.path().join(id.as_str());
    let mut file: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    file["Tags"]["group"] = json!("db");
    let edited = file.to_string();
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(edited.as_bytes())
        })
        .unwrap();
    eventually("the edit seen", || async { ids(&plugin, &[("group", "db")]).await == [id.to_string()] }).await;
}
