//! `infrakit history|diff|rollback`: the versions the manager keeps of each group's spec.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use infrakit_manager::Version;
use infrakit_manager::diff::diff;
use infrakit_spi::group::GroupId;
use serde_json::Value;

use crate::output::{Format, Table, print};

use super::remote::Remote;

/// Lists a group's versions.
pub async fn history(id: &str, remote: &Remote, format: Format) -> Result<ExitCode> {
    let versions = remote.manager()?.history(&GroupId(id.to_owned())).await?;
    print(format, &versions, || {
        let mut table = Table::new(vec!["VERSION", "TIME", "ACTION", "SIZE"]);
        for version in &versions {
            let action = match &version.change {
                infrakit_manager::Change::Rollback { to, .. } => format!("rollback to {to}"),
                other => other.action().to_owned(),
            };
            table.row(vec![
                version.number.to_string(),
                infrakit_spi::time::format_rfc3339(version.time),
                action,
                size(version).map_or_else(|| "-".to_owned(), |s| s.to_string()),
            ]);
        }
        table
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Shows what changed from one version's spec to another's, field by field.
pub async fn show_diff(id: &str, remote: &Remote, from: u64, to: u64) -> Result<ExitCode> {
    let versions = remote.manager()?.history(&GroupId(id.to_owned())).await?;
    let spec = |number: u64| -> Result<Value> {
        let version = versions
            .iter()
            .find(|v| v.number == number)
            .with_context(|| format!("group {id} has no version {number}"))?;
        Ok(version.change.spec().and_then(|s| s.properties.clone()).unwrap_or(Value::Null))
    };
    let changes = diff(&spec(from)?, &spec(to)?);
    if changes.is_empty() {
        println!("no difference between versions {from} and {to} of {id}");
    }
    for change in changes {
        println!("{change}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Commits an earlier version's spec again.
pub async fn rollback(id: &str, remote: &Remote, version: Option<u64>) -> Result<ExitCode> {
    if version == Some(0) {
        bail!("versions start at 1");
    }
    let (number, plan) = remote.manager()?.rollback(&GroupId(id.to_owned()), version).await?;
    println!("rolled back {id} as version {number}: {plan}");
    Ok(ExitCode::SUCCESS)
}

fn size(version: &Version) -> Option<u64> {
    let allocation = &version.change.spec()?.properties.as_ref()?["Allocation"];
    allocation["Size"]
        .as_u64()
        .filter(|size| *size > 0)
        .or_else(|| allocation["LogicalIDs"].as_array().map(|ids| ids.len() as u64))
}
