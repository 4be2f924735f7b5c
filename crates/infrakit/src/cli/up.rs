//! `infrakit up FILE`: the main job in one process.
//!
//! It starts the manager (embedded store, group controller) and every plugin the file's groups
//! name, serves them all on their sockets so the other commands work alongside, commits the
//! file's groups, shows each group converging, and then keeps healing until Ctrl-C, SIGTERM or SIGHUP.
//! Stopping leaves every instance running; the next `up` re-applies the stored specs first, so
//! it adopts them, and a rollout cut short by a crash resumes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::future::{FutureExt, join_all};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use infrakit_remote::TlsFiles;
use infrakit_rpc::{PluginServer, RemoteLookup, discovery, plugins_dir};
use infrakit_spi::group::{GroupDescription, GroupId, GroupPlugin, GroupProperties, GroupSpec, Phase};
use infrakit_spi::home::home;
use infrakit_spi::types::PluginName;
use serde_json::Value;
use tracing::info;

use super::group::group_spec_from;
use super::plugin::{serve_objects, shutdown_signal};
use super::remote::MANAGER;
use super::remote::Remote;
use super::rendered::{Vars, read_rendered};
use crate::input::parse_document;
use crate::kinds::Kind;
use crate::manager::StoreChoice;
use crate::registry::Registry;

/// How often progress is refreshed: quick enough to follow a rollout, slow enough to cost the
/// plugins nothing.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// Reads the groups of an `up` file: one group spec, or a list of them; each `{ID, Properties}`,
/// `{kind: group, metadata, properties}`, or the original's `{Plugin, Properties: {ID, ...}}`.
/// Every spec is validated here, so bad input changes nothing.
pub async fn read_stack(file: &Path, vars: &Vars, remote: &Remote) -> Result<Vec<GroupSpec>> {
    let (name, text) = read_rendered(file, vars, remote).await?;
    let document: Value = parse_document(&name, &text)?;
    let (entries, list) = match document {
        Value::Array(entries) => (entries, true),
        single => (vec![single], false),
    };
    let mut specs: Vec<GroupSpec> = Vec::new();
    for (n, entry) in entries.into_iter().enumerate() {
        let entry = match entry.get("Plugin").and(entry.get("Properties")) {
            Some(inner) => inner.clone(),
            None => entry,
        };
        let spec = group_spec_from(entry).with_context(|| format!("{name}: entry {n} is not a group spec"))?;
        if let Err(e) = GroupProperties::parse(&spec) {
            match locate(&name, &text, list) {
                Some(located) => bail!("{located}"),
                None => return Err(e).with_context(|| format!("{name}: group {} is invalid", spec.id)),
            }
        }
        GroupProperties::parse(&spec)
            .and_then(|p| p.validate())
            .with_context(|| format!("{name}: group {} is invalid", spec.id))?;
        if specs.iter().any(|s| s.id == spec.id) {
            bail!("{name}: group {} is given twice", spec.id);
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// A group spec in the legacy form, typed all the way down: parsing the text into it again
/// finds the line and column of a field that does not fit the schema.
#[derive(serde::Deserialize)]
struct Typed {
    #[serde(rename = "ID")]
    _id: String,
    #[serde(rename = "Properties")]
    _properties: GroupProperties,
}

/// Where in `text` a spec breaks the schema, and how, if the text is in the legacy form.
fn locate(name: &str, text: &str, list: bool) -> Option<String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let error = match list {
            true => serde_json::from_str::<Vec<Typed>>(text).err(),
            false => serde_json::from_str::<Typed>(text).err(),
        }?;
        return Some(format!("{name}:{}:{}: {error}", error.line(), error.column()));
    }
    let error = match list {
        true => serde_saphyr::from_str::<Vec<Typed>>(text).err(),
        false => serde_saphyr::from_str::<Typed>(text).err(),
    }?;
    Some(format!("{name}: {error}"))
}

/// The plugins (socket names) the specs call: instance, flavor, and a combo's flavors.
pub fn referenced_plugins(specs: &[GroupSpec]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut add = |plugin: &Value| {
        if let Some(name) = plugin.as_str().and_then(|n| n.parse::<PluginName>().ok()) {
            names.insert(name.lookup().to_owned());
        }
    };
    for properties in specs.iter().filter_map(|s| s.properties.as_ref()) {
        add(&properties["Instance"]["Plugin"]);
        add(&properties["Flavor"]["Plugin"]);
        for flavor in properties["Flavor"]["Properties"]["Flavors"].as_array().into_iter().flatten() {
            add(&flavor["Plugin"]);
        }
    }
    names
}

pub async fn run(
    file: &Path,
    vars: &Vars,
    store: &StoreChoice,
    listen: Option<&str>,
    tls: Option<&TlsFiles>,
) -> Result<ExitCode> {
    let specs = read_stack(file, vars, &Remote::default()).await?;
    let dir = plugins_dir();
    let running = discovery::list(&dir).unwrap_or_default();
    let mut plugins = Vec::new();
    for name in referenced_plugins(&specs) {
        // A kind this binary knows runs in this process; its socket name is claimed, and a
        // stale one left by a killed run is replaced.
        match name.parse::<Kind>() {
            Ok(kind) => plugins.push((kind, name)),
            Err(_) if running.contains_key(&name) => info!(plugin = %name, "using the running plugin"),
            Err(_) => bail!(
                "{}: plugin {name} is not a kind infrakit can start, and is not running in {}",
                file.display(),
                dir.display()
            ),
        }
    }

    let registry = Arc::new(Registry::new(RemoteLookup::new(dir.clone())));
    let mut servers = Vec::new();
    for (kind, name) in &plugins {
        let objects = kind.build(name, None, &registry, store).await?;
        registry.register(name, objects.clone());
        servers.push(serve_objects(PluginServer::new(name.clone()), objects));
    }
    let assembled = crate::manager::assemble(MANAGER, &home(), store, &registry).await?;
    registry.register(MANAGER, assembled.objects.clone());
    servers.push(serve_objects(PluginServer::new(MANAGER), assembled.objects));
    let mut bound = Vec::new();
    for server in servers {
        bound.push(server.bind(&dir).await.context("cannot start a plugin")?);
    }
    let shutdown = shutdown_signal()?.shared();
    let serving = tokio::spawn(join_all(bound.into_iter().map(|server| server.serve(shutdown.clone()))));

    let manager = assembled.manager;
    if let Some(listen) = listen {
        crate::manager::remote_access(listen, &home(), tls, manager.clone()).await?;
        println!("remote access on {listen}: bearer token in {}", home().join("token").display());
    }
    for spec in &specs {
        let id = spec.id.clone();
        let plan = manager.commit_group(spec.clone(), false).await.with_context(|| format!("cannot commit {id}"))?;
        println!("{id}: {plan}");
    }
    let sizes = specs
        .iter()
        .map(|spec| Ok((spec.id.clone(), GroupProperties::parse(spec)?.target_size())))
        .collect::<Result<BTreeMap<_, _>>>()?;
    tokio::select! {
        () = watch_progress(&manager, &sizes) => {}
        () = shutdown.clone() => {}
    }
    for result in serving.await.context("the plugin servers failed")? {
        result.context("a plugin server failed")?;
    }
    assembled.controller.shutdown().await;
    println!("stopped; the instances keep running, and the next `infrakit up` adopts them");
    Ok(ExitCode::SUCCESS)
}

/// Shows per group desired, running and healthy until Ctrl-C: bars on a terminal, a line per
/// change otherwise. A group counts as converged once the controller reports it converged at
/// the size it was given (before its first pass, a group reports converged at size 0).
async fn watch_progress(groups: &dyn GroupPlugin, sizes: &BTreeMap<GroupId, u64>) {
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let plain = bars.is_hidden();
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len}  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bars: BTreeMap<&GroupId, ProgressBar> = sizes
        .keys()
        .map(|id| {
            let bar = bars.add(ProgressBar::new(0).with_style(style.clone()).with_prefix(id.to_string()));
            (id, bar)
        })
        .collect();
    let mut shown: BTreeMap<&GroupId, String> = BTreeMap::new();
    let mut announced = false;
    let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
    loop {
        tick.tick().await;
        let mut converged = true;
        for (id, bar) in &bars {
            let line = match groups.describe_group(id).await {
                Ok(description) => {
                    let desired = description.status.as_ref().map(|s| s.counts.desired);
                    let started = desired.is_none_or(|d| Some(&d) == sizes.get(*id));
                    converged &= description.converged && started;
                    if started { progress(&description, bar) } else { "starting".to_owned() }
                }
                Err(e) => {
                    converged = false;
                    format!("cannot describe: {e}")
                }
            };
            bar.set_message(line.clone());
            if plain && shown.get(id) != Some(&line) {
                println!("{id}: {line}");
                shown.insert(id, line);
            }
        }
        if converged && !announced {
            let text = "all groups converged; healing until Ctrl-C (the instances outlive this process)";
            if plain {
                println!("{text}")
            } else {
                bars.values().for_each(ProgressBar::tick)
            }
            info!("{text}");
        }
        announced = converged;
    }
}

fn progress(description: &GroupDescription, bar: &ProgressBar) -> String {
    let Some(status) = &description.status else {
        return if description.converged { "converged".to_owned() } else { "changing".to_owned() };
    };
    let counts = status.counts;
    bar.set_length(counts.desired);
    // During a rollout the bar shows the members replaced, not the old ones still healthy.
    let done = if counts.old_config > 0 { status.rollout.updated } else { counts.healthy };
    bar.set_position(done.min(counts.desired));
    let phase = match status.phase {
        Phase::Converged => "converged",
        Phase::Scaling => "scaling",
        Phase::Degraded => "degraded",
        Phase::Rolling => "rolling",
        Phase::Paused => "paused",
        Phase::Rejected => "rejected",
    };
    let mut line =
        format!("{phase}: desired {}, running {}, healthy {}", counts.desired, counts.actual, counts.healthy);
    if counts.old_config > 0 {
        line.push_str(&format!(", {} on the old config", counts.old_config));
    }
    if let Some(waiting) = status.waiting.first() {
        line.push_str(&format!(" ({waiting})"));
    }
    line
}
