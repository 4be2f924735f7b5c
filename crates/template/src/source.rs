//! Template URLs: where a template's text comes from, and how a relative URL inside it resolves.
//!
//! - `file:///path` and plain paths (`spec.yml`, `/etc/x.tpl`) are files;
//! - `str://TEXT` is the template text itself (the original's inline form);
//! - a relative URL resolves against the folder of the including template.
//!
//! `http://` and `https://` URLs are refused with a message saying so: fetching over the network
//! at render time is not supported yet.

use std::path::{Path, PathBuf};

/// Where a template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file.
    File(PathBuf),
    /// Text given inline.
    Inline(String),
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
    #[error("cannot read template {url}: {scheme} URLs are not supported (use a file or str://)")]
    Unsupported {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
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
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(SourceError::Unsupported { url: url.to_owned(), scheme: scheme.to_owned() });
        }
        let path = Path::new(url);
        let resolved = match base {
            Some(Self::File(including)) if path.is_relative() => {
                including.parent().map_or_else(|| path.to_path_buf(), |folder| folder.join(path))
            }
            _ => path.to_path_buf(),
        };
        Ok(Self::File(resolved))
    }

    /// The template's text.
    pub fn read(&self) -> Result<String, SourceError> {
        match self {
            Self::Inline(text) => Ok(text.clone()),
            Self::File(path) => {
                std::fs::read_to_string(path).map_err(|source| SourceError::Read { path: path.clone(), source })
            }
        }
    }

    /// The name errors give: the file's path, or `str://` and the text's start.
    pub fn name(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Inline(text) => format!("{INLINE}{}", text.chars().take(40).collect::<String>()),
        }
    }
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
        let error = Source::parse("https://example.com/x.tpl", None).unwrap_err().to_string();
        assert!(error.contains("https URLs are not supported"), "{error}");
    }
}
