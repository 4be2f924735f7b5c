//! JSON written byte for byte as Go's `encoding/json` writes it, for the config hash.
//!
//! The original hashes `json.MarshalIndent` of a generic map. Matching its hashes means
//! matching Go's output exactly: keys sorted, numbers as float64 in Go's shortest form,
//! `<`, `>` and `&` escaped, and Go's indentation rules.

use std::fmt::Write;

use serde_json::Value;

/// Writes `value` as `json.MarshalIndent(value, prefix, indent)` does after a round trip
/// through `interface{}` (so every number is a float64).
pub(crate) fn marshal_indent(value: &Value, prefix: &str, indent: &str) -> String {
    let mut out = String::new();
    write_value(&mut out, value, prefix, indent, 0);
    out
}

fn newline(out: &mut String, prefix: &str, indent: &str, depth: usize) {
    out.push('\n');
    out.push_str(prefix);
    for _ in 0..depth {
        out.push_str(indent);
    }
}

fn write_value(out: &mut String, value: &Value, prefix: &str, indent: &str, depth: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_float(out, n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, prefix, indent, depth + 1);
                write_value(out, item, prefix, indent, depth + 1);
            }
            newline(out, prefix, indent, depth);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, prefix, indent, depth + 1);
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item, prefix, indent, depth + 1);
            }
            newline(out, prefix, indent, depth);
            out.push('}');
        }
    }
}

/// Go's float64 encoding: shortest round-trip digits, plain notation for magnitudes in
/// [1e-6, 1e21), otherwise exponent notation with a signed exponent of at least one digit.
fn write_float(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        let _ = write!(out, "{f}");
        return;
    }
    let text = format!("{f:e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            let digits = if sign == '+' && digits.len() < 2 { format!("0{digits}") } else { digits.to_owned() };
            let _ = write!(out, "{mantissa}e{sign}{digits}");
        }
        None => out.push_str(&text),
    }
}

/// Go's string encoding with HTML escaping on (the `json.Marshal` default).
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indents_like_go_with_a_prefix() {
        let v = json!({"b": [1, 2.5], "a": {}, "c": []});
        assert_eq!(
            marshal_indent(&v, "  ", "  "),
            "{\n    \"a\": {},\n    \"b\": [\n      1,\n      2.5\n    ],\n    \"c\": []\n  }"
        );
    }

    #[test]
    fn numbers_and_strings_follow_go() {
        let v = json!([1e21, 1e-7, 0.000001, 123456789, -0.5, "<a&b>\u{1}"]);
        assert_eq!(
            marshal_indent(&v, "", ""),
            "[\n1e+21,\n1e-7,\n0.000001,\n123456789,\n-0.5,\n\"\\u003ca\\u0026b\\u003e\\u0001\"\n]"
        );
    }
}
