//! Template URLs: where a template's text comes from, and how a relative URL inside it resolves.
//!
//! - `file:///path` and plain paths (`spec.yml`, `/etc/x.tpl`) are files;
//! - `str://TEXT` is the template text itself (the original's inline form);
//! - `http://` and `https://` URLs are documents read through the render's [`Host`];
//! - a relative URL resolves against the folder of the including template, a file's or a URL's.

use std::path::{Component, Path, PathBuf};

use crate::host::Host;

/// Where a template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file.
    File(PathBuf),
    /// Text given inline.
    Inline(String),
    /// A document on a web server.
    Url(String),
}

/// Why a template could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be read.
    #[error("cannot read template {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A scheme this build does not read.
    #[error("cannot read template {url}: {scheme} URLs are not supported (use a file, http(s):// or str://)")]
    Unsupported {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The web server did not give the document, or no host was given to ask it.
    #[error("cannot read template {url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

const FILE: &str = "file://";
const INLINE: &str = "str://";

impl Source {
    /// The source a URL names, relative URLs resolved against `base` (the including template).
    pub fn parse(url: &str, base: Option<&Source>) -> Result<Self, SourceError> {
        if let Some(text) = url.strip_prefix(INLINE) {
            return Ok(Self::Inline(text.to_owned()));
        }
        if let Some(path) = url.strip_prefix(FILE) {
            return Ok(Self::File(PathBuf::from(path)));
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            return Ok(Self::Url(url.to_owned()));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(SourceError::Unsupported { url: url.to_owned(), scheme: scheme.to_owned() });
        }
        let path = Path::new(url);
        Ok(match base {
            Some(Self::File(including)) if path.is_relative() => Self::File(
                including.parent().map_or_else(|| path.to_path_buf(), |folder| normalize(&folder.join(path))),
            ),
            Some(Self::Url(including)) => Self::Url(join_url(including, url)?),
            _ => Self::File(path.to_path_buf()),
        })
    }

    /// The template's text; web documents are asked of `host`.
    pub fn read(&self, host: Option<&dyn Host>) -> Result<String, SourceError> {
        match self {
            Self::Inline(text) => Ok(text.clone()),
            Self::File(path) => {
                std::fs::read_to_string(path).map_err(|source| SourceError::Read { path: path.clone(), source })
            }
            Self::Url(url) => {
                let fetch_error = |reason: String| SourceError::Fetch { url: url.clone(), reason };
                host.ok_or_else(|| fetch_error("nothing here reads web documents".to_owned()))?
                    .fetch(url)
                    .map_err(fetch_error)
            }
        }
    }

    /// The URL that names this source again: a file's path, the web URL, or `str://TEXT`.
    pub fn url(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Url(url) => url.clone(),
            Self::Inline(text) => format!("{INLINE}{text}"),
        }
    }

    /// The name errors give: the file's path, the URL, or `str://` and the text's start.
    pub fn name(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Url(url) => url.clone(),
            Self::Inline(text) => format!("{INLINE}{}", text.chars().take(40).collect::<String>()),
        }
    }
}

/// `a/b/../c` as `a/c`, so that names in errors and in the include-cycle check are one per file.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `relative` (a path, absolute on the server or not) against the URL of the including document.
fn join_url(base: &str, relative: &str) -> Result<String, SourceError> {
    let unresolvable = |reason: String| SourceError::Fetch { url: relative.to_owned(), reason };
    let base = url::Url::parse(base).map_err(|e| unresolvable(format!("{base} is not a URL: {e}")))?;
    let joined = base.join(relative).map_err(|e| unresolvable(format!("not a URL relative to {base}: {e}")))?;
    Ok(joined.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_as_the_original_resolves_them() {
        assert_eq!(Source::parse("str://{{ 1 }}", None).unwrap(), Source::Inline("{{ 1 }}".into()));
        assert_eq!(Source::parse("file:///a/b.tpl", None).unwrap(), Source::File("/a/b.tpl".into()));
        let base = Source::File("/specs/group.yml".into());
        assert_eq!(Source::parse("init.sh", Some(&base)).unwrap(), Source::File("/specs/init.sh".into()));
        assert_eq!(Source::parse("/etc/x", Some(&base)).unwrap(), Source::File("/etc/x".into()));
        assert_eq!(Source::parse("../x", Some(&base)).unwrap(), Source::File("/x".into()));
        let web = Source::parse("https://example.com/pb/index.yml", None).unwrap();
        assert_eq!(web, Source::Url("https://example.com/pb/index.yml".into()));
        let sibling = Source::Url("https://example.com/pb/sub/up.ikt".into());
        assert_eq!(Source::parse("sub/up.ikt", Some(&web)).unwrap(), sibling);
        assert_eq!(
            Source::parse("../a.ikt", Some(&sibling)).unwrap(),
            Source::Url("https://example.com/pb/a.ikt".into())
        );
        assert_eq!(Source::parse("/b", Some(&web)).unwrap(), Source::Url("https://example.com/b".into()));
        let error = Source::parse("ftp://example.com/x.tpl", None).unwrap_err().to_string();
        assert!(error.contains("ftp URLs are not supported"), "{error}");
        let error = web.read(None).unwrap_err().to_string();
        assert!(error.contains("nothing here reads web documents"), "{error}");
    }
}
