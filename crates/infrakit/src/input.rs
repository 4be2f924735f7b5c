//! Reading documents (specs, properties) from a file or stdin, in JSON or YAML; spec files are
//! templates first, as in the original.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

/// Reads `path` (`-` for stdin) and parses it as JSON, or as YAML when it is not JSON.
///
/// A parse error names the file, the line and the column.
pub fn read_document<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let (name, text) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read stdin")?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        (path.display().to_string(), text)
    };
    parse_document(&name, &text)
}

/// Template variables from the command line: `--var NAME=VALUE`, any number of times.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Vars {
    /// A variable for the templates, read with `{{ var "NAME" }}` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

fn parse_var(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("'{text}' is not NAME=VALUE")),
    }
}

/// The text of `path` (`-` for stdin) rendered as a template with `vars`: a file with no
/// template action and no variables given is returned as it is.
pub fn read_rendered(path: &Path, vars: &Vars) -> Result<(String, String)> {
    let (name, text) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read stdin")?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        (path.display().to_string(), text)
    };
    if !text.contains("{{") && vars.vars.is_empty() {
        return Ok((name, text));
    }
    let engine = infrakit_template::Engine::new(vars.vars.iter().cloned());
    let url = match path == Path::new("-") {
        true => format!("str://{text}"),
        false => path.display().to_string(),
    };
    let rendered = engine.render_url(&url, &serde_json::json!({}))?;
    Ok((name, rendered))
}

/// Parses `text` as JSON if it looks like JSON, else as YAML (a superset of JSON).
pub fn parse_document<T: DeserializeOwned>(name: &str, text: &str) -> Result<T> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{name}:{}:{}: invalid JSON: {e}", e.line(), e.column()))
    } else {
        serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{name}: invalid YAML: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn reads_json_and_yaml_and_locates_errors() {
        let v: Value = parse_document("a.json", r#"{"Size": 3}"#).unwrap();
        assert_eq!(v["Size"], 3);
        let v: Value = parse_document("a.yml", "Size: 3\nTags: {a: b}\n").unwrap();
        assert_eq!(v["Tags"]["a"], "b");
        let err = parse_document::<Value>("bad.json", "{\n  \"Size\": ,\n}").unwrap_err().to_string();
        assert!(err.starts_with("bad.json:2:"), "{err}");
        let err = parse_document::<Value>("bad.yml", "a: [1, 2\n").unwrap_err().to_string();
        assert!(err.starts_with("bad.yml: invalid YAML"), "{err}");
    }
}
