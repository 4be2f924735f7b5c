//! `infrakit flavor NAME ...`: calls to a flavor plugin.

use std::process::ExitCode;

use anyhow::Result;
use infrakit_rpc::FlavorClient;
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{AllocationMethod, GroupId, Index};
use infrakit_spi::instance::{Description, LogicalId, Spec};
use infrakit_spi::types::PluginName;
use serde_json::Value;

use super::remote::Remote;
use super::{AllocationArgs, FlavorCommand};
use crate::input::read_document;
use crate::output::{Format, Table, print, tags_cell};

impl AllocationArgs {
    fn allocation(&self) -> AllocationMethod {
        if self.logical_ids.is_empty() {
            AllocationMethod { size: self.size, logical_ids: Vec::new() }
        } else {
            AllocationMethod { size: 0, logical_ids: self.logical_ids.iter().map(|l| LogicalId(l.clone())).collect() }
        }
    }
}

/// Runs `command` against the flavor plugin `name`: on this machine, or through the remote
/// manager's mux with `--host`.
pub async fn run(name: &str, command: FlavorCommand, remote: &Remote, format: Format) -> Result<ExitCode> {
    let name: PluginName = name.parse()?;
    let plugin = FlavorClient::new(remote.client_for(name.lookup())?, &name);
    match command {
        FlavorCommand::Validate { file, allocation } => {
            let properties: Value = read_document(&file)?;
            plugin.validate(Some(&properties), &allocation.allocation()).await?;
            println!("valid");
        }
        FlavorCommand::Prepare { file, spec, allocation, group, sequence } => {
            let properties: Value = read_document(&file)?;
            let spec: Spec = read_document(&spec)?;
            let index = Index { group: GroupId(group), sequence };
            let prepared = plugin.prepare(Some(&properties), spec, &allocation.allocation(), &index).await?;
            print(format, &prepared, || {
                let mut table = Table::new(vec!["FIELD", "VALUE"]);
                table.row(vec!["Tags".into(), tags_cell(&prepared.tags)]);
                table.row(vec!["LogicalID".into(), prepared.logical_id.as_ref().map_or("-".into(), |l| l.to_string())]);
                let attachments: Vec<_> =
                    prepared.attachments.iter().map(|a| format!("{}:{}", a.r#type, a.id)).collect();
                table.row(vec!["Attachments".into(), attachments.join(",")]);
                table.row(vec!["Init".into(), prepared.init.replace('\n', "\\n")]);
                table
            })?;
        }
        FlavorCommand::Healthy { file, instance } => {
            let properties: Value = read_document(&file)?;
            let instance: Description = read_document(&instance)?;
            let health = plugin.healthy(Some(&properties), &instance).await?;
            println!("{}", health_word(health));
            if health != Health::Healthy {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn health_word(health: Health) -> &'static str {
    match health {
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
        Health::Unknown => "unknown",
    }
}
