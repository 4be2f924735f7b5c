//! Rendering a template URL: its text parsed with every function, `include` and `source`
//! rendering other URLs relative to it, `var` and `global` reading and setting the render's
//! variables, `fetch` and `metadata` asking the render's [`Host`], and a template that includes
//! itself refused instead of recursing until the stack overflows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gotmpl::{FuncMap, MissingKey, Template, TemplateError, Value};
use infrakit_spi::duration::GoDuration;

use crate::functions::{self, text};
use crate::host::Host;
use crate::source::{Source, SourceError};

/// Templates nested (by `include` or `source`) deeper than this are refused.
pub const MAX_DEPTH: usize = 32;

/// The shortest wait between two reads of a blocking `metadata`, so `0s` does not spin.
const MIN_RETRY: Duration = Duration::from_millis(10);

/// Why a template did not render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The template could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// It did not parse or did not run; parse errors give the line and column. The message
    /// is part of this error's own (not a separate cause), so that a chain prints it once.
    #[error("template {name}: {error}")]
    Template {
        /// The template's URL.
        name: String,
        /// What went wrong, and where.
        error: TemplateError,
    },
    /// It includes itself, directly or through others.
    #[error("template {name} includes itself: {chain}")]
    Cycle {
        /// The template.
        name: String,
        /// The includes that lead back to it.
        chain: String,
    },
}

/// Renders templates; the variables given (`--var k=v`) and those templates set are shared by
/// one engine's renders.
#[derive(Clone, Default)]
pub struct Engine {
    variables: Arc<Mutex<BTreeMap<String, Value>>>,
    host: Option<Arc<dyn Host>>,
    delims: Option<(String, String)>,
    functions: FuncMap,
}

impl Engine {
    /// An engine whose templates see `variables` through `var`.
    pub fn new(variables: impl IntoIterator<Item = (String, String)>) -> Self {
        let variables = variables.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
        Self { variables: Arc::new(Mutex::new(variables)), ..Self::default() }
    }

    /// The same engine reading web documents and metadata through `host`.
    pub fn with_host(mut self, host: Arc<dyn Host>) -> Self {
        self.host = Some(host);
        self
    }

    /// The same engine with actions between `left` and `right` instead of `{{` and `}}`.
    pub fn with_delims(mut self, left: &str, right: &str) -> Self {
        self.delims = Some((left.to_owned(), right.to_owned()));
        self
    }

    /// The same engine with more functions, or some replaced (a playbook's `flag` and `prompt`).
    pub fn with_functions(mut self, functions: FuncMap) -> Self {
        self.functions.extend(functions);
        self
    }

    /// Renders the template at `url` with `context` as its dot.
    pub fn render_url(&self, url: &str, context: &serde_json::Value) -> Result<String, RenderError> {
        let source = Source::parse(url, None)?;
        self.render(&source, &dot(url, context)?, &[])
    }

    /// Renders `text`, named `name` in errors and resolving relative URLs against `url`.
    pub fn render_text(&self, url: &str, text: &str, context: &serde_json::Value) -> Result<String, RenderError> {
        let source = Source::parse(url, None)?;
        self.execute(&source, text, &dot(url, context)?, &[source.name()])
    }

    fn render(&self, source: &Source, context: &Value, stack: &[String]) -> Result<String, RenderError> {
        let name = source.name();
        if stack.contains(&name) || stack.len() >= MAX_DEPTH {
            let chain = stack.iter().chain([&name]).cloned().collect::<Vec<_>>().join(" -> ");
            return Err(RenderError::Cycle { name, chain });
        }
        let text = source.read(self.host.as_deref())?;
        let mut inner = stack.to_vec();
        inner.push(name);
        self.execute(source, &text, context, &inner)
    }

    fn execute(&self, source: &Source, text: &str, context: &Value, stack: &[String]) -> Result<String, RenderError> {
        let name = source.name();
        let mut template = Template::new(&name)
            .missing_key(MissingKey::Invalid)
            .funcs(functions::all())
            .funcs(self.scoped(source, stack))
            .funcs(self.functions.clone());
        if let Some((left, right)) = &self.delims {
            template = template.delims(left, right);
        }
        let template = template.parse(text).map_err(|error| RenderError::Template { name: name.clone(), error })?;
        template.execute_to_string(context).map_err(|error| RenderError::Template { name, error })
    }

    /// The functions that need the render: they resolve URLs against `source`, know the
    /// templates being rendered (`stack`), share the engine's variables or ask its host.
    fn scoped(&self, source: &Source, stack: &[String]) -> FuncMap {
        let mut map = FuncMap::new();
        let nested = |engine: Engine, base: Source, stack: Vec<String>, keep_output: bool| {
            move |args: &[Value]| -> gotmpl::Result<Value> {
                let url = args.first().map(text).ok_or_else(|| TemplateError::Exec("wants a template URL".into()))?;
                let context = args.get(1).cloned().unwrap_or(Value::Nil);
                let nested = Source::parse(&url, Some(&base)).map_err(|e| TemplateError::Exec(e.to_string()))?;
                let output =
                    engine.render(&nested, &context, &stack).map_err(|e| TemplateError::Exec(e.to_string()))?;
                Ok(if keep_output { Value::from(output) } else { Value::from("") })
            }
        };
        map.insert("include".into(), Arc::new(nested(self.clone(), source.clone(), stack.to_vec(), true)));
        map.insert("source".into(), Arc::new(nested(self.clone(), source.clone(), stack.to_vec(), false)));
        for name in ["var", "global"] {
            let variables = self.variables.clone();
            map.insert(
                name.into(),
                Arc::new(move |args: &[Value]| {
                    let key =
                        args.first().map(text).ok_or_else(|| TemplateError::Exec(format!("{name} wants a name")))?;
                    let mut variables = variables.lock().unwrap_or_else(PoisonError::into_inner);
                    Ok(match args.get(1) {
                        Some(value) => {
                            variables.insert(key, value.clone());
                            Value::from("")
                        }
                        None => variables.get(&key).cloned().unwrap_or(Value::Nil),
                    })
                }),
            );
        }
        let (base, host) = (source.clone(), self.host.clone());
        map.insert(
            "fetch".into(),
            Arc::new(move |args: &[Value]| {
                let url = args.first().map(text).ok_or_else(|| TemplateError::Exec("fetch wants a URL".into()))?;
                let document = Source::parse(&url, Some(&base)).map_err(|e| TemplateError::Exec(e.to_string()))?;
                document.read(host.as_deref()).map(Value::from).map_err(|e| TemplateError::Exec(e.to_string()))
            }),
        );
        let host = self.host.clone();
        map.insert("metadata".into(), Arc::new(move |args: &[Value]| metadata(host.as_deref(), args)));
        map
    }
}

/// A render's context as the template's dot.
fn dot(url: &str, context: &serde_json::Value) -> Result<Value, RenderError> {
    functions::from_json(context).map_err(|error| RenderError::Template { name: url.to_owned(), error })
}

/// `metadata PATH` reads the running manager's value at PATH (nil when absent); `metadata PATH
/// RETRY TIMEOUT [ERR]` waits for it, asking every RETRY, until TIMEOUT (then nil, or an error
/// when ERR is true), as the original's blocking read.
fn metadata(host: Option<&dyn Host>, args: &[Value]) -> gotmpl::Result<Value> {
    let fail = |message: String| TemplateError::Exec(format!("metadata: {message}"));
    let path = args.first().map(text).ok_or_else(|| fail("wants a path".into()))?;
    let host = host.ok_or_else(|| fail(format!("cannot read {path}: no manager to ask here")))?;
    let read = || -> gotmpl::Result<Option<Value>> {
        match host.metadata(&path).map_err(|e| fail(format!("cannot read {path}: {e}")))? {
            Some(json) => functions::from_json(&json).map(Some),
            None => Ok(None),
        }
    };
    let duration = |at: usize| -> gotmpl::Result<Duration> {
        let given = text(&args[at]);
        given.parse::<GoDuration>().map(|d| d.0).map_err(|e| fail(format!("'{given}' is not a duration: {e}")))
    };
    match args.len() {
        1 => Ok(read()?.unwrap_or(Value::Nil)),
        2 => Err(fail(format!("cannot write {path}: the manager's metadata is read-only"))),
        _ => {
            let (retry, timeout) = (duration(1)?, duration(2)?);
            let error_on_timeout = args.get(3).is_some_and(Value::is_truthy);
            let deadline = Instant::now() + timeout;
            loop {
                if let Some(value) = read()? {
                    return Ok(value);
                }
                if Instant::now() >= deadline {
                    return match error_on_timeout {
                        true => Err(fail(format!("{path} did not appear within {}", GoDuration(timeout)))),
                        false => Ok(Value::Nil),
                    };
                }
                std::thread::sleep(retry.max(MIN_RETRY).min(deadline.saturating_duration_since(Instant::now())));
            }
        }
    }
}
