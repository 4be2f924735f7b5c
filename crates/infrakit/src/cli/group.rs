//! `infrakit group ...`: calls to a group plugin (the group controller, or later the manager).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use infrakit_rpc::{GroupClient, discovery, plugins_dir};
use infrakit_spi::group::{GroupDescription, GroupId, GroupPlugin, GroupProperties, GroupSpec, RolloutStatus};
use infrakit_spi::instance::InstanceId;
use infrakit_spi::types::PluginName;
use serde_json::Value;

use super::remote::{MANAGER, Remote};
use super::rendered::{Vars, read_rendered};
use super::{GroupCommand, RolloutCommand};
use crate::input::parse_document;
use crate::kinds::Kind;
use crate::output::{Format, Table, print, tags_cell};

/// The socket of the stateless group controller, used when no manager runs.
const STATELESS: &str = Kind::Group.default_socket();

pub async fn run(
    plugin: Option<String>,
    mut command: GroupCommand,
    remote: &Remote,
    format: Format,
) -> Result<ExitCode> {
    let name: PluginName = match (qualified_group(&mut command), plugin, &remote.host) {
        (Some(name), _, _) => name,
        (None, Some(name), _) => name.parse()?,
        // A remote host is reached through its manager.
        (None, None, Some(_)) => MANAGER.parse()?,
        (None, None, None) => default_plugin(&plugins_dir())?.parse()?,
    };
    let client = remote.client_for(name.lookup())?;
    let groups = GroupClient::new(client.clone(), &name);
    match command {
        GroupCommand::Commit { file, pretend, vars } => {
            let spec = read_group_spec(&file, &vars, remote).await?;
            let id = spec.id.clone();
            let details = groups.commit_group(spec.clone(), pretend).await?;
            if pretend {
                println!("Committing {id} would involve: {details}");
                // The controller's decision run forward over the group's members, as `plan` does.
                if let Ok(properties) = GroupProperties::parse(&spec) {
                    let description = groups.describe_group(&id).await.ok();
                    let members = description.as_ref().map(|d| d.instances.clone()).unwrap_or_default();
                    let poll = infrakit_group::Options::from_env()?.poll_interval;
                    super::plan::show_forecast(&id, &properties, &members, description.as_ref(), poll);
                }
            } else {
                println!("Committed {id}: {details}");
            }
        }
        GroupCommand::Ls { quiet } => ls(&groups, quiet, format).await?,
        GroupCommand::Describe { id, quiet } => describe(&groups, &GroupId(id), quiet, format).await?,
        GroupCommand::Scale { id, size } => {
            let id = GroupId(id);
            let current = groups.size(&id).await?;
            match size {
                None => println!("Group {id} at {current} instances"),
                Some(size) => {
                    groups.set_size(&id, size).await?;
                    println!("Group {id} at {current} instances, scale to {size}");
                }
            }
        }
        GroupCommand::DestroyInstances { id, instances } => {
            let instances: Vec<InstanceId> = instances.into_iter().map(InstanceId).collect();
            groups.destroy_instances(&GroupId(id.clone()), &instances).await?;
            println!("destroyed {} instance(s) of {id}; its size is reduced by as many", instances.len());
        }
        GroupCommand::Free { id } => {
            groups.free_group(&GroupId(id.clone())).await?;
            println!("freed {id}: no longer managed, its instances left running");
        }
        GroupCommand::Destroy { id } => {
            groups.destroy_group(&GroupId(id.clone())).await?;
            println!("destroyed {id} and its instances");
        }
        GroupCommand::Rollout(command) => {
            let (status, id) = match command {
                RolloutCommand::Pause { id } => (groups.pause_rollout(&GroupId(id.clone())).await?, id),
                RolloutCommand::Resume { id } => (groups.resume_rollout(&GroupId(id.clone())).await?, id),
                RolloutCommand::Abort { id } => (groups.abort_rollout(&GroupId(id.clone())).await?, id),
                RolloutCommand::Status { id } => (groups.rollout_status(&GroupId(id.clone())).await?, id),
            };
            print(format, &status, || rollout_table(&id, &status))?;
        }
        GroupCommand::Events { id, follow } => {
            let description = groups.describe_group(&GroupId(id.clone())).await?;
            for decision in description.status.iter().flat_map(|s| &s.decisions) {
                println!("{}  {}", decision.time, decision.message);
            }
            if follow {
                let mut events = client.subscribe(&format!("{id}/")).await?;
                while let Some(event) = events.next().await {
                    let event = event.context("the event stream broke")?;
                    println!("{}  {}  {}  {}", humanize_time(event.timestamp), event.r#type, event.id, event.message);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The original's CLI names a manager's group as an object of the manager, `SOCKET/ID`
/// (`group/web`); given so, the group argument is replaced by its ID and the returned name, sent
/// as the requests' `Name`, addresses the plugin. A plain `ID` is left alone.
fn qualified_group(command: &mut GroupCommand) -> Option<PluginName> {
    let id = match command {
        GroupCommand::Describe { id, .. }
        | GroupCommand::Scale { id, .. }
        | GroupCommand::DestroyInstances { id, .. }
        | GroupCommand::Free { id }
        | GroupCommand::Destroy { id }
        | GroupCommand::Events { id, .. } => id,
        GroupCommand::Rollout(
            RolloutCommand::Pause { id }
            | RolloutCommand::Resume { id }
            | RolloutCommand::Abort { id }
            | RolloutCommand::Status { id },
        ) => id,
        GroupCommand::Commit { .. } | GroupCommand::Ls { .. } => return None,
    };
    let name: PluginName = id.parse().ok()?;
    let group = name.object()?.to_owned();
    *id = group;
    Some(name)
}

/// The manager's socket when a manager runs, else the stateless controller's.
fn default_plugin(dir: &Path) -> Result<&'static str> {
    let plugins = discovery::list(dir).unwrap_or_default();
    if plugins.contains_key(MANAGER) {
        Ok(MANAGER)
    } else if plugins.contains_key(STATELESS) {
        Ok(STATELESS)
    } else {
        bail!(
            "no group plugin is running in {}: start one with `infrakit plugin start group`, or name one with --plugin",
            dir.display()
        )
    }
}

/// Reads a group spec in the original's legacy form `{ID, Properties}` or its newer form
/// `{kind: group, metadata: {name}, properties}`.
pub async fn read_group_spec(file: &Path, vars: &Vars, remote: &Remote) -> Result<GroupSpec> {
    let (name, text) = read_rendered(file, vars, remote).await?;
    let document: Value = parse_document(&name, &text)?;
    group_spec_from(document).with_context(|| format!("{} is not a group spec", file.display()))
}

pub(super) fn group_spec_from(document: Value) -> Result<GroupSpec> {
    if document.get("ID").is_some() {
        return Ok(serde_json::from_value(document)?);
    }
    let Some(kind) = document.get("kind").and_then(Value::as_str) else {
        bail!("expected {{ID, Properties}} or {{kind: group, metadata: {{name}}, properties}}");
    };
    if kind != "group" {
        bail!("kind is '{kind}', expected 'group'");
    }
    let Some(name) = document.pointer("/metadata/name").and_then(Value::as_str) else {
        bail!("metadata.name is missing: it names the group");
    };
    // A qualified name such as `mystack/workers` addresses the group `workers`.
    let id = name.rsplit('/').next().unwrap_or(name);
    Ok(GroupSpec { id: GroupId(id.to_owned()), properties: document.get("properties").cloned() })
}

async fn ls(groups: &dyn GroupPlugin, quiet: bool, format: Format) -> Result<()> {
    let specs = groups.inspect_groups().await?;
    if quiet {
        for spec in &specs {
            println!("{}", spec.id);
        }
        return Ok(());
    }
    let mut rows = Vec::new();
    for spec in &specs {
        rows.push((spec.id.clone(), groups.describe_group(&spec.id).await?));
    }
    let json: Vec<_> = rows.iter().map(|(id, d)| serde_json::json!({"ID": id, "Description": d})).collect();
    print(format, &json, || {
        let mut table = Table::new(vec!["ID", "PHASE", "DESIRED", "ACTUAL", "HEALTHY", "OLD CONFIG"]);
        for (id, description) in &rows {
            let mut row = vec![id.to_string()];
            match &description.status {
                Some(status) => {
                    let c = status.counts;
                    row.push(format!("{:?}", status.phase).to_lowercase());
                    row.extend([c.desired, c.actual, c.healthy, c.old_config].map(|n| n.to_string()));
                }
                None => {
                    let phase = if description.converged { "converged" } else { "changing" };
                    row.extend([
                        phase.to_owned(),
                        "-".into(),
                        description.instances.len().to_string(),
                        "-".into(),
                        "-".into(),
                    ]);
                }
            }
            table.row(row);
        }
        table
    })
}

async fn describe(groups: &dyn GroupPlugin, id: &GroupId, quiet: bool, format: Format) -> Result<()> {
    let description = groups.describe_group(id).await?;
    if quiet {
        for instance in &description.instances {
            println!("{}", instance.id);
        }
        return Ok(());
    }
    if format == Format::Table {
        print_summary(id, &description);
    }
    print(format, &description, || {
        let mut table = Table::new(vec!["ID", "LOGICAL", "TAGS"]);
        for instance in &description.instances {
            let logical = instance.effective_logical_id().map_or_else(|| "-".to_owned(), |l| l.to_string());
            table.row(vec![instance.id.to_string(), logical, tags_cell(&instance.tags)]);
        }
        table
    })
}

fn print_summary(id: &GroupId, description: &GroupDescription) {
    let Some(status) = &description.status else {
        println!("group {id}: converged={}", description.converged);
        return;
    };
    let c = status.counts;
    println!(
        "group {id}: {}; desired {}, actual {}, healthy {}, old config {}, in flight {}",
        format!("{:?}", status.phase).to_lowercase(),
        c.desired,
        c.actual,
        c.healthy,
        c.old_config,
        c.in_flight
    );
    let rollout = &status.rollout;
    if rollout.total > 0 {
        println!("rollout: {:?}, {}/{} updated", rollout.state, rollout.updated, rollout.total);
    }
    for waiting in &status.waiting {
        println!("waiting: {waiting}");
    }
    if let Some(error) = &status.last_error {
        println!("last error: {error}");
    }
    for decision in status.decisions.iter().rev().take(5).rev() {
        println!("{}  {}", decision.time, decision.message);
    }
    println!();
}

fn rollout_table(id: &str, status: &RolloutStatus) -> Table {
    let mut table = Table::new(vec!["GROUP", "STATE", "UPDATED", "TARGET", "REASON"]);
    table.row(vec![
        id.to_owned(),
        format!("{:?}", status.state).to_lowercase(),
        format!("{}/{}", status.updated, status.total),
        status.target.clone(),
        status.reason.clone().unwrap_or_default(),
    ]);
    table
}

fn humanize_time(time: std::time::SystemTime) -> String {
    infrakit_spi::time::format_rfc3339(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_spec_forms() {
        let legacy = group_spec_from(json!({"ID": "cattle", "Properties": {"Allocation": {"Size": 5}}})).unwrap();
        assert_eq!(legacy.id.as_str(), "cattle");
        let schema = group_spec_from(json!({"kind": "group", "metadata": {"name": "mystack/miners"},
            "properties": {"Allocation": {"Size": 5}}}))
        .unwrap();
        assert_eq!(schema.id.as_str(), "miners");
        assert_eq!(schema.properties.unwrap()["Allocation"]["Size"], 5);
        assert!(group_spec_from(json!({"kind": "ingress", "metadata": {"name": "x"}})).is_err());
        assert!(group_spec_from(json!({"Size": 3})).is_err());
    }
}
