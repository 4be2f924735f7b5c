//! Templates as the original InfraKit wrote them: Go's `text/template` syntax (parsed and run by
//! the `gotmpl` port), with the functions its specs, init scripts and playbooks use.
//!
//! A template is named by a URL (`file://`, a plain path, or `str://` followed by the text
//! itself); `include` and `source` resolve relative URLs against the including template's, as
//! the original does. Errors name the template's URL, and the line and column where the parser
//! stopped.
//!
//! # Layout
//! - [`source`]: template URLs and reading them.
//! - [`functions`]: the functions available to every template.
//! - [`engine`]: rendering a URL with variables, includes and their cycle check.

pub mod engine;
pub mod functions;
pub mod source;

pub use engine::{Engine, RenderError};
pub use source::Source;
