//! The vanilla flavor: the same init script, tags and attachments on every member.
//!
//! ```yaml
//! Init: ["apt-get update -y", "apt-get install -y nginx"]   # or InitScriptTemplateURL
//! Tags: {tier: web}
//! Attachments: [{ID: vol1, Type: ebs}]
//! ```
//!
//! `InitScriptTemplateURL` is a template (a `file://` URL, a plain path, `http(s)://` or a
//! `str://` literal), rendered for each instance with the template functions
//! (`infrakit-template`); so is each `Init` line that holds an action (`{{`), the others are
//! passed on untouched. The template's dot is the instance being prepared: `{{ .LogicalID }}`,
//! `{{ .Group }}`, `{{ .Index }}` (its sequence number) and `{{ .Tags }}`. The original rendered
//! the script with no data, so its templates render here the same.
//!
//! Rendering may read files or the network, so it runs on a blocking thread, off the async
//! workers that serve the plugin's other calls.

use std::collections::BTreeMap;

use async_trait::async_trait;
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{AllocationMethod, Index};
use infrakit_spi::instance::{Attachment, Description, Spec};
use infrakit_spi::{Error, Result};
use infrakit_template::Engine;
use serde::Deserialize;
use serde_json::Value;

/// The vanilla flavor's properties.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Properties {
    #[serde(default)]
    init: Vec<String>,
    #[serde(rename = "InitScriptTemplateURL", default)]
    init_script_template_url: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

impl Properties {
    fn parse(properties: Option<&Value>) -> Result<Self> {
        let parsed: Self = crate::decode("vanilla", properties)?;
        if !parsed.init_script_template_url.is_empty() && !parsed.init.is_empty() {
            return Err(Error::invalid("Either \"Init\" or \"InitScriptTemplateURL\" can be specified but not both"));
        }
        Ok(parsed)
    }

    /// The init lines this flavor adds for an instance: the rendered script when a template
    /// URL is given, else the `Init` lines, each rendered when it holds an action.
    fn init_lines(&self, templates: &Engine, instance: &serde_json::Value) -> Result<Vec<String>> {
        if !self.init_script_template_url.is_empty() {
            let url = &self.init_script_template_url;
            let script = templates
                .render_url(url, instance)
                .map_err(|e| Error::invalid(format!("InitScriptTemplateURL {url}: {e}")))?;
            return Ok(vec![script]);
        }
        let render = |(at, line): (usize, &String)| match line.contains("{{") {
            false => Ok(line.clone()),
            true => templates
                .render_text(&format!("str://{line}"), line, instance)
                .map_err(|e| Error::invalid(format!("Init line {}: {e}", at + 1))),
        };
        self.init.iter().enumerate().map(render).collect()
    }
}

/// The init lines of `properties` for `instance`, rendered on a blocking thread when anything
/// is a template; plain lines (the common case, on every provision) are taken as they are.
async fn render_init(
    templates: &Engine,
    properties: Properties,
    instance: serde_json::Value,
) -> Result<(Properties, Vec<String>)> {
    if properties.init_script_template_url.is_empty() && !properties.init.iter().any(|l| l.contains("{{")) {
        let lines = properties.init.clone();
        return Ok((properties, lines));
    }
    let templates = templates.clone();
    tokio::task::spawn_blocking(move || {
        let lines = properties.init_lines(&templates, &instance)?;
        Ok((properties, lines))
    })
    .await
    .map_err(|e| Error::failed(format!("rendering the init script stopped: {e}")))?
}

/// What a script template sees of the instance being prepared.
fn instance_context(spec: &Spec, index: &Index) -> serde_json::Value {
    serde_json::json!({
        "LogicalID": spec.logical_id,
        "Group": index.group,
        "Index": index.sequence,
        "Tags": spec.tags,
    })
}

/// The vanilla flavor. Stateless: everything comes in the properties of each call; the template
/// engine only carries how to read web documents.
#[derive(Default, Clone)]
pub struct Vanilla {
    templates: Engine,
}

impl Vanilla {
    /// A vanilla flavor rendering its templates with `templates` (its host reads `http(s)://`).
    pub fn new(templates: Engine) -> Self {
        Self { templates }
    }
}

impl std::fmt::Debug for Vanilla {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vanilla")
    }
}

#[async_trait]
impl FlavorPlugin for Vanilla {
    /// Renders the script template once, as the original does, so a broken one is refused at
    /// commit rather than at the first provision.
    async fn validate(&self, properties: Option<&Value>, _allocation: &AllocationMethod) -> Result<()> {
        let instance = instance_context(&Spec::default(), &Index::default());
        render_init(&self.templates, Properties::parse(properties)?, instance).await.map(drop)
    }

    async fn prepare(
        &self,
        properties: Option<&Value>,
        mut spec: Spec,
        _allocation: &AllocationMethod,
        index: &Index,
    ) -> Result<Spec> {
        let instance = instance_context(&spec, index);
        let (properties, script) = render_init(&self.templates, Properties::parse(properties)?, instance).await?;
        let mut lines = Vec::new();
        if !spec.init.is_empty() {
            lines.push(std::mem::take(&mut spec.init));
        }
        lines.extend(script);
        spec.init = lines.join("\n");
        spec.tags.extend(properties.tags);
        spec.attachments.extend(properties.attachments);
        Ok(spec)
    }

    async fn healthy(&self, _properties: Option<&Value>, _instance: &Description) -> Result<Health> {
        Ok(Health::Healthy)
    }

    async fn drain(&self, _properties: Option<&Value>, _instance: &Description) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn prepare(properties: Value, spec: Spec) -> Result<Spec> {
        Vanilla::default().prepare(Some(&properties), spec, &AllocationMethod::default(), &Index::default()).await
    }

    #[tokio::test]
    async fn prepare_appends_init_merges_tags_and_adds_attachments() {
        let mut spec = Spec { init: "echo first".into(), ..Spec::default() };
        spec.tags.insert("tier".into(), "db".into());
        spec.tags.insert("infrakit.group".into(), "workers".into());
        let out = prepare(
            json!({"Init": ["a", "b"], "Tags": {"tier": "web"}, "Attachments": [{"ID": "vol1", "Type": "ebs"}]}),
            spec,
        )
        .await
        .unwrap();
        assert_eq!(out.init, "echo first\na\nb");
        assert_eq!(out.tags["tier"], "web", "the flavor's tags win");
        assert_eq!(out.tags["infrakit.group"], "workers");
        assert_eq!(out.attachments, vec![Attachment { id: "vol1".into(), r#type: "ebs".into() }]);
    }

    #[tokio::test]
    async fn init_and_template_url_are_exclusive() {
        let err = Vanilla::default()
            .validate(Some(&json!({"Init": ["a"], "InitScriptTemplateURL": "str://x"})), &AllocationMethod::default())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "Either \"Init\" or \"InitScriptTemplateURL\" can be specified but not both");
    }

    #[tokio::test]
    async fn the_script_template_renders_per_instance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("init.sh");
        std::fs::write(
            &path,
            r#"echo {{ .Group }}/{{ .Index }} {{ .LogicalID | default "cattle" }} {{ include "more.sh" }}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("more.sh"), "and more").unwrap();
        let url = format!("file://{}", path.display());
        let spec = Spec { logical_id: Some("db-1".into()), ..Spec::default() };
        let index = Index { group: "db".into(), sequence: 2 };
        let properties = json!({"InitScriptTemplateURL": url});
        let out =
            Vanilla::default().prepare(Some(&properties), spec, &AllocationMethod::default(), &index).await.unwrap();
        assert_eq!(out.init, "echo db/2 db-1 and more");
        let spec = Spec { logical_id: Some("db-1".into()), ..Spec::default() };
        let lines = json!({"Init": ["set -e", "echo {{ .LogicalID }} of {{ .Group }}", r#"docker ps --format '{{ "{{.ID}}" }}'"#]});
        let out = Vanilla::default().prepare(Some(&lines), spec, &AllocationMethod::default(), &index).await.unwrap();
        assert_eq!(out.init, "set -e\necho db-1 of db\ndocker ps --format '{{.ID}}'", "Init lines render too");
        let err = prepare(json!({"Init": ["ok", "echo {{ if }}"]}), Spec::default()).await.unwrap_err().to_string();
        assert!(err.contains("Init line 2"), "{err}");
        let broken = json!({"InitScriptTemplateURL": "str://echo {{ if }}"});
        let err =
            Vanilla::default().validate(Some(&broken), &AllocationMethod::default()).await.unwrap_err().to_string();
        assert!(err.contains("InitScriptTemplateURL") && err.contains(":1:"), "{err}");
        let err = prepare(json!({"InitScriptTemplateURL": "https://example.invalid/x"}), Spec::default()).await;
        assert!(matches!(err, Err(Error::Invalid(_))));
    }

    #[tokio::test]
    async fn absent_properties_change_nothing_and_bad_ones_are_invalid() {
        let spec = Spec { init: "keep".into(), ..Spec::default() };
        let out = Vanilla::default()
            .prepare(None, spec.clone(), &AllocationMethod::default(), &Index::default())
            .await
            .unwrap();
        assert_eq!(out, spec);
        assert!(matches!(prepare(json!({"Init": "not a list"}), Spec::default()).await, Err(Error::Invalid(_))));
    }
}
