//! What a process instance runs: the instance properties of the `process` plugin.
//!
//! ```json
//! {"Cmd": "python3", "Args": ["-m", "http.server", "8080"], "Env": {"K": "V"}, "Dir": "/tmp"}
//! ```
//!
//! Unknown keys are refused rather than ignored, so that a misspelt `cmd` or `Argv` is reported
//! by Validate instead of silently running something else; messages name the key at fault.

use std::collections::BTreeMap;
use std::path::PathBuf;

use infrakit_spi::instance::{InstanceId, LogicalId};
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

/// An example to quote in messages.
const EXAMPLE: &str = r#"{"Cmd": "sleep", "Args": ["600"]}"#;

/// The keys, each with the JSON shape it takes, as messages name it.
const FIELDS: [(&str, &str); 4] =
    [("Cmd", "a string"), ("Args", "a list of strings"), ("Env", "an object of strings"), ("Dir", "a string")];

/// The variable that tells a process its instance ID.
pub const INSTANCE_ID_ENV: &str = "INFRAKIT_INSTANCE_ID";
/// The variable that tells a pet its logical ID (for example the port it should listen on).
pub const LOGICAL_ID_ENV: &str = "INFRAKIT_LOGICAL_ID";

impl ProcessProperties {
    /// These properties with the instance's identity added to the environment, so that a command
    /// can tell which member it is; the identity overrides a user variable of the same name.
    pub(crate) fn with_identity(&self, id: &InstanceId, logical_id: Option<&LogicalId>) -> Self {
        let mut properties = self.clone();
        properties.env.insert(INSTANCE_ID_ENV.to_owned(), id.to_string());
        if let Some(logical_id) = logical_id {
            properties.env.insert(LOGICAL_ID_ENV.to_owned(), logical_id.to_string());
        }
        properties
    }

    /// Reads and checks the properties of a spec.
    pub fn from_properties(properties: Option<&Value>) -> Result<Self, InvalidProperties> {
        let Some(value @ Value::Object(object)) = properties else {
            return Err(InvalidProperties(format!("want an object with at least Cmd, such as {EXAMPLE}")));
        };
        // Checked key by key first, because serde's own messages do not say which key is wrong.
        for (key, value) in object {
            let Some((_, shape)) = FIELDS.iter().find(|(name, _)| name == key) else {
                return Err(InvalidProperties(format!("unknown key {key:?}: the keys are Cmd, Args, Env and Dir")));
            };
            if !has_shape(key, value) {
                return Err(InvalidProperties(format!("{key} must be {shape}")));
            }
        }
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

/// Whether `value` has the JSON shape that `key` takes.
fn has_shape(key: &str, value: &Value) -> bool {
    match key {
        "Cmd" | "Dir" => value.is_string(),
        "Args" => value.as_array().is_some_and(|items| items.iter().all(Value::is_string)),
        "Env" => value.as_object().is_some_and(|vars| vars.values().all(Value::is_string)),
        _ => false,
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
        assert_eq!(error(Some(json!({"Args": ["5"]}))), "invalid process properties: missing field `Cmd`");
        assert!(error(Some(json!({"Cmd": " "}))).contains("Cmd must name the program"));
        assert_eq!(
            error(Some(json!({"cmd": "sleep"}))),
            r#"invalid process properties: unknown key "cmd": the keys are Cmd, Args, Env and Dir"#
        );
        assert_eq!(error(Some(json!({"Cmd": 5}))), "invalid process properties: Cmd must be a string");
        assert_eq!(
            error(Some(json!({"Cmd": "sleep", "Args": "5"}))),
            "invalid process properties: Args must be a list of strings"
        );
        assert_eq!(
            error(Some(json!({"Cmd": "sleep", "Args": [5]}))),
            "invalid process properties: Args must be a list of strings"
        );
        assert_eq!(
            error(Some(json!({"Cmd": "sleep", "Env": {"N": 1}}))),
            "invalid process properties: Env must be an object of strings"
        );
        assert!(error(Some(json!({"Cmd": "sleep", "Dir": ""}))).contains("Dir is empty"));
    }
}
