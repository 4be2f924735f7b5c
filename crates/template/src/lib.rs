//! Templates as the original InfraKit wrote them: Go's `text/template` syntax (parsed and run by
//! the `gotmpl` port), with the functions its specs, init scripts and playbooks use.
//!
//! A template is named by a URL (`file://`, a plain path, `http(s)://`, or `str://` followed by
//! the text itself); `include` and `source` resolve relative URLs against the including
//! template's, as the original does. Errors name the template's URL, and the line and column where the parser
//! stopped.
//!
//! # Layout
//! - [`source`]: template URLs and reading them.
//! - [`host`]: what a render reaches beyond files (web documents, the manager's metadata).
//! - [`functions`]: the functions available to every template.
//! - [`engine`]: rendering a URL with variables, includes and their cycle check.

pub mod engine;
pub mod functions;
pub mod host;
pub mod source;

pub use engine::{Engine, RenderError};
pub use gotmpl::{FuncMap, TemplateError, Value, ValueFunc};
pub use host::Host;
pub use source::Source;
