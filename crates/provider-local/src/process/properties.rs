//! What a process instance runs: the instance properties of the `process` plugin.
//!
//! ```json
//! {"Cmd": "python3", "Args": ["-m", "http.server", "8080"], "Env": {"K": "V"}, "Dir": "/tmp"}
//! ```
//!
//! Unknown keys are refused rather than ignored, so that a misspelt `cmd` or `Argv` is reported
//! by Validate instead of silently running something else.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The program an instance runs, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProcessProperties {
    /// The program, found on `PATH` unless it contains a `/`.
    pub cmd: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Variables added to the plugin's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The working directory; the plugin's own when absent.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

/// Why properties do not describe a process; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid process properties: {0}")]
pub struct InvalidProperties(String);

impl ProcessProperties {
    /// Reads and checks the properties of a spec.
    pub fn from_properties(properties: Option<&Value>) -> Result<Self, InvalidProperties> {
        const EXAMPLE: &str = r#"{"Cmd": "sleep", "Args": ["600"]}"#;
        let Some(value @ Value::Object(_)) = properties else {
            return Err(InvalidProperties(format!("want an object with at least Cmd, such as {EXAMPLE}")));
        };
        let properties = Self::deserialize(value).map_err(|e| InvalidProperties(e.to_string()))?;
        if properties.cmd.trim().is_empty() {
            return Err(InvalidProperties(format!("Cmd must name the program to run, such as {EXAMPLE}")));
        }
        if let Some(dir) = &properties.dir
            && dir.as_os_str().is_empty()
        {
            return Err(InvalidProperties("Dir is empty: leave it out to use the plugin's directory".to_owned()));
        }
        Ok(properties)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(properties: Option<Value>) -> String {
        ProcessProperties::from_properties(properties.as_ref()).unwrap_err().to_string()
    }

    #[test]
    fn reads_the_full_form() {
        let properties = json!({"Cmd": "python3", "Args": ["-m", "http.server"], "Env": {"K": "V"}, "Dir": "/tmp"});
        let parsed = ProcessProperties::from_properties(Some(&properties)).unwrap();
        assert_eq!(parsed.cmd, "python3");
        assert_eq!(parsed.args, ["-m", "http.server"]);
        assert_eq!(parsed.env["K"], "V");
        assert_eq!(parsed.dir, Some(PathBuf::from("/tmp")));
        let minimal = ProcessProperties::from_properties(Some(&json!({"Cmd": "sleep"}))).unwrap();
        assert!(minimal.args.is_empty() && minimal.env.is_empty() && minimal.dir.is_none());
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(error(None).contains("want an object with at least Cmd"));
        assert!(error(Some(json!("sleep 5"))).contains("want an object with at least Cmd"));
        assert!(error(Some(json!({"Args": ["5"]}))).contains("missing field `Cmd`"));
        assert!(error(Some(json!({"Cmd": " "}))).contains("Cmd must name the program"));
        assert!(error(Some(json!({"cmd": "sleep"}))).contains("unknown field `cmd`"));
        assert!(error(Some(json!({"Cmd": "sleep", "Args": "5"}))).contains("invalid type"));
        assert!(error(Some(json!({"Cmd": "sleep", "Dir": ""}))).contains("Dir is empty"));
    }
}
