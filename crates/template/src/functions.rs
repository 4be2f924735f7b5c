//! The functions every template has besides Go's built-ins: the Sprig functions the original's
//! specs and docs use (strings, lists, dicts, defaults, math, encoding) and the original's own
//! (`jsonEncode`, `jsonDecode`, `jsonEncodeIndent`, `yamlEncode`, `yamlDecode`, `q`, `lines`,
//! `indexOf`, `loop`, `unixtime`, `echo`). The functions that need the render's state
//! (`include`, `source`, `var`, `global`, `fetch`, `metadata`) are the engine's
//! ([`crate::engine`]).
//!
//! Argument order is Sprig's: the value a pipeline passes comes last (`{{ .Name | default "x" }}`
//! is `default "x" .Name`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use gotmpl::{FuncMap, Result, TemplateError, Value};

/// A function's failure, as the template reports it.
fn fail(function: &str, message: impl std::fmt::Display) -> TemplateError {
    TemplateError::Exec(format!("{function}: {message}"))
}

/// The text of a value, as `print` writes it; nil is empty.
pub fn text(value: &Value) -> String {
    match value {
        Value::Nil => String::new(),
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn arg<'a>(function: &str, args: &'a [Value], at: usize) -> Result<&'a Value> {
    args.get(at).ok_or_else(|| fail(function, format!("wants at least {} arguments", at + 1)))
}

fn int(function: &str, value: &Value) -> Result<i64> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::Uint(n) => i64::try_from(*n).map_err(|_| fail(function, "number too large")),
        Value::Float(f) => Ok(*f as i64),
        Value::String(s) => s.trim().parse().map_err(|_| fail(function, format!("'{s}' is not a number"))),
        other => Err(fail(function, format!("{} is not a number", other.type_name()))),
    }
}

fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::List(items) => items.to_vec(),
        Value::Nil => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Whether a value is empty as Sprig's `empty` means it: nil, false, 0, "", or no elements.
pub fn is_empty(value: &Value) -> bool {
    !value.is_truthy()
}

/// A value as JSON.
pub fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(n) => serde_json::Value::from(*n),
        Value::Uint(n) => serde_json::Value::from(*n),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => serde_json::Value::Object(map.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
    }
}

/// JSON as a value.
pub fn from_json(json: &serde_json::Value) -> Result<Value> {
    gotmpl::to_value(json)
}

type Function = fn(&[Value]) -> Result<Value>;

/// Every function of this module, by name.
pub fn all() -> FuncMap {
    let functions: [(&str, Function); 55] = [
        // Strings.
        ("upper", |a| Ok(text(arg("upper", a, 0)?).to_uppercase().into())),
        ("lower", |a| Ok(text(arg("lower", a, 0)?).to_lowercase().into())),
        ("title", |a| Ok(title(&text(arg("title", a, 0)?)).into())),
        ("trim", |a| Ok(text(arg("trim", a, 0)?).trim().to_owned().into())),
        ("trimPrefix", |a| {
            let (prefix, s) = (text(arg("trimPrefix", a, 0)?), text(arg("trimPrefix", a, 1)?));
            Ok(s.strip_prefix(prefix.as_str()).unwrap_or(&s).to_owned().into())
        }),
        ("trimSuffix", |a| {
            let (suffix, s) = (text(arg("trimSuffix", a, 0)?), text(arg("trimSuffix", a, 1)?));
            Ok(s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_owned().into())
        }),
        ("replace", |a| {
            let (old, new) = (text(arg("replace", a, 0)?), text(arg("replace", a, 1)?));
            Ok(text(arg("replace", a, 2)?).replace(&old, &new).into())
        }),
        ("contains", |a| Ok(Value::Bool(text(arg("contains", a, 1)?).contains(&text(arg("contains", a, 0)?))))),
        ("hasPrefix", |a| Ok(Value::Bool(text(arg("hasPrefix", a, 1)?).starts_with(&text(arg("hasPrefix", a, 0)?))))),
        ("hasSuffix", |a| Ok(Value::Bool(text(arg("hasSuffix", a, 1)?).ends_with(&text(arg("hasSuffix", a, 0)?))))),
        ("splitList", |a| {
            let (sep, s) = (text(arg("splitList", a, 0)?), text(arg("splitList", a, 1)?));
            Ok(Value::from(s.split(sep.as_str()).map(Value::from).collect::<Vec<_>>()))
        }),
        ("join", |a| {
            let sep = text(arg("join", a, 0)?);
            Ok(list(arg("join", a, 1)?).iter().map(text).collect::<Vec<_>>().join(&sep).into())
        }),
        ("repeat", |a| {
            let n =
                usize::try_from(int("repeat", arg("repeat", a, 0)?)?).map_err(|_| fail("repeat", "negative count"))?;
            Ok(text(arg("repeat", a, 1)?).repeat(n).into())
        }),
        ("quote", |a| Ok(a.iter().map(|v| format!("{:?}", text(v))).collect::<Vec<_>>().join(" ").into())),
        ("squote", |a| Ok(a.iter().map(|v| format!("'{}'", text(v))).collect::<Vec<_>>().join(" ").into())),
        ("cat", |a| Ok(a.iter().filter(|v| !matches!(v, Value::Nil)).map(text).collect::<Vec<_>>().join(" ").into())),
        ("indent", |a| Ok(indent(int("indent", arg("indent", a, 0)?)?, &text(arg("indent", a, 1)?)).into())),
        ("nindent", |a| {
            Ok(format!("\n{}", indent(int("nindent", arg("nindent", a, 0)?)?, &text(arg("nindent", a, 1)?))).into())
        }),
        ("lines", |a| Ok(Value::from(text(arg("lines", a, 0)?).lines().map(Value::from).collect::<Vec<_>>()))),
        ("toString", |a| Ok(text(arg("toString", a, 0)?).into())),
        // Defaults.
        ("default", |a| {
            let fallback = arg("default", a, 0)?;
            Ok(match a.get(1) {
                Some(given) if !is_empty(given) => given.clone(),
                _ => fallback.clone(),
            })
        }),
        ("empty", |a| Ok(Value::Bool(a.first().is_none_or(is_empty)))),
        ("coalesce", |a| Ok(a.iter().find(|v| !is_empty(v)).cloned().unwrap_or(Value::Nil))),
        ("ternary", |a| {
            let (yes, no) = (arg("ternary", a, 0)?, arg("ternary", a, 1)?);
            Ok(if arg("ternary", a, 2)?.is_truthy() { yes.clone() } else { no.clone() })
        }),
        // Lists and dicts.
        ("list", |a| Ok(Value::from(a.to_vec()))),
        ("first", |a| Ok(list(arg("first", a, 0)?).first().cloned().unwrap_or(Value::Nil))),
        ("last", |a| Ok(list(arg("last", a, 0)?).last().cloned().unwrap_or(Value::Nil))),
        ("has", |a| Ok(Value::Bool(list(arg("has", a, 1)?).contains(arg("has", a, 0)?)))),
        ("indexOf", |a| {
            let needle = arg("indexOf", a, 0)?;
            let at = list(arg("indexOf", a, 1)?).iter().position(|v| v == needle);
            Ok(Value::Int(at.map_or(-1, |i| i as i64)))
        }),
        ("dict", |a| {
            if a.len() % 2 != 0 {
                return Err(fail("dict", "wants pairs of keys and values"));
            }
            let map = a.chunks(2).map(|kv| (text(&kv[0]), kv[1].clone())).collect::<std::collections::BTreeMap<_, _>>();
            Ok(Value::from(map))
        }),
        ("keys", |a| match arg("keys", a, 0)? {
            Value::Map(map) => Ok(Value::from(map.keys().map(|k| Value::String(k.clone())).collect::<Vec<_>>())),
            other => Err(fail("keys", format!("{} is not a dict", other.type_name()))),
        }),
        ("hasKey", |a| match arg("hasKey", a, 0)? {
            Value::Map(map) => Ok(Value::Bool(map.contains_key(text(arg("hasKey", a, 1)?).as_str()))),
            other => Err(fail("hasKey", format!("{} is not a dict", other.type_name()))),
        }),
        // Math, on integers as Sprig's.
        ("add", |a| a.iter().try_fold(0i64, |sum, v| Ok(sum.saturating_add(int("add", v)?))).map(Value::Int)),
        ("sub", |a| Ok(Value::Int(int("sub", arg("sub", a, 0)?)?.saturating_sub(int("sub", arg("sub", a, 1)?)?)))),
        ("mul", |a| a.iter().try_fold(1i64, |product, v| Ok(product.saturating_mul(int("mul", v)?))).map(Value::Int)),
        ("div", |a| {
            let (n, d) = (int("div", arg("div", a, 0)?)?, int("div", arg("div", a, 1)?)?);
            n.checked_div(d).map(Value::Int).ok_or_else(|| fail("div", "division by zero"))
        }),
        ("mod", |a| {
            let (n, d) = (int("mod", arg("mod", a, 0)?)?, int("mod", arg("mod", a, 1)?)?);
            n.checked_rem(d).map(Value::Int).ok_or_else(|| fail("mod", "division by zero"))
        }),
        ("add1", |a| Ok(Value::Int(int("add1", arg("add1", a, 0)?)?.saturating_add(1)))),
        ("max", |a| a.iter().map(|v| int("max", v)).try_fold(i64::MIN, |m, v| Ok(m.max(v?))).map(Value::Int)),
        ("min", |a| a.iter().map(|v| int("min", v)).try_fold(i64::MAX, |m, v| Ok(m.min(v?))).map(Value::Int)),
        ("atoi", |a| Ok(Value::Int(int("atoi", arg("atoi", a, 0)?).unwrap_or(0)))),
        ("int", |a| Ok(Value::Int(int("int", arg("int", a, 0)?).unwrap_or(0)))),
        ("until", |a| {
            Ok(Value::from((0..int("until", arg("until", a, 0)?)?.min(MAX_LIST)).map(Value::Int).collect::<Vec<_>>()))
        }),
        ("loop", |a| {
            Ok(Value::from((0..int("loop", arg("loop", a, 0)?)?.min(MAX_LIST)).map(Value::Int).collect::<Vec<_>>()))
        }),
        // The environment and time.
        ("env", |a| Ok(std::env::var(text(arg("env", a, 0)?)).unwrap_or_default().into())),
        ("now", |_| Ok(Value::Int(unix_now()))),
        ("htmlDate", |a| Ok(html_date(int("htmlDate", arg("htmlDate", a, 0)?)?).into())),
        ("unixtime", |_| Ok(Value::Int(unix_now()))),
        ("echo", |a| {
            eprintln!("{}", a.iter().map(text).collect::<Vec<_>>().join(" "));
            Ok(Value::from(""))
        }),
        ("q", |a| query(&text(arg("q", a, 0)?), arg("q", a, 1)?)),
        // Encoding.
        ("b64enc", |a| Ok(base64::engine::general_purpose::STANDARD.encode(text(arg("b64enc", a, 0)?)).into())),
        ("b64dec", |a| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text(arg("b64dec", a, 0)?))
                .map_err(|e| fail("b64dec", e))?;
            String::from_utf8(bytes).map(Value::from).map_err(|e| fail("b64dec", e))
        }),
        ("jsonEncode", |a| Ok(to_json(arg("jsonEncode", a, 0)?).to_string().into())),
        ("jsonEncodeIndent", |a| {
            // The original's order: prefix, indent, then the value (a pipeline's, last).
            let (prefix, indent) = match a.len() {
                3 => (text(&a[0]), text(&a[1])),
                _ => (String::new(), "  ".to_owned()),
            };
            Ok(json_indent(&to_json(arg("jsonEncodeIndent", a, a.len().saturating_sub(1))?), &prefix, &indent).into())
        }),
        ("jsonDecode", |a| {
            let json: serde_json::Value =
                serde_json::from_str(&text(arg("jsonDecode", a, 0)?)).map_err(|e| fail("jsonDecode", e))?;
            from_json(&json)
        }),
    ];
    let mut map: FuncMap = functions.into_iter().map(|(name, f)| (name.to_owned(), Arc::new(f) as _)).collect();
    map.insert("toJson".to_owned(), Arc::new(|a: &[Value]| Ok(to_json(arg("toJson", a, 0)?).to_string().into())));
    map.insert(
        "yamlEncode".to_owned(),
        Arc::new(|a: &[Value]| {
            serde_saphyr::to_string(&to_json(arg("yamlEncode", a, 0)?))
                .map(Value::from)
                .map_err(|e| fail("yamlEncode", e))
        }),
    );
    map.insert(
        "yamlDecode".to_owned(),
        Arc::new(|a: &[Value]| {
            let json: serde_json::Value =
                serde_saphyr::from_str(&text(arg("yamlDecode", a, 0)?)).map_err(|e| fail("yamlDecode", e))?;
            from_json(&json)
        }),
    );
    map
}

/// `until` and `loop` make lists of at most this many numbers, so that a stray large count
/// fails the render's size checks instead of exhausting memory.
const MAX_LIST: i64 = 1_000_000;

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A JMESPath query over a value: the original's `q`.
fn query(expression: &str, value: &Value) -> Result<Value> {
    let compiled = jmespath::compile(expression).map_err(|e| fail("q", e))?;
    let data = jmespath::Variable::from_json(&to_json(value).to_string()).map_err(|e| fail("q", e))?;
    let found = compiled.search(data).map_err(|e| fail("q", e))?;
    from_json(&serde_json::to_value(&*found).map_err(|e| fail("q", e))?)
}

/// JSON with Go's `json.MarshalIndent` layout: each line after the first starts with `prefix`,
/// nesting adds `indent`.
fn json_indent(json: &serde_json::Value, prefix: &str, indent: &str) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    if serde::Serialize::serialize(json, &mut serializer).is_err() {
        return json.to_string();
    }
    String::from_utf8_lossy(&out).replace('\n', &format!("\n{prefix}"))
}

/// The date of a Unix time as `YYYY-MM-DD` (UTC), Sprig's `htmlDate`.
fn html_date(seconds: i64) -> String {
    let offset = Duration::from_secs(seconds.unsigned_abs());
    let time = if seconds >= 0 { UNIX_EPOCH.checked_add(offset) } else { UNIX_EPOCH.checked_sub(offset) };
    time.map(|t| infrakit_spi::time::format_rfc3339(t).chars().take(10).collect()).unwrap_or_default()
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        match start {
            true => out.extend(c.to_uppercase()),
            false => out.push(c),
        }
        start = c.is_whitespace();
    }
    out
}

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(usize::try_from(n).unwrap_or(0));
    s.lines().map(|line| format!("{pad}{line}")).collect::<Vec<_>>().join("\n")
}
