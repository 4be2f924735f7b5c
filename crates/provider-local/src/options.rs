//! What the plugins' options have in common.
//!
//! The original builds a plugin's options in two layers: defaults read from environment
//! variables, then the options document of the launch config decoded over them, so a document
//! only names what it changes. [`overlay`] is that second step for any options struct, and
//! [`Environment`] is the first step's source of variables, kept behind a function so that tests
//! (and callers that keep their environment elsewhere) need not touch the process environment.

use std::str::FromStr;
use std::time::Duration;

use infrakit_spi::duration::GoDuration;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why options could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// An environment variable holds a value that does not parse.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    InvalidVariable {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A needed default cannot be worked out from the environment.
    #[error("{0}")]
    MissingDefault(String),
    /// The options document does not fit the options struct.
    #[error("invalid options document")]
    InvalidDocument(#[source] serde_json::Error),
}

/// A source of environment variables: the process environment, or a map in tests.
///
/// An empty value counts as unset, as the original's `Getenv(name, default)` treats it.
pub struct Environment<'a> {
    lookup: Box<Lookup<'a>>,
}

/// Looks a variable up by name.
type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

impl<'a> Environment<'a> {
    /// The process environment.
    pub fn process() -> Self {
        Self::from_fn(|name| std::env::var(name).ok())
    }

    /// Variables looked up by `lookup`.
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self { lookup: Box::new(lookup) }
    }

    /// The variable's value, if set and not empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.is_empty())
    }

    /// The variable parsed as a Go duration (`500ms`, `1m30s`), if set.
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, OptionsError> {
        self.parsed::<GoDuration>(name).map(|d| d.map(|d| d.0))
    }

    /// The variable as a comma-separated list with blanks dropped, if set.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name)
            .map(|value| value.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect())
    }

    fn parsed<T>(&self, name: &str) -> Result<Option<T>, OptionsError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let Some(value) = self.get(name) else { return Ok(None) };
        match value.parse() {
            Ok(parsed) => Ok(Some(parsed)),
            Err(e) => Err(OptionsError::InvalidVariable { name: name.to_owned(), value, reason: e.to_string() }),
        }
    }
}

/// Lays an options document over `base`, as the original decodes a launch config over its
/// defaults: members the document names replace the base's, objects merge member by member,
/// and everything else (arrays included) is replaced whole.
pub fn overlay<T: Serialize + DeserializeOwned>(base: &T, document: &Value) -> Result<T, OptionsError> {
    let mut merged = serde_json::to_value(base).map_err(OptionsError::InvalidDocument)?;
    merge(&mut merged, document);
    serde_json::from_value(merged).map_err(OptionsError::InvalidDocument)
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        // A null document (an empty YAML file) changes nothing.
        (_, Value::Null) => {}
        (base, over) => *base = over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;
    use std::collections::HashMap;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Example {
        dir: String,
        types: Vec<String>,
        nested: Nested,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Nested {
        a: u32,
        b: u32,
    }

    fn example() -> Example {
        Example { dir: "/tmp".into(), types: vec!["a".into(), "b".into()], nested: Nested { a: 1, b: 2 } }
    }

    #[test]
    fn a_document_changes_only_what_it_names() {
        let merged = overlay(&example(), &json!({"Types": ["c"], "Nested": {"B": 5}})).unwrap();
        assert_eq!(merged, Example { dir: "/tmp".into(), types: vec!["c".into()], nested: Nested { a: 1, b: 5 } });
        assert_eq!(overlay(&example(), &Value::Null).unwrap(), example());
    }

    #[test]
    fn a_document_of_the_wrong_shape_is_an_error() {
        let error = overlay(&example(), &json!({"Nested": {"A": "one"}})).unwrap_err();
        assert!(matches!(error, OptionsError::InvalidDocument(_)), "{error}");
    }

    #[test]
    fn environment_reads_lists_and_durations_and_ignores_empty_values() {
        let vars: HashMap<&str, &str> =
            [("LIST", " a, ,b "), ("DELAY", "1m30s"), ("EMPTY", ""), ("BAD", "soon")].into();
        let env = Environment::from_fn(|name| vars.get(name).map(|v| v.to_string()));
        assert_eq!(env.list("LIST"), Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(env.duration("DELAY").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(env.get("EMPTY"), None);
        assert_eq!(env.duration("MISSING").unwrap(), None);
        let error = env.duration("BAD").unwrap_err();
        assert!(error.to_string().starts_with("environment variable BAD=\"soon\" is invalid"), "{error}");
    }
}
