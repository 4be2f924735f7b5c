//! Reading documents (specs, properties) from a file or stdin, in JSON or YAML.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

/// Reads `path` (`-` for stdin) and parses it as JSON, or as YAML when it is not JSON.
///
/// A parse error names the file, the line and the column.
pub fn read_document<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let (name, text) = read_text(path)?;
    parse_document(&name, &text)
}

/// The name errors give `path` (`<stdin>` for `-`) and its text.
pub fn read_text(path: &Path) -> Result<(String, String)> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read stdin")?;
        return Ok(("<stdin>".to_owned(), text));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((path.display().to_string(), text))
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
