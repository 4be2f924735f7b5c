//! `infrakit instance NAME ...`: calls to an instance plugin.

use std::process::ExitCode;

use anyhow::{Context, Result};
use infrakit_rpc::InstanceClient;
use infrakit_spi::instance::{DestroyContext, InstanceId, InstancePlugin, Spec};
use infrakit_spi::types::{PluginName, Tags};
use serde_json::Value;

use super::InstanceCommand;
use super::remote::Remote;
use crate::input::read_document;
use crate::output::{Format, Table, print, tags_cell};

/// Runs `command` against the instance plugin `name`: on this machine, or through the remote
/// manager's mux with `--host`.
pub async fn run(name: &str, command: InstanceCommand, remote: &Remote, format: Format) -> Result<ExitCode> {
    let name: PluginName = name.parse()?;
    let plugin = InstanceClient::new(remote.client_for(name.lookup())?, &name);
    match command {
        InstanceCommand::Describe { tags, properties, quiet } => {
            let tags: Tags = tags.into_iter().collect();
            let instances = plugin.describe_instances(&tags, properties).await?;
            if quiet {
                for instance in &instances {
                    println!("{}", instance.id);
                }
                return Ok(ExitCode::SUCCESS);
            }
            print(format, &instances, || {
                let mut table = Table::new(vec!["ID", "LOGICAL", "TAGS"]);
                for instance in &instances {
                    let logical = instance.logical_id.as_ref().map_or_else(|| "-".to_owned(), |l| l.to_string());
                    table.row(vec![instance.id.to_string(), logical, tags_cell(&instance.tags)]);
                }
                table
            })?;
        }
        InstanceCommand::Provision { file } => {
            let spec: Spec = read_document(&file)?;
            let id = plugin.provision(spec).await.context("provision failed")?;
            println!("{id}");
        }
        InstanceCommand::Destroy { ids } => {
            for id in ids {
                let id = InstanceId(id);
                plugin.destroy(&id, DestroyContext::TERMINATE).await.with_context(|| format!("cannot destroy {id}"))?;
                println!("destroyed {id}");
            }
        }
        InstanceCommand::Validate { file } => {
            let properties: Value = read_document(&file)?;
            plugin.validate(Some(&properties)).await?;
            println!("valid");
        }
    }
    Ok(ExitCode::SUCCESS)
}
