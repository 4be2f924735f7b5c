//! Spec files are templates, as in the original: read one rendered with the command line's
//! `--var NAME=VALUE` before it is parsed.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

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

/// The text of `path` (`-` for stdin) rendered as a template with `vars`: a file with no
/// template action and no variables given is returned as it is.
pub fn read_rendered(path: &Path, vars: &Vars) -> Result<(String, String)> {
    let (name, text) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read stdin")?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        (path.display().to_string(), text)
    };
    if !text.contains("{{") && vars.vars.is_empty() {
        return Ok((name, text));
    }
    let engine = infrakit_template::Engine::new(vars.vars.iter().cloned());
    let url = match path == Path::new("-") {
        true => format!("str://{text}"),
        false => path.display().to_string(),
    };
    let rendered = engine.render_url(&url, &serde_json::json!({}))?;
    Ok((name, rendered))
}
