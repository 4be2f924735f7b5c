//! A playbook command: a template that defines its own flags (`flag`, `param`, `listflag`,
//! `listparam`), asks for what is missing (`prompt`, `listprompt`, guarded by `cond`), and is
//! rendered with their values.
//!
//! As in the original, `flag "NAME" "TYPE" "DESCRIPTION" [DEFAULT]` is both the definition and
//! the value, and a prompt placed after it in a pipeline asks only when the flag was not given:
//! `{{ $size := flag "size" "int" "how many" | prompt "How many?" "int" 3 }}`. The last argument
//! of a prompt is the value piped into it; the first after the type is the default offered.
//! Prompts read the terminal; when there is none, a missing value is an error naming its flag.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use infrakit_template::functions::text;
use infrakit_template::{Engine, FuncMap, RenderError, TemplateError, Value};

use crate::Error;
use crate::backend::{self, Backend};

/// The type of a flag's value, as the original names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `string`, also `ip` and `duration`, kept as text.
    String,
    /// `int`.
    Int,
    /// `float`.
    Float,
    /// `bool`: `true`/`false`, or `yes`/`no`, `y`/`n`, `1`/`0`.
    Bool,
}

impl ParamType {
    fn parse(name: &str) -> Result<Self, String> {
        match name {
            "string" | "ip" | "duration" => Ok(Self::String),
            "int" => Ok(Self::Int),
            "float" => Ok(Self::Float),
            "bool" => Ok(Self::Bool),
            other => Err(format!("unknown type '{other}' (want string, int, float or bool)")),
        }
    }

    /// The template value of `given`, or why it is not one of this type.
    pub fn value(self, given: &str) -> Result<Value, String> {
        let given = given.trim();
        match self {
            Self::String => Ok(Value::from(given)),
            Self::Int => given.parse::<i64>().map(Value::Int).map_err(|_| format!("'{given}' is not an int")),
            Self::Float => given.parse::<f64>().map(Value::Float).map_err(|_| format!("'{given}' is not a float")),
            Self::Bool => match given {
                "true" | "t" | "1" | "y" | "Y" | "yes" | "ok" | "TRUE" | "True" => Ok(Value::Bool(true)),
                "false" | "f" | "0" | "n" | "N" | "no" | "FALSE" | "False" => Ok(Value::Bool(false)),
                _ => Err(format!("'{given}' is not a bool")),
            },
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Float => "float",
            Self::Bool => "bool",
        })
    }
}

/// A flag a command defines.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The flag's name, without dashes.
    pub name: String,
    /// Its type.
    pub kind: ParamType,
    /// What `--help` says of it.
    pub description: String,
    /// Its default, as text.
    pub default: Option<String>,
    /// A comma-separated list (`listflag`).
    pub list: bool,
}

/// Asks the user for a value.
pub trait Prompter: Send + Sync {
    /// The answer to `question` (`default` offered), or `None` when nobody can be asked (stdin
    /// is not a terminal).
    fn ask(&self, question: &str, default: &str) -> Option<String>;
}

/// A command ready to run: its rendering and what runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The rendered text.
    pub script: String,
    /// What runs it.
    pub backend: Backend,
}

/// A command: its template, the flags it defines and its backend.
#[derive(Clone)]
pub struct Command {
    url: String,
    engine: Engine,
    params: Vec<Param>,
    backend: Backend,
}

/// The key of the value `cond` hands to the next stage of a pipeline.
const COND: &str = "infrakit.playbook.cond";

impl Command {
    /// Reads the command at `url`: its flags (a first rendering, whose failures while running
    /// are left for the real one, as flags may be needed to get that far; a template that
    /// cannot be read or parsed fails here) and its backend.
    pub fn load(engine: &Engine, url: &str) -> Result<Self, Error> {
        let params: Arc<Mutex<Vec<Param>>> = Arc::default();
        let defining = engine.clone().with_functions(defining_functions(params.clone()));
        match defining.render_url(url, &serde_json::json!({})) {
            Err(e @ (RenderError::Source(_) | RenderError::Cycle { .. })) => return Err(e.into()),
            Err(e @ RenderError::Template { error: TemplateError::Parse { .. } | TemplateError::Lex { .. }, .. }) => {
                return Err(e.into());
            }
            Ok(_) | Err(RenderError::Template { .. }) => {}
        }
        let params = std::mem::take(&mut *params.lock().unwrap_or_else(PoisonError::into_inner));
        let backend = backend::front_matter(engine, url)?;
        Ok(Self { url: url.to_owned(), engine: engine.clone(), params, backend })
    }

    /// The same command rendered with `engine` (its `--var` variables, say); its flags and
    /// backend are the ones already read.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// The template's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The flags the command defines, in the order it defines them.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// What runs the rendering.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Renders the command with the flags given (`values`, as text), asking `prompter` for
    /// what is missing, or taking the defaults offered when `accept_defaults`.
    pub fn render(
        &self,
        values: &BTreeMap<String, String>,
        prompter: Arc<dyn Prompter>,
        accept_defaults: bool,
    ) -> Result<Run, Error> {
        let state = Arc::new(Mutex::new(Exec { values: values.clone(), last_missing: None }));
        let functions = exec_functions(state, prompter, accept_defaults);
        let script = self.engine.clone().with_functions(functions).render_url(&self.url, &serde_json::json!({}))?;
        Ok(Run { script, backend: self.backend.clone() })
    }
}

struct Exec {
    values: BTreeMap<String, String>,
    /// The last flag read without a value: the one a prompt after it asks for.
    last_missing: Option<String>,
}

/// What a template function returns.
type TemplateResult<T> = Result<T, TemplateError>;

fn fail(message: impl fmt::Display) -> TemplateError {
    TemplateError::Exec(message.to_string())
}

/// `NAME TYPE DESCRIPTION [DEFAULT]`.
fn definition(function: &str, args: &[Value], list: bool) -> TemplateResult<Param> {
    let [name, kind, description, rest @ ..] = args else {
        return Err(fail(format!("{function} wants a name, a type and a description")));
    };
    let kind = ParamType::parse(&text(kind)).map_err(|e| fail(format!("{function} {}: {e}", text(name))))?;
    Ok(Param {
        name: text(name),
        kind,
        description: text(description),
        default: rest.first().map(text).filter(|d| !d.is_empty()),
        list,
    })
}

fn typed(param: &Param, given: &str) -> TemplateResult<Value> {
    if param.list {
        return Ok(Value::from(given.split(',').map(|s| Value::from(s.trim())).collect::<Vec<_>>()));
    }
    param.kind.value(given).map_err(|e| fail(format!("--{}: {e}", param.name)))
}

/// `flag`, `param`, `listflag` and `listparam`, each reading its definition and handing it to
/// `read` for its value.
fn flag_functions(read: impl Fn(Param) -> TemplateResult<Value> + Send + Sync + 'static) -> FuncMap {
    let read = Arc::new(read);
    let mut map = FuncMap::new();
    for (name, list) in [("flag", false), ("param", false), ("listflag", true), ("listparam", true)] {
        let read = read.clone();
        map.insert(name.into(), Arc::new(move |args: &[Value]| read(definition(name, args, list)?)));
    }
    map
}

/// The first rendering's functions: flags are recorded and give their defaults; nothing is
/// asked, read or written.
fn defining_functions(params: Arc<Mutex<Vec<Param>>>) -> FuncMap {
    let mut map = flag_functions(move |param| {
        let value = param.default.as_deref().map_or(Ok(Value::Nil), |d| typed(&param, d))?;
        let mut params = params.lock().unwrap_or_else(PoisonError::into_inner);
        if !params.iter().any(|p| p.name == param.name) {
            params.push(param);
        }
        Ok(value)
    });
    for name in ["prompt", "listprompt"] {
        map.insert(
            name.into(),
            Arc::new(|args: &[Value]| Ok(args.get(2..).and_then(<[_]>::last).cloned().unwrap_or(Value::Nil))),
        );
    }
    map.insert("cond".into(), Arc::new(cond));
    map.insert("include".into(), Arc::new(|_: &[Value]| Ok(Value::from("{}"))));
    map.insert("fetch".into(), Arc::new(|_: &[Value]| Ok(Value::from(""))));
    map.insert("metadata".into(), Arc::new(|_: &[Value]| Ok(Value::Nil)));
    map
}

/// The real rendering's functions.
fn exec_functions(state: Arc<Mutex<Exec>>, prompter: Arc<dyn Prompter>, accept_defaults: bool) -> FuncMap {
    let flags = state.clone();
    let mut map = flag_functions(move |param| {
        let mut state = flags.lock().unwrap_or_else(PoisonError::into_inner);
        match state.values.get(&param.name).or(param.default.as_ref()).cloned() {
            Some(given) => {
                state.last_missing = None;
                typed(&param, &given)
            }
            None => {
                state.last_missing = Some(param.name);
                Ok(Value::Nil)
            }
        }
    });
    for (name, list) in [("prompt", false), ("listprompt", true)] {
        let (state, prompter) = (state.clone(), prompter.clone());
        map.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let [question, kind, optional @ ..] = args else {
                    return Err(fail(format!("{name} wants a question and a type")));
                };
                let question = text(question);
                let kind = ParamType::parse(&text(kind)).map_err(|e| fail(format!("{name} \"{question}\": {e}")))?;
                let mut piped = optional.last().cloned().unwrap_or(Value::Nil);
                if let Value::Map(guard) = &piped
                    && let Some(go_on) = guard.get(COND)
                {
                    let value = guard.get("value").cloned().unwrap_or(Value::Nil);
                    if !go_on.is_truthy() {
                        return Ok(value);
                    }
                    piped = value;
                }
                if !missing(&piped) {
                    return Ok(piped);
                }
                let default = optional.first().filter(|d| !matches!(d, Value::Map(_))).map(text).unwrap_or_default();
                let flag = state.lock().unwrap_or_else(PoisonError::into_inner).last_missing.take();
                let answer = match accept_defaults {
                    true => default,
                    false => prompter.ask(&question, &default).ok_or_else(|| {
                        let what = flag.as_ref().map_or_else(|| "an answer".to_owned(), |f| format!("--{f}"));
                        fail(format!("\"{question}\": give {what}; stdin is not a terminal to ask"))
                    })?,
                };
                let answer = if answer.trim().is_empty() { default_or(&answer, optional) } else { answer };
                let param = Param {
                    name: flag.unwrap_or_else(|| question.clone()),
                    kind,
                    description: String::new(),
                    default: None,
                    list,
                };
                typed(&param, &answer)
            }),
        );
    }
    map.insert("cond".into(), Arc::new(cond));
    map
}

/// An empty answer takes the default offered.
fn default_or(answer: &str, optional: &[Value]) -> String {
    optional.first().map(text).filter(|d| !d.is_empty()).unwrap_or_else(|| answer.to_owned())
}

/// `cond B` in a pipeline: the next prompt runs only when B is true; otherwise the value before
/// the `cond` goes on.
fn cond(args: &[Value]) -> TemplateResult<Value> {
    let go_on = args.first().ok_or_else(|| fail("cond wants a condition"))?;
    let go_on = match go_on {
        Value::String(s) => ParamType::Bool.value(s).unwrap_or(Value::Bool(false)),
        other => Value::Bool(other.is_truthy()),
    };
    let value = args.get(1).cloned().unwrap_or(Value::Nil);
    Ok(Value::from(BTreeMap::from([(COND.to_owned(), go_on), ("value".to_owned(), value)])))
}

/// Whether a value piped into a prompt is the absence of one.
fn missing(value: &Value) -> bool {
    match value {
        Value::Nil => true,
        Value::String(s) => s.is_empty(),
        Value::List(items) => items.is_empty(),
        _ => false,
    }
}
