//! Specs compared field by field, for `infrakit diff` and `infrakit plan`.
//!
//! A spec is a JSON tree; a change is reported at the deepest path where the two trees differ,
//! so a new `Args` entry shows as `Properties.Instance.Properties.Args[2]`, not as a whole new
//! `Instance` section.

use std::fmt;

use serde_json::Value;

/// One difference between two specs.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldChange {
    /// A field present only in the new spec.
    Added { path: String, value: Value },
    /// A field present only in the old spec.
    Removed { path: String, value: Value },
    /// A field whose value differs.
    Changed { path: String, from: Value, to: Value },
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldChange::Added { path, value } => write!(f, "+ {path}: {value}"),
            FieldChange::Removed { path, value } => write!(f, "- {path}: {value}"),
            FieldChange::Changed { path, from, to } => write!(f, "~ {path}: {from} -> {to}"),
        }
    }
}

/// The differences from `old` to `new`, in the order of their fields.
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    walk(String::new(), old, new, &mut changes);
    changes
}

fn walk(path: String, old: &Value, new: &Value, changes: &mut Vec<FieldChange>) {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, before) in old {
                let path = join(&path, key);
                match new.get(key) {
                    Some(after) => walk(path, before, after, changes),
                    None => changes.push(FieldChange::Removed { path, value: before.clone() }),
                }
            }
            for (key, after) in new.iter().filter(|(key, _)| !old.contains_key(*key)) {
                changes.push(FieldChange::Added { path: join(&path, key), value: after.clone() });
            }
        }
        (Value::Array(old), Value::Array(new)) => {
            for (i, (before, after)) in old.iter().zip(new).enumerate() {
                walk(format!("{path}[{i}]"), before, after, changes);
            }
            for (i, before) in old.iter().enumerate().skip(new.len()) {
                changes.push(FieldChange::Removed { path: format!("{path}[{i}]"), value: before.clone() });
            }
            for (i, after) in new.iter().enumerate().skip(old.len()) {
                changes.push(FieldChange::Added { path: format!("{path}[{i}]"), value: after.clone() });
            }
        }
        (old, new) if old != new => {
            changes.push(FieldChange::Changed { path: root(path), from: old.clone(), to: new.clone() });
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn root(path: String) -> String {
    if path.is_empty() { ".".to_owned() } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_reported_at_the_deepest_differing_field() {
        let old = json!({"Allocation": {"Size": 3}, "Instance": {"Args": ["a", "b"], "Cmd": "sh"}, "Gone": 1});
        let new = json!({"Allocation": {"Size": 5}, "Instance": {"Args": ["a", "c", "d"], "Cmd": "sh"}, "New": true});
        let shown: Vec<String> = diff(&old, &new).iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "~ Allocation.Size: 3 -> 5",
                "~ Instance.Args[1]: \"b\" -> \"c\"",
                "+ Instance.Args[2]: \"d\"",
                "- Gone: 1",
                "+ New: true",
            ]
        );
        assert!(diff(&old, &old).is_empty());
        assert_eq!(
            diff(&json!(1), &json!(2)),
            vec![FieldChange::Changed { path: ".".into(), from: json!(1), to: json!(2) }]
        );
    }
}
