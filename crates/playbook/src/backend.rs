//! A command's front matter: what runs its rendering, named between `=%` and `%=` (usually in a
//! comment, `{{/* =% sh %= */}}`), as the original's playbooks name it.
//!
//! - `=% print %=` (also `doc`, `text`): print it; the default when nothing is named.
//! - `=% sh "ARG"... %=`: run it with `/bin/sh` on its standard input, with the arguments.
//! - `=% controllerCommit ["PLUGIN"] %=`: commit it, a group spec or a list of them, to the
//!   manager (or the group plugin named).
//! - `=% instanceProvision "PLUGIN" %=`: provision it, an instance spec, with that plugin.

use std::sync::{Arc, Mutex, PoisonError};

use infrakit_template::functions::text;
use infrakit_template::{Engine, FuncMap, TemplateError, Value};

use crate::Error;

/// What runs a command's rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Printed.
    Print,
    /// Run by `/bin/sh` with these arguments.
    Sh(Vec<String>),
    /// Committed to the manager, or to the group plugin named.
    ControllerCommit(Option<String>),
    /// Provisioned by the instance plugin named.
    InstanceProvision(String),
}

/// The backend the front matter of the template at `url` names.
pub fn front_matter(engine: &Engine, url: &str) -> Result<Backend, Error> {
    let chosen: Arc<Mutex<Vec<Backend>>> = Arc::default();
    let mut functions = FuncMap::new();
    let choose = |chosen: Arc<Mutex<Vec<Backend>>>, make: fn(&[Value]) -> Result<Backend, String>| {
        Arc::new(move |args: &[Value]| {
            let backend = make(args).map_err(TemplateError::Exec)?;
            chosen.lock().unwrap_or_else(PoisonError::into_inner).push(backend);
            Ok(Value::from(""))
        })
    };
    for name in ["print", "doc", "text"] {
        functions.insert(name.into(), choose(chosen.clone(), |_| Ok(Backend::Print)));
    }
    functions.insert("sh".into(), choose(chosen.clone(), |args| Ok(Backend::Sh(args.iter().map(text).collect()))));
    functions.insert(
        "controllerCommit".into(),
        choose(chosen.clone(), |args| Ok(Backend::ControllerCommit(args.first().map(text)))),
    );
    functions.insert(
        "instanceProvision".into(),
        choose(chosen.clone(), |args| match args.first() {
            Some(plugin) => Ok(Backend::InstanceProvision(text(plugin))),
            None => Err("instanceProvision wants the instance plugin's name".to_owned()),
        }),
    );
    engine.clone().with_delims("=%", "%=").with_functions(functions).render_url(url, &serde_json::json!({}))?;
    let mut chosen = std::mem::take(&mut *chosen.lock().unwrap_or_else(PoisonError::into_inner));
    match chosen.len() {
        0 => Ok(Backend::Print),
        1 => Ok(chosen.remove(0)),
        _ => Err(Error::Invalid(format!("{url} names {} backends in its front matter; one runs it", chosen.len()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(text: &str) -> Result<Backend, Error> {
        front_matter(&Engine::default(), &format!("str://{text}"))
    }

    #[test]
    fn the_front_matter_names_the_backend() {
        assert_eq!(backend("{{/* =% sh \"-e\" %= */}}\necho {{ 1 }}").unwrap(), Backend::Sh(vec!["-e".into()]));
        assert_eq!(backend("=% controllerCommit %=").unwrap(), Backend::ControllerCommit(None));
        assert_eq!(
            backend("{{/* =% instanceProvision `file` %= */}}").unwrap(),
            Backend::InstanceProvision("file".into())
        );
        assert_eq!(backend("{{ print \"no front matter\" }}").unwrap(), Backend::Print);
        assert!(backend("=% sh %= =% print %=").unwrap_err().to_string().contains("2 backends"));
        assert!(backend("=% ssh %=").is_err(), "an unknown backend is an error");
    }
}
