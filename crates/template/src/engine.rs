//! Rendering a template URL: its text parsed with every function, `include` and `source`
//! rendering other URLs relative to it, `var` and `global` reading and setting the render's
//! variables, and a template that includes itself refused instead of recursing until the stack
//! overflows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use gotmpl::{MissingKey, Template, TemplateError, Value};

use crate::functions::{self, text};
use crate::source::{Source, SourceError};

/// Templates nested (by `include` or `source`) deeper than this are refused.
pub const MAX_DEPTH: usize = 32;

/// Why a template did not render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The template could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// It did not parse or did not run; parse errors give the line and column.
    #[error("template {name}: {source}")]
    Template {
        /// The template's URL.
        name: String,
        /// What went wrong, and where.
        #[source]
        source: TemplateError,
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
}

impl Engine {
    /// An engine whose templates see `variables` through `var`.
    pub fn new(variables: impl IntoIterator<Item = (String, String)>) -> Self {
        let variables = variables.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
        Self { variables: Arc::new(Mutex::new(variables)) }
    }

    /// Renders the template at `url` with `context` as its dot.
    pub fn render_url(&self, url: &str, context: &serde_json::Value) -> Result<String, RenderError> {
        let source = Source::parse(url, None)?;
        let context =
            functions::from_json(context).map_err(|source| RenderError::Template { name: url.to_owned(), source })?;
        self.render(&source, &context, &[])
    }

    fn render(&self, source: &Source, context: &Value, stack: &[String]) -> Result<String, RenderError> {
        let name = source.name();
        if stack.contains(&name) || stack.len() >= MAX_DEPTH {
            let chain = stack.iter().chain([&name]).cloned().collect::<Vec<_>>().join(" -> ");
            return Err(RenderError::Cycle { name, chain });
        }
        let text = source.read()?;
        let mut inner = stack.to_vec();
        inner.push(name.clone());
        let template = Template::new(&name)
            .missing_key(MissingKey::Invalid)
            .funcs(functions::all())
            .funcs(self.scoped(source, &inner))
            .parse(&text)
            .map_err(|source| RenderError::Template { name: name.clone(), source })?;
        template.execute_to_string(context).map_err(|source| RenderError::Template { name, source })
    }

    /// The functions that need the render: they resolve URLs against `source` and know the
    /// templates being rendered (`stack`).
    fn scoped(&self, source: &Source, stack: &[String]) -> gotmpl::FuncMap {
        let mut map = gotmpl::FuncMap::new();
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
        map
    }
}
