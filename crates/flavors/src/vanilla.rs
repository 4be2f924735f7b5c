//! The vanilla flavor: the same init script, tags and attachments on every member.
//!
//! ```yaml
//! Init: ["apt-get update -y", "apt-get install -y nginx"]   # or InitScriptTemplateURL
//! Tags: {tier: web}
//! Attachments: [{ID: vol1, Type: ebs}]
//! ```
//!
//! `InitScriptTemplateURL` reads a script from a `file://` URL, a plain path or a `str://`
//! literal. The original renders it as a Go template; a script that contains template actions
//! (`{{`) is refused with a clear message until templating exists, rather than run half-rendered.

use std::collections::BTreeMap;

use async_trait::async_trait;
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{AllocationMethod, Index};
use infrakit_spi::instance::{Attachment, Description, Spec};
use infrakit_spi::{Error, Result};
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

    /// The init lines this flavor adds, reading the script URL if one is given.
    fn init_lines(&self) -> Result<Vec<String>> {
        if self.init_script_template_url.is_empty() {
            return Ok(self.init.clone());
        }
        Ok(vec![read_script(&self.init_script_template_url)?])
    }
}

fn read_script(url: &str) -> Result<String> {
    let script = match url.strip_prefix("str://") {
        Some(literal) => literal.to_owned(),
        None => {
            let path = url.strip_prefix("file://").unwrap_or(url);
            if path.contains("://") {
                return Err(Error::invalid(format!(
                    "InitScriptTemplateURL {url}: only file:// URLs, plain paths and str:// literals are supported"
                )));
            }
            std::fs::read_to_string(path)
                .map_err(|e| Error::invalid(format!("InitScriptTemplateURL {url}: cannot read {path}: {e}")))?
        }
    };
    if script.contains("{{") {
        return Err(Error::invalid(format!(
            "InitScriptTemplateURL {url}: the script contains template actions ({{{{ ... }}}}), and templates are not supported yet"
        )));
    }
    Ok(script)
}

/// The vanilla flavor. Stateless: everything comes in the properties of each call.
#[derive(Debug, Default, Clone, Copy)]
pub struct Vanilla;

#[async_trait]
impl FlavorPlugin for Vanilla {
    async fn validate(&self, properties: Option<&Value>, _allocation: &AllocationMethod) -> Result<()> {
        Properties::parse(properties)?.init_lines().map(drop)
    }

    async fn prepare(
        &self,
        properties: Option<&Value>,
        mut spec: Spec,
        _allocation: &AllocationMethod,
        _index: &Index,
    ) -> Result<Spec> {
        let properties = Properties::parse(properties)?;
        let mut lines = Vec::new();
        if !spec.init.is_empty() {
            lines.push(std::mem::take(&mut spec.init));
        }
        lines.extend(properties.init_lines()?);
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
        Vanilla.prepare(Some(&properties), spec, &AllocationMethod::default(), &Index::default()).await
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
        let err = Vanilla
            .validate(Some(&json!({"Init": ["a"], "InitScriptTemplateURL": "str://x"})), &AllocationMethod::default())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "Either \"Init\" or \"InitScriptTemplateURL\" can be specified but not both");
    }

    #[tokio::test]
    async fn script_url_reads_files_and_refuses_templates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("init.sh");
        std::fs::write(&path, "echo from file").unwrap();
        let url = format!("file://{}", path.display());
        let out = prepare(json!({"InitScriptTemplateURL": url}), Spec::default()).await.unwrap();
        assert_eq!(out.init, "echo from file");
        let err = prepare(json!({"InitScriptTemplateURL": "str://echo {{ .ID }}"}), Spec::default()).await;
        assert!(err.unwrap_err().to_string().contains("templates are not supported yet"));
        let err = prepare(json!({"InitScriptTemplateURL": "https://example.invalid/x"}), Spec::default()).await;
        assert!(matches!(err, Err(Error::Invalid(_))));
    }

    #[tokio::test]
    async fn absent_properties_change_nothing_and_bad_ones_are_invalid() {
        let spec = Spec { init: "keep".into(), ..Spec::default() };
        let out = Vanilla.prepare(None, spec.clone(), &AllocationMethod::default(), &Index::default()).await.unwrap();
        assert_eq!(out, spec);
        assert!(matches!(prepare(json!({"Init": "not a list"}), Spec::default()).await, Err(Error::Invalid(_))));
    }
}
