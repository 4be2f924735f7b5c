//! Playbooks on the command line: `infrakit playbook add|ls|rm`, and a playbook's commands run
//! as `infrakit NAME COMMAND [--flags]` (or the original's `infrakit use NAME COMMAND`).
//!
//! A command's flags are known only once its template is read, so its command line is parsed
//! here, by a parser built from the flags the template defines, rather than by the static
//! parser of `cli`. Templates render on a blocking thread (they may read the network and ask
//! the terminal); what runs the rendering (a shell, the manager, an instance plugin) runs here.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Arg, ArgAction, ArgMatches, CommandFactory};
use infrakit_playbook::{Backend, Command, Entry, Index, Param, ParamType, Prompter, Run, Store};
use infrakit_rpc::{GroupClient, InstanceClient};
use infrakit_spi::group::GroupPlugin;
use infrakit_spi::instance::{InstancePlugin, Spec};
use infrakit_spi::types::PluginName;
use infrakit_template::Engine;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::remote::{MANAGER, Remote};
use super::{Cli, PlaybookCommand};
use crate::input::parse_document;
use crate::templates::BinaryHost;

/// Names another file than `$INFRAKIT_HOME/playbooks.yml`, as the original's variable does.
const PLAYBOOKS_FILE_ENV: &str = "INFRAKIT_PLAYBOOKS_FILE";

/// The variable a `sh` command finds this binary in, so that its scripts can call it.
const BINARY_ENV: &str = "INFRAKIT";

fn store() -> Store {
    match std::env::var_os(PLAYBOOKS_FILE_ENV).filter(|v| !v.is_empty()) {
        Some(file) => Store::at(PathBuf::from(file)),
        None => Store::in_home(&infrakit_spi::home::home()),
    }
}

/// The engine of playbook templates, with `--var` variables, reading the manager `remote` reaches.
fn engine(remote: &Remote, vars: Vec<(String, String)>) -> Engine {
    Engine::new(vars).with_host(BinaryHost::new(Some(remote.clone())))
}

/// `infrakit playbook ...`.
pub async fn manage(command: PlaybookCommand, remote: &Remote) -> Result<ExitCode> {
    let store = store();
    match command {
        PlaybookCommand::Add { name, url } => {
            if Cli::command().get_subcommands().any(|c| c.get_name() == name) {
                bail!("{name} is a command of infrakit; name the playbook otherwise");
            }
            // The index is read now, so that a wrong URL is refused before it is recorded.
            let (engine, url) = (engine(remote, Vec::new()), url.clone());
            let index = blocking(move || Ok(Index::load(&engine, &url)?)).await?;
            let playbook = store.add(&name, index.url())?;
            println!("added playbook {name} ({}): {} commands", playbook.source, index.entries().count());
        }
        PlaybookCommand::Ls => {
            for playbook in store.list()? {
                println!("{}\t{}", playbook.name, playbook.source);
            }
        }
        PlaybookCommand::Rm { name } => {
            let playbook = store.remove(&name)?;
            println!("removed playbook {name} ({})", playbook.source);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `infrakit NAME [COMMAND...] [--flags]`: runs a playbook's command, or lists its commands.
pub async fn run(name: &str, args: Vec<String>, remote: &Remote) -> Result<ExitCode> {
    let Some(playbook) = store().get(name)? else {
        bail!("'{name}' is neither a command nor a playbook: see `infrakit --help` and `infrakit playbook ls`");
    };
    let (manager, title) = (remote.clone(), format!("infrakit {name}"));
    let prepared = blocking(move || prepare(&manager, &playbook.source, &title, &args)).await?;
    let (run, print_only) = match prepared {
        Prepared::Done(code) => return Ok(code),
        Prepared::Run { run, print_only } => (run, print_only),
    };
    if print_only {
        print!("{}", run.script);
        return Ok(ExitCode::SUCCESS);
    }
    execute(run, remote).await
}

enum Prepared {
    /// Help, a listing or a command-line error was printed.
    Done(ExitCode),
    /// A rendering to run.
    Run { run: Run, print_only: bool },
}

fn prepare(remote: &Remote, source: &str, title: &str, args: &[String]) -> Result<Prepared> {
    let engine = &engine(remote, Vec::new());
    let index = Index::load(engine, source)?;
    let (entry, used) = index.find(engine, args)?;
    let title = std::iter::once(title.to_owned()).chain(args[..used].iter().cloned()).collect::<Vec<_>>().join(" ");
    let url = match entry {
        Entry::Index(index) => {
            println!("{title}: commands of {}\n", index.url());
            for (name, url) in index.entries() {
                println!("  {name:<20} {url}");
            }
            return Ok(Prepared::Done(ExitCode::SUCCESS));
        }
        Entry::Command(url) => url,
    };
    let command = Command::load(engine, &url)?;
    let parser = parser(&title, &command);
    let matches = match parser.try_get_matches_from(std::iter::once(title.clone()).chain(args[used..].iter().cloned()))
    {
        Ok(matches) => matches,
        Err(e) => {
            let code = if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
            e.print()?;
            return Ok(Prepared::Done(code));
        }
    };
    let values = values(&command, &matches);
    let vars = matches.get_many::<String>("var").map(parse_vars).transpose()?.unwrap_or_default();
    let command = command.with_engine(self::engine(remote, vars));
    let run = command.render(&values, Arc::new(Terminal), matches.get_flag("accept-defaults"))?;
    Ok(Prepared::Run { run, print_only: matches.get_flag("print-only") })
}

/// The command line of one command: the flags its template defines, and the built-in ones.
fn parser(title: &str, command: &Command) -> clap::Command {
    let about = format!("{} (runs with: {})", command.url(), describe(command.backend()));
    let mut parser = clap::Command::new(title.to_owned()).about(about).no_binary_name(false);
    let builtin = ["print-only", "accept-defaults", "var", "help"];
    for param in command.params().iter().filter(|p| !builtin.contains(&p.name.as_str())) {
        parser = parser.arg(flag(param));
    }
    parser
        .arg(
            Arg::new("print-only")
                .long("print-only")
                .action(ArgAction::SetTrue)
                .help("Print the rendering; run nothing"),
        )
        .arg(
            Arg::new("accept-defaults")
                .long("accept-defaults")
                .action(ArgAction::SetTrue)
                .help("Take the defaults of prompts instead of asking"),
        )
        .arg(
            Arg::new("var")
                .long("var")
                .value_name("NAME=VALUE")
                .action(ArgAction::Append)
                .help("A variable for the templates, read with {{ var \"NAME\" }} (repeatable)"),
        )
}

fn flag(param: &Param) -> Arg {
    let mut help = param.description.clone();
    if let Some(default) = &param.default {
        help.push_str(&format!(" [default: {default}]"));
    }
    let arg = Arg::new(param.name.clone()).long(param.name.clone()).help(help).action(ArgAction::Set);
    match (param.kind, param.list) {
        (ParamType::Bool, false) => arg.value_name("true|false").num_args(0..=1).default_missing_value("true"),
        (_, true) => arg.value_name("A,B,..."),
        (kind, false) => arg.value_name(kind.to_string().to_uppercase()),
    }
}

fn values(command: &Command, matches: &ArgMatches) -> BTreeMap<String, String> {
    command
        .params()
        .iter()
        .filter_map(|p| matches.try_get_one::<String>(&p.name).ok().flatten().map(|v| (p.name.clone(), v.clone())))
        .collect()
}

/// `--var NAME=VALUE` given to a command.
fn parse_vars<'a>(vars: impl Iterator<Item = &'a String>) -> Result<Vec<(String, String)>> {
    vars.map(|var| match var.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => bail!("--var '{var}' is not NAME=VALUE"),
    })
    .collect()
}

fn describe(backend: &Backend) -> String {
    match backend {
        Backend::Print => "print".to_owned(),
        Backend::Sh(args) => format!("sh {}", args.join(" ")).trim_end().to_owned(),
        Backend::ControllerCommit(plugin) => format!("commit to {}", plugin.as_deref().unwrap_or(MANAGER)),
        Backend::InstanceProvision(plugin) => format!("provision with {plugin}"),
    }
}

/// Runs a rendering with its backend.
async fn execute(run: Run, remote: &Remote) -> Result<ExitCode> {
    match run.backend {
        Backend::Print => print!("{}", run.script),
        Backend::Sh(args) => return sh(&run.script, &args).await,
        Backend::ControllerCommit(plugin) => {
            let document: Value = parse_document("the rendering", &run.script)?;
            let documents = match document {
                Value::Array(documents) => documents,
                single => vec![single],
            };
            let name: PluginName = plugin.unwrap_or_else(|| MANAGER.to_owned()).parse()?;
            let groups = GroupClient::new(remote.client_for(name.lookup())?, &name);
            for document in documents {
                let spec = super::group::group_spec_from(document).context("the rendering is not a group spec")?;
                let id = spec.id.clone();
                let details = groups.commit_group(spec, false).await?;
                println!("Committed {id}: {details}");
            }
        }
        Backend::InstanceProvision(plugin) => {
            let spec: Spec = parse_document("the rendering", &run.script)?;
            let name: PluginName = plugin.parse()?;
            let instances = InstanceClient::new(remote.client_for(name.lookup())?, &name);
            println!("{}", instances.provision(spec).await.context("provision failed")?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The rendering run by `/bin/sh` on its standard input; its exit status is the command's.
async fn sh(script: &str, args: &[String]) -> Result<ExitCode> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .args(args)
        .env(BINARY_ENV, std::env::current_exe().context("cannot find this binary")?)
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot start /bin/sh")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).await.context("cannot hand the script to /bin/sh")?;
    }
    let status = child.wait().await.context("/bin/sh")?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => {
            eprintln!("infrakit: the script was killed ({status})");
            ExitCode::FAILURE
        }
    })
}

/// Prompts on the terminal: the question on stderr, the answer from stdin; nobody to ask when
/// stdin is not a terminal.
struct Terminal;

impl Prompter for Terminal {
    fn ask(&self, question: &str, default: &str) -> Option<String> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        let offered = if default.is_empty() { String::new() } else { format!(" [{default}]") };
        eprint!("{question}{offered}: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok()?;
        Some(answer.trim().to_owned())
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.context("the playbook's work stopped")?
}
