//! `infrakit plugin start|ls|stop`: running plugins and finding them.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures::future::{FutureExt, join_all};
use infrakit_rpc::{PluginServer, RemoteLookup, plugin_info, plugins_dir, qualified_name};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

use super::PluginCommand;
use crate::input::read_document;
use crate::kinds::{Kind, PluginArg};
use crate::manager::StoreChoice;
use crate::output::{Format, Table, print};
use crate::registry::{Objects, Registry};

pub async fn run(command: PluginCommand, format: Format) -> Result<ExitCode> {
    let dir = plugins_dir();
    match command {
        PluginCommand::Start { plugins, options, store } => {
            let plugins = plugins.iter().map(|p| p.parse::<PluginArg>()).collect::<Result<Vec<_>>>()?;
            // Only a manager keeps specs: a store setting does not concern other kinds.
            let store =
                if plugins.iter().any(|p| p.kind == Kind::Manager) { store.choice()? } else { StoreChoice::Embedded };
            let mut documents = HashMap::new();
            for (name, file) in options {
                if !plugins.iter().any(|p| p.name == name) {
                    bail!("--options names {name}, which is not among the plugins to start");
                }
                documents.insert(name, read_document::<Value>(&file)?);
            }
            start(&dir, plugins, documents, &store).await?;
        }
        PluginCommand::Ls { quiet } => ls(&dir, quiet, format).await?,
        PluginCommand::Stop { names, all } => stop(&dir, names, all)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Serves the plugins until SIGINT, SIGTERM or SIGHUP; all sockets are claimed before any is served, so
/// a name clash leaves nothing half-started.
async fn start(
    dir: &Path,
    plugins: Vec<PluginArg>,
    options: HashMap<String, Value>,
    store: &StoreChoice,
) -> Result<()> {
    let registry = Arc::new(Registry::new(RemoteLookup::new(dir.to_owned())));
    let mut bound = Vec::new();
    for plugin in &plugins {
        let objects = plugin.kind.build(&plugin.name, options.get(&plugin.name), &registry, store).await?;
        registry.register(&plugin.name, objects.clone());
        let server = serve_objects(PluginServer::new(plugin.name.clone()), objects);
        let server = server.bind(dir).await.with_context(|| format!("cannot start plugin {}", plugin.name))?;
        info!(plugin = %plugin.name, kind = %plugin.kind, socket = %server.socket_path().display(), "plugin started");
        bound.push(server);
    }
    let shutdown = shutdown_signal()?.shared();
    let results = join_all(bound.into_iter().map(|server| server.serve(shutdown.clone()))).await;
    for result in results {
        result.context("plugin server failed")?;
    }
    info!("all plugins stopped");
    Ok(())
}

pub fn serve_objects(mut server: PluginServer, objects: Objects) -> PluginServer {
    for (name, plugin) in objects.instances {
        server = server.instance(&name, plugin);
    }
    for (name, plugin) in objects.flavors {
        server = server.flavor(&name, plugin);
    }
    for (name, plugin) in objects.groups {
        server = server.group(&name, plugin);
    }
    if let Some(plugin) = objects.groups_as_objects {
        server = server.groups_as_objects(plugin);
    }
    if let Some(bus) = objects.events {
        server = server.events(bus);
    }
    for service in objects.services {
        server = server.service(service);
    }
    server
}

/// Resolves on the first SIGINT, SIGTERM or SIGHUP. SIGHUP (the terminal closed) is a clean stop
/// too: its default action kills the process, leaving sockets and pid files behind.
pub fn shutdown_signal() -> Result<impl Future<Output = ()>> {
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => info!("SIGINT received, stopping"),
            _ = terminate.recv() => info!("SIGTERM received, stopping"),
            _ = hangup.recv() => info!("SIGHUP received, stopping"),
        }
    })
}

async fn ls(dir: &Path, quiet: bool, format: Format) -> Result<()> {
    let plugins = plugin_info(dir).await?;
    let mut rows = Vec::new();
    for plugin in &plugins {
        match &plugin.interfaces {
            Ok(interfaces) => {
                for interface in interfaces {
                    for object in &interface.objects {
                        rows.push((
                            qualified_name(&plugin.endpoint.name, object),
                            interface.interface.to_string(),
                            plugin.endpoint.address.to_string(),
                        ));
                    }
                }
            }
            Err(e) => rows.push((
                plugin.endpoint.name.clone(),
                format!("(not answering: {e})"),
                plugin.endpoint.address.to_string(),
            )),
        }
    }
    if quiet {
        for (name, _, _) in rows {
            println!("{name}");
        }
        return Ok(());
    }
    let json: Vec<_> = rows
        .iter()
        .map(|(name, interface, address)| serde_json::json!({"Name": name, "Interface": interface, "Address": address}))
        .collect();
    print(format, &json, || {
        let mut table = Table::new(vec!["NAME", "INTERFACE", "ADDRESS"]);
        for (name, interface, address) in rows {
            table.row(vec![name, interface, address]);
        }
        table
    })
}

/// Sends SIGTERM to the processes serving these plugins. Plugins started together share a
/// process, so stopping one stops its companions too; that is said rather than done silently.
fn stop(dir: &Path, names: Vec<String>, all: bool) -> Result<()> {
    let pids = pid_files(dir)?;
    let names = if all { pids.iter().map(|(name, _)| name.clone()).collect() } else { names };
    let mut stopped = Vec::new();
    for name in &names {
        let Some((_, pid)) = pids.iter().find(|(plugin, _)| plugin == name) else {
            bail!("no running plugin named {name} in {}", dir.display());
        };
        if stopped.contains(pid) {
            continue;
        }
        let companions: Vec<_> =
            pids.iter().filter(|(n, p)| p == pid && !names.contains(n)).map(|(n, _)| n.as_str()).collect();
        if !companions.is_empty() {
            eprintln!("note: process {pid} also serves {}; they stop too", companions.join(", "));
        }
        kill(Pid::from_raw(*pid), Signal::SIGTERM)
            .with_context(|| format!("cannot signal process {pid} serving {name}"))?;
        println!("stopped {name} (process {pid})");
        stopped.push(*pid);
    }
    Ok(())
}

/// `(plugin name, pid)` for every pid file in the plugins folder.
fn pid_files(dir: &Path) -> Result<Vec<(String, i32)>> {
    let mut pids = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pids),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    for entry in entries {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        let (Some(name), Some("pid")) =
            (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|s| s.to_str()))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        match text.trim().parse() {
            Ok(pid) => pids.push((name.to_owned(), pid)),
            Err(_) => tracing::warn!(file = %path.display(), "ignoring a pid file that holds no pid"),
        }
    }
    pids.sort();
    Ok(pids)
}
