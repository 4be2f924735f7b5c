//! `infrakit plan FILE`: what `infrakit up FILE` would change, without changing anything.
//!
//! Per group: the difference from the stored spec field by field, the controller's own account
//! (when a manager runs), and the estimate of creates, destroys, batches, peak and duration.
//! The exit status is 0 when nothing would change and 2 when something would, as
//! `terraform plan -detailed-exitcode`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use infrakit_manager::diff::diff;
use infrakit_manager::plan::{Members, Pace, estimate};
use infrakit_manager::{EmbeddedStore, Store};
use infrakit_rpc::{GroupClient, discovery, plugins_dir};
use infrakit_spi::duration::GoDuration;
use infrakit_spi::group::{CONFIG_HASH_TAG, GroupDescription, GroupPlugin, GroupProperties, GroupSpec};
use infrakit_spi::time::parse_rfc3339;
use serde_json::Value;

use super::history::{MANAGER, Remote};
use super::up::read_stack;
use infrakit_spi::home::home;

/// The exit status when the plan changes something.
const CHANGES: u8 = 2;

/// What is known about the running system.
struct Current {
    stored: BTreeMap<String, Value>,
    controller: Option<std::sync::Arc<dyn GroupPlugin>>,
}

pub async fn run(file: &Path, remote: &Remote) -> Result<ExitCode> {
    let specs = read_stack(file)?;
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
    let members = members(description.as_ref(), &properties, current.stored.get(&id.0).map(|s| (spec, s)));
    let pace = Pace { poll, provision: description.as_ref().and_then(observed_provision) };
    let mut plan = estimate(&properties, members, pace);
    plan.duration = Duration::from_millis(u64::try_from(plan.duration.as_millis()).unwrap_or(u64::MAX));
    let mut line = format!("  create {}, destroy {}", plan.create, plan.destroy);
    if plan.roll > 0 {
        line.push_str(&format!("; roll {} in {} batches of at most {}", plan.roll, plan.batches, plan.batch_size));
    }
    line.push_str(&format!("; peak {} instances; about {}", plan.peak, GoDuration(plan.duration)));
    if pace.provision.is_none() && plan.create > 0 {
        line.push_str(" plus the provision times (none observed yet)");
    }
    println!("{line}");
    Ok(changes || plan.create > 0 || plan.destroy > 0)
}

/// The members as the controller sees them or, without one, as the stored spec implies.
fn members(
    description: Option<&GroupDescription>,
    properties: &GroupProperties,
    stored: Option<(&GroupSpec, &Value)>,
) -> Members {
    let hash = properties.instance_hash();
    if let Some(description) = description {
        let outdated =
            description.instances.iter().filter(|i| i.tags.get(CONFIG_HASH_TAG).is_none_or(|h| *h != hash)).count()
                as u64;
        return Members { total: description.instances.len() as u64, outdated };
    }
    let Some((spec, stored)) = stored else {
        return Members::default();
    };
    let stored = GroupSpec { id: spec.id.clone(), properties: Some(stored.clone()) };
    match GroupProperties::parse(&stored) {
        Ok(old) => {
            let total = old.target_size();
            Members { total, outdated: if old.instance_hash() == hash { 0 } else { total } }
        }
        Err(_) => Members::default(),
    }
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
