//! Finding plugins: the entries of the plugins directory.
//!
//! As in the original (`pkg/discovery/local/dir.go`): every unix socket in the directory is a
//! plugin named like the file; a regular file `X.listen` is the plugin `X` listening on TCP, its
//! content the address (`tcp://host:port`); everything else is ignored. A plugin name
//! `lookup/type` is found by its lookup part.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use infrakit_spi::Error;
use infrakit_spi::types::PluginName;

/// The suffix of the files that advertise a TCP plugin.
const LISTEN_SUFFIX: &str = ".listen";

/// How to reach a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Address {
    /// A unix socket.
    Unix(PathBuf),
    /// HTTP over TCP: `http://host:port/`, or `http://host:port/<plugin>/` through a mux;
    /// `https://` for a mux that speaks TLS.
    Http(HttpBase),
}

impl Address {
    /// Reads an address as the original's clients do: a plain path (or `unix://path`) is a
    /// socket; `tcp://` and `http://` URLs are HTTP, `https://` URLs HTTP over TLS.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("tcp://").or_else(|| text.strip_prefix("http://")) {
            return HttpBase::parse(rest, false).map(Self::Http);
        }
        if let Some(rest) = text.strip_prefix("https://") {
            return HttpBase::parse(rest, true).map(Self::Http);
        }
        if let Some(path) = text.strip_prefix("unix://").or_else(|| text.strip_prefix("file://")) {
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if text.contains("://") {
            return Err(Error::invalid(format!(
                "unsupported plugin address '{text}': want a socket path, http:// or https://"
            )));
        }
        Ok(Self::Unix(PathBuf::from(text)))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "{}", path.display()),
            Self::Http(base) => write!(f, "{base}"),
        }
    }
}

/// Where an HTTP plugin is: a `host:port` and the path its endpoints sit under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HttpBase {
    /// `host:port`.
    pub authority: String,
    /// The path prefix, starting and ending with `/` (just `/` without a mux).
    pub prefix: String,
    /// Whether the connection is TLS (`https://`).
    pub tls: bool,
}

impl HttpBase {
    /// The base of `url` (`http://host:port[/path]` or `https://...`) with `plugin` appended to
    /// its path: where a mux at `url` serves that plugin.
    pub fn through_mux(url: &str, plugin: &str) -> Result<Self, Error> {
        match Address::parse(url)? {
            Address::Http(base) => Ok(Self { prefix: format!("{}{plugin}/", base.prefix), ..base }),
            _ => Err(Error::invalid(format!("'{url}' is not an http:// or https:// URL"))),
        }
    }

    /// Reads `host:port[/path]` (what follows `http://`, or `https://` when `tls`).
    fn parse(rest: &str, tls: bool) -> Result<Self, Error> {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            return Err(Error::invalid(format!("invalid plugin address '{}{rest}': no host", scheme(tls))));
        }
        let path = path.trim_matches('/');
        let prefix = if path.is_empty() { "/".to_owned() } else { format!("/{path}/") };
        Ok(Self { authority: authority.to_owned(), prefix, tls })
    }
}

fn scheme(tls: bool) -> &'static str {
    if tls { "https://" } else { "http://" }
}

impl fmt::Display for HttpBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", scheme(self.tls), self.authority, self.prefix)
    }
}

/// A plugin found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its name: the lookup part of the names that address it.
    pub name: String,
    /// How to reach it.
    pub address: Address,
}

/// Every plugin in `dir`, by name.
pub fn list(dir: &Path) -> Result<BTreeMap<String, Endpoint>, Error> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::unavailable(format!("cannot list the plugins directory {}: {e}", dir.display())))?;
    let mut plugins = BTreeMap::new();
    for entry in entries.flatten() {
        let Ok(file_type) = entry.file_type() else { continue };
        let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let path = entry.path();
        if file_type.is_socket() {
            plugins.insert(file_name.clone(), Endpoint { name: file_name, address: Address::Unix(path) });
        } else if file_type.is_file()
            && let Some(name) = file_name.strip_suffix(LISTEN_SUFFIX)
        {
            match std::fs::read_to_string(&path)
                .map_err(|e| Error::failed(e.to_string()))
                .and_then(|a| Address::parse(&a))
            {
                Ok(address) => {
                    plugins.insert(name.to_owned(), Endpoint { name: name.to_owned(), address });
                }
                Err(e) => tracing::warn!(file = %path.display(), error = %e, "ignoring an unreadable .listen file"),
            }
        }
    }
    Ok(plugins)
}

/// The plugin that serves `name` (by its lookup part), or the original's
/// `plugin not found:<name>`.
pub fn find(dir: &Path, name: &PluginName) -> Result<Endpoint, Error> {
    list(dir)?.remove(name.lookup()).ok_or_else(|| Error::not_found(format!("plugin not found:{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_like_the_originals() {
        assert_eq!(Address::parse("/run/p/group").unwrap(), Address::Unix("/run/p/group".into()));
        assert_eq!(Address::parse("unix:///run/p/group").unwrap(), Address::Unix("/run/p/group".into()));
        let tcp = Address::parse("tcp://10.0.0.1:24865\n").unwrap();
        assert_eq!(tcp.to_string(), "http://10.0.0.1:24865/");
        let mux = Address::parse("http://mux:24864/group").unwrap();
        assert_eq!(
            mux,
            Address::Http(HttpBase { authority: "mux:24864".into(), prefix: "/group/".into(), tls: false })
        );
        let tls = Address::parse("https://mux:24864").unwrap();
        assert_eq!(tls.to_string(), "https://mux:24864/");
        assert!(Address::parse("ftp://x").is_err());
        assert!(Address::parse("http:///x").is_err());
        assert!(Address::parse("https:///x").is_err());
    }

    #[test]
    fn a_plugin_through_a_mux_sits_under_the_muxs_path() {
        let base = HttpBase::through_mux("https://10.0.0.1:24864/", "group").unwrap();
        assert_eq!(base.to_string(), "https://10.0.0.1:24864/group/");
        assert!(base.tls);
        assert_eq!(HttpBase::through_mux("http://m:1/edge", "vanilla").unwrap().prefix, "/edge/vanilla/");
        assert!(HttpBase::through_mux("/run/infrakit/plugins", "group").is_err());
    }
}
