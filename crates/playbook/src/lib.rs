//! Playbooks as the original wrote them: an index maps command names to templates (or to other
//! indexes, for nested commands), and each template is a command whose flags and prompts it
//! defines itself and whose front matter picks what runs its rendering.
//!
//! A command is rendered twice. The first rendering only collects what `flag` and `param`
//! define, so that a command line can be parsed and `--help` can list them; the second has
//! their values, asks `prompt`s for what is still missing, and gives the text to run. The front
//! matter is read by a third pass with the delimiters `=%` and `%=`, usually inside a comment:
//! `{{/* =% sh %= */}}`.
//!
//! This crate decides what to run; the program that uses it runs it (a shell, a commit to the
//! manager, a provision), so that it needs neither a process nor a plugin client.
//!
//! # Layout
//! - [`store`]: the playbooks a user added, by name (`$INFRAKIT_HOME/playbooks.yml`).
//! - [`index`]: an index of commands, and finding a command by its path.
//! - [`command`]: a command's flags, its prompts, and its rendering.
//! - [`backend`]: the front matter: what runs a rendering.

pub mod backend;
pub mod command;
pub mod index;
pub mod store;

pub use backend::Backend;
pub use command::{Command, Param, ParamType, Prompter, Run};
pub use index::{Entry, Index};
pub use store::{Playbook, Store};

/// Why a playbook could not be read or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A template did not render.
    #[error(transparent)]
    Render(#[from] infrakit_template::RenderError),
    /// An index or the playbooks file is not what it should be.
    #[error("{0}")]
    Invalid(String),
    /// A command or playbook that is not there.
    #[error("{0}")]
    NotFound(String),
    /// The playbooks file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
