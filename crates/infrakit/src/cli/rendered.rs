//! Spec files are templates, as in the original: read one rendered with the command line's
//! `--var NAME=VALUE` before it is parsed.

use std::path::Path;

use anyhow::Result;

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
    let (name, text) = crate::input::read_text(path)?;
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
