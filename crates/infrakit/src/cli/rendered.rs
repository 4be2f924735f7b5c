//! Spec files are templates, as in the original: read one rendered with the command line's
//! `--var NAME=VALUE` before it is parsed.

use std::path::Path;

use anyhow::Result;
use infrakit_template::Engine;

use super::remote::Remote;
use crate::templates::{self, BinaryHost};

/// Template variables from the command line: `--var NAME=VALUE`, any number of times.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Vars {
    /// A variable for the templates, read with `{{ var "NAME" }}` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

fn parse_var(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("'{text}' is not NAME=VALUE")),
    }
}

/// The text of `path` (`-` for stdin) rendered as a template with `vars`, `metadata` read from
/// the manager `remote` reaches: a file with no template action and no variables given is
/// returned as it is.
pub async fn read_rendered(path: &Path, vars: &Vars, remote: &Remote) -> Result<(String, String)> {
    let (name, text) = crate::input::read_text(path)?;
    if !text.contains("{{") && vars.vars.is_empty() {
        return Ok((name, text));
    }
    let url = match path == Path::new("-") {
        true => format!("str://{text}"),
        false => path.display().to_string(),
    };
    let rendered = templates::render(vars.engine(remote), url, serde_json::json!({})).await?;
    Ok((name, rendered))
}

impl Vars {
    /// A template engine with these variables, reading the network and the manager `remote`
    /// reaches.
    pub fn engine(&self, remote: &Remote) -> Engine {
        Engine::new(self.vars.iter().cloned()).with_host(BinaryHost::new(Some(remote.clone())))
    }
}
