//! The template engine as this binary runs it: `http(s)://` documents read with the RPC layer's
//! HTTP client (trusting `INFRAKIT_TLS_CA` as `--host` does), `metadata` read from the running
//! manager, and every render on a blocking thread, because the engine is synchronous and its
//! functions may wait on the network.
//!
//! Metadata paths are the original group plugin's: `specs/GROUP` (the stored spec) and
//! `groups/GROUP` (its description), optionally after the manager's name (`group/specs/web`),
//! then field names into the document (`specs/web/Properties/Allocation/Size`).

use std::sync::Arc;

use anyhow::{Result, bail};
use infrakit_rpc::GroupClient;
use infrakit_spi::group::{GroupId, GroupPlugin};
use infrakit_template::{Engine, Host};
use serde_json::Value;
use tokio::runtime::Handle;

use crate::cli::remote::{MANAGER, Remote};

/// What renders in this process reach: the network, and the manager when one is named.
pub struct BinaryHost {
    runtime: Handle,
    manager: Option<Remote>,
}

impl BinaryHost {
    /// A host reading web documents and the metadata of the manager `manager` reaches.
    pub fn new(manager: Option<Remote>) -> Arc<Self> {
        Arc::new(Self { runtime: Handle::current(), manager })
    }
}

impl Host for BinaryHost {
    fn fetch(&self, url: &str) -> Result<String, String> {
        self.runtime.block_on(infrakit_rpc::client::fetch::get_text(url)).map_err(|e| e.to_string())
    }

    fn metadata(&self, path: &str) -> Result<Option<Value>, String> {
        let manager = self.manager.as_ref().ok_or_else(|| "there is no manager to ask here".to_owned())?;
        self.runtime.block_on(read_metadata(manager, path)).map_err(|e| format!("{e:#}"))
    }
}

/// Renders `url` with `engine` on a blocking thread.
pub async fn render(engine: Engine, url: String, context: Value) -> Result<String> {
    Ok(tokio::task::spawn_blocking(move || engine.render_url(&url, &context)).await??)
}

async fn read_metadata(manager: &Remote, path: &str) -> Result<Option<Value>> {
    let trimmed = path.trim_matches('/');
    let mut segments = trimmed.strip_prefix(&format!("{MANAGER}/")).unwrap_or(trimmed).split('/');
    let groups = GroupClient::new(manager.client()?, &MANAGER.parse()?);
    let specs = groups.inspect_groups().await?;
    let document = match (segments.next(), segments.next()) {
        (Some("specs"), None) => Some(Value::from(specs.iter().map(|s| s.id.to_string()).collect::<Vec<_>>())),
        (Some("specs"), Some(id)) => specs.into_iter().find(|s| s.id.0 == id).map(serde_json::to_value).transpose()?,
        (Some("groups"), Some(id)) if specs.iter().any(|s| s.id.0 == id) => {
            Some(serde_json::to_value(groups.describe_group(&GroupId(id.to_owned())).await?)?)
        }
        (Some("groups"), Some(_)) => None,
        _ => bail!("no metadata at '{path}': the manager has specs/GROUP and groups/GROUP"),
    };
    Ok(document.and_then(|document| {
        segments.filter(|s| !s.is_empty()).try_fold(document, |value, field| match value {
            Value::Array(items) => field.parse::<usize>().ok().and_then(|at| items.into_iter().nth(at)),
            Value::Object(mut fields) => fields.remove(field),
            _ => None,
        })
    }))
}
