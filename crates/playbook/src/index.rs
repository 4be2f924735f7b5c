//! An index: a YAML map from command names to the templates that are the commands (the
//! original's `index.yml`, `.ikb`, `.ikm`). An entry may name another index, whose commands are
//! then nested under its name: `infrakit NAME GROUP COMMAND`.
//!
//! The index is itself a template, rendered before it is read. Entries are relative to the
//! index's URL. An entry is an index when its URL ends in `.ikb`, `.ikm` or `index.yml`, or
//! names a local folder (which holds `index.ikb` or `index.yml`).

use std::collections::BTreeMap;
use std::path::Path;

use infrakit_template::{Engine, Source};

use crate::Error;

/// Index file names looked for in a folder named by an entry.
const FOLDER_INDEXES: [&str; 3] = ["index.ikb", "index.yml", "index.yaml"];

/// An index's commands, by name, with their templates' URLs.
#[derive(Debug, Clone)]
pub struct Index {
    url: String,
    entries: BTreeMap<String, String>,
}

/// What a name in an index leads to.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A command: its template's URL.
    Command(String),
    /// A nested index.
    Index(Index),
}

impl Index {
    /// Reads the index at `url`.
    pub fn load(engine: &Engine, url: &str) -> Result<Self, Error> {
        let url = folder_index(url).unwrap_or_else(|| url.to_owned());
        let text = engine.render_url(&url, &serde_json::json!({}))?;
        let listed: BTreeMap<String, String> = match text.trim().is_empty() {
            true => BTreeMap::new(),
            false => serde_saphyr::from_str(&text).map_err(|e| {
                Error::Invalid(format!("{url} is not an index (a map of command names to template URLs): {e}"))
            })?,
        };
        let base = Source::parse(&url, None).map_err(infrakit_template::RenderError::from)?;
        let entries = listed
            .into_iter()
            .map(|(name, entry)| Ok((name, Source::parse(&entry, Some(&base))?.url())))
            .collect::<Result<_, infrakit_template::source::SourceError>>()
            .map_err(|e| Error::Invalid(format!("{url}: {e}")))?;
        Ok(Self { url, entries })
    }

    /// The index's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The commands and nested indexes, by name, with their URLs.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(name, url)| (name.as_str(), url.as_str()))
    }

    /// What `name` leads to.
    pub fn entry(&self, engine: &Engine, name: &str) -> Result<Entry, Error> {
        let url = self.entries.get(name).ok_or_else(|| {
            let known = self.entries.keys().cloned().collect::<Vec<_>>().join(", ");
            Error::NotFound(format!("no command {name} in {} (it has: {known})", self.url))
        })?;
        match is_index(url) {
            true => Ok(Entry::Index(Self::load(engine, url)?)),
            false => Ok(Entry::Command(url.clone())),
        }
    }

    /// Follows `path` through nested indexes: what it leads to, and how many of its words were
    /// names (the rest are the command's arguments).
    pub fn find(&self, engine: &Engine, path: &[String]) -> Result<(Entry, usize), Error> {
        let mut entry = Entry::Index(self.clone());
        for (used, word) in path.iter().enumerate() {
            let Entry::Index(index) = &entry else { return Ok((entry, used)) };
            if word.starts_with('-') {
                return Ok((entry, used));
            }
            entry = index.entry(engine, word)?;
        }
        Ok((entry, path.len()))
    }
}

fn is_index(url: &str) -> bool {
    url.ends_with(".ikb") || url.ends_with(".ikm") || url.ends_with("index.yml") || folder_index(url).is_some()
}

/// The index file of a local folder.
fn folder_index(url: &str) -> Option<String> {
    let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
    if url.contains("://") && !url.starts_with("file://") || !path.is_dir() {
        return None;
    }
    FOLDER_INDEXES.iter().map(|name| path.join(name)).find(|p| p.is_file()).map(|p| p.display().to_string())
}
