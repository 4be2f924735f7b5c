//! `infrakit plan FILE`: what `infrakit up FILE` would change, without changing anything.
//!
//! Per group: the difference from the stored spec field by field, the controller's own account
//! (when a manager runs), and the forecast of creates, destroys, batches, peak and duration: the
//! group controller's decision run forward over the group's current members
//! ([`infrakit_group::forecast`]).
//! The exit status is 0 when nothing would change and 2 when something would, as
//! `terraform plan -detailed-exitcode`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use infrakit_group::forecast::{Forecast, Pace, forecast};
use infrakit_manager::diff::diff;
use infrakit_manager::{EmbeddedStore, Store};
use infrakit_rpc::{GroupClient, discovery, plugins_dir};
use infrakit_spi::duration::GoDuration;
use infrakit_spi::group::{
    CONFIG_HASH_TAG, GROUP_TAG, GroupDescription, GroupId, GroupPlugin, GroupProperties, GroupSpec,
};
use infrakit_spi::instance::{Description, LOGICAL_ID_TAG};
use infrakit_spi::time::parse_rfc3339;
use serde_json::Value;

use super::remote::{MANAGER, Remote};
use super::rendered::Vars;
use super::up::read_stack;
use infrakit_spi::home::home;

/// The exit status when the plan changes something.
const CHANGES: u8 = 2;

/// What is known about the running system.
struct Current {
    stored: BTreeMap<String, Value>,
    controller: Option<std::sync::Arc<dyn GroupPlugin>>,
}

pub async fn run(file: &Path, vars: &Vars, remote: &Remote) -> Result<ExitCode> {
    let specs = read_stack(file, vars, remote).await?;
    let current = current(remote).await?;
    let poll = infrakit_group::Options::from_env().context("invalid group controller settings")?.poll_interval;
    let mut changed = false;
    for spec in &specs {
        changed |= plan_group(spec, &current, poll).await?;
    }
    Ok(if changed { ExitCode::from(CHANGES) } else { ExitCode::SUCCESS })
}

/// Asks the running manager, or else reads its store.
async fn current(remote: &Remote) -> Result<Current> {
    let dir = plugins_dir();
    if remote.host.is_some() || discovery::list(&dir).unwrap_or_default().contains_key(MANAGER) {
        let stored = remote.manager()?.specs().await?;
        let stored = stored.into_iter().map(|s| (s.metadata.name, s.properties.unwrap_or(Value::Null))).collect();
        let name = MANAGER.parse()?;
        let controller: std::sync::Arc<dyn GroupPlugin> =
            std::sync::Arc::new(GroupClient::new(remote.client()?, &name));
        return Ok(Current { stored, controller: Some(controller) });
    }
    let path = crate::manager::store_path(&home());
    let mut stored = BTreeMap::new();
    if path.exists() {
        let store = EmbeddedStore::open(&path).context("cannot read the manager's spec store")?;
        for spec in store.specs().await? {
            stored.insert(spec.id.0, spec.properties.unwrap_or(Value::Null));
        }
    }
    Ok(Current { stored, controller: None })
}

/// Prints one group's plan; true if it changes something.
async fn plan_group(spec: &GroupSpec, current: &Current, poll: Duration) -> Result<bool> {
    let id = &spec.id;
    let new = spec.properties.clone().unwrap_or(Value::Null);
    let properties = GroupProperties::parse(spec)?;
    let description = match &current.controller {
        Some(controller) => controller.describe_group(id).await.ok(),
        None => None,
    };
    let changes = match current.stored.get(&id.0) {
        Some(stored) => {
            let changes = diff(stored, &new);
            println!("{id}: {}", if changes.is_empty() { "no change" } else { "changes the stored spec" });
            changes.iter().for_each(|change| println!("  {change}"));
            !changes.is_empty()
        }
        None => {
            println!("{id}: a new group");
            true
        }
    };
    if let Some(controller) = &current.controller {
        match controller.commit_group(spec.clone(), true).await {
            Ok(text) => println!("  controller: {text}"),
            Err(e) => println!("  controller: cannot plan: {e}"),
        }
    }
    let members = members(description.as_ref(), current.stored.get(&id.0).map(|s| (spec, s)));
    let plan = show_forecast(id, &properties, &members, description.as_ref(), poll);
    Ok(changes || plan.create > 0 || plan.destroy > 0)
}

/// Prints the group controller's forecast of committing `properties` to a group whose instances
/// are `members`, at the provision pace observed in `description`.
pub(super) fn show_forecast(
    id: &GroupId,
    properties: &GroupProperties,
    members: &[Description],
    description: Option<&GroupDescription>,
    poll: Duration,
) -> Forecast {
    let provision = description.and_then(observed_provision);
    let pace = Pace { poll, provision: provision.unwrap_or_default() };
    let mut plan = forecast(id, properties, members, pace);
    plan.duration = Duration::from_millis(u64::try_from(plan.duration.as_millis()).unwrap_or(u64::MAX));
    let mut line = format!("  create {}, destroy {}", plan.create, plan.destroy);
    if plan.roll > 0 {
        line.push_str(&format!("; roll {} in {} batches of at most {}", plan.roll, plan.batches, plan.batch_size));
    }
    line.push_str(&format!("; peak {} instances; about {}", plan.peak, GoDuration(plan.duration)));
    if provision.is_none() && plan.create > 0 {
        line.push_str(" plus the provision times (none observed yet)");
    }
    println!("{line}");
    if let Some(why) = &plan.stalled {
        println!("  stops short of the spec: {why}");
    }
    plan
}

/// The members as the controller lists them or, without one, as the stored spec implies: its
/// size, all on its config.
fn members(description: Option<&GroupDescription>, stored: Option<(&GroupSpec, &Value)>) -> Vec<Description> {
    if let Some(description) = description {
        return description.instances.clone();
    }
    let Some((spec, stored)) = stored else {
        return Vec::new();
    };
    let stored = GroupSpec { id: spec.id.clone(), properties: Some(stored.clone()) };
    let Ok(old) = GroupProperties::parse(&stored) else {
        return Vec::new();
    };
    let hash = old.instance_hash();
    let pets = old.allocation.logical_ids.iter().map(Some);
    let names: Vec<_> = match old.allocation.logical_ids.is_empty() {
        true => (0..old.allocation.size).map(|_| None).collect(),
        false => pets.collect(),
    };
    names
        .into_iter()
        .enumerate()
        .map(|(n, logical_id)| {
            let mut tags = BTreeMap::from([
                (GROUP_TAG.to_owned(), spec.id.to_string()),
                (CONFIG_HASH_TAG.to_owned(), hash.to_string()),
            ]);
            if let Some(lid) = logical_id {
                tags.insert(LOGICAL_ID_TAG.to_owned(), lid.to_string());
            }
            Description {
                id: format!("stored-{n}").into(),
                logical_id: logical_id.cloned(),
                tags,
                ..Description::default()
            }
        })
        .collect()
}

/// The average time from deciding a provision to its instance being created, from the group's
/// recent decisions (`provisioning ...` then `provisioned ...`, in order).
fn observed_provision(description: &GroupDescription) -> Option<Duration> {
    let decisions = &description.status.as_ref()?.decisions;
    let times = |prefix: &str| -> Vec<_> {
        decisions.iter().filter(|d| d.message.starts_with(prefix)).filter_map(|d| parse_rfc3339(&d.time)).collect()
    };
    let (started, done) = (times("provisioning "), times("provisioned "));
    let spans: Vec<Duration> =
        started.iter().zip(&done).filter_map(|(start, end)| end.duration_since(*start).ok()).collect();
    let count = u32::try_from(spans.len()).ok().filter(|n| *n > 0)?;
    Some(spans.iter().sum::<Duration>() / count)
}
