//! The command line: clap's definitions live here and nowhere else; each command is handed to
//! its module as plain values.

mod flavor;
mod group;
mod history;
mod instance;
mod plan;
mod playbook;
mod plugin;
pub mod remote;
mod rendered;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::manager::{self, StoreChoice};
use crate::output::Format;
use rendered::Vars;

/// Keep infrastructure in the state its owner declared.
///
/// infrakit is both the command line and the server: `infrakit plugin start` runs plugins
/// (instance backends, flavors, the group controller) as daemons speaking InfraKit's JSON-RPC
/// protocol on unix sockets in the plugins folder ($INFRAKIT_PLUGINS_DIR, else
/// $INFRAKIT_HOME/plugins, else ~/.infrakit/plugins); the other commands talk to them.
/// Playbooks add commands of their own: `infrakit NAME COMMAND` (see `infrakit playbook`).
#[derive(Debug, Parser)]
#[command(name = "infrakit", version, propagate_version = true)]
pub struct Cli {
    /// Log filter for stderr, e.g. `debug` or `infrakit=trace` (default: $RUST_LOG, else info).
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,

    /// Output format of commands that print data.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,

    /// A remote manager's URL (`http://host:port`, its --listen address; `https://` when it
    /// serves TLS, trusting the PEM certificates in $INFRAKIT_TLS_CA, else the system's): the
    /// group, instance, flavor, history, diff, rollback and plan commands go through it.
    #[arg(long, global = true, env = "INFRAKIT_HOST", value_name = "URL")]
    pub host: Option<String>,

    /// The bearer token of the remote manager (its $INFRAKIT_HOME/token).
    #[arg(long, global = true, env = "INFRAKIT_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start, list and stop plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),

    /// Call an instance plugin: `infrakit instance simulator/compute describe`.
    Instance {
        /// The plugin, as `socket[/object]`.
        name: String,
        #[command(subcommand)]
        command: InstanceCommand,
    },

    /// Manage groups: commit specs, scale, roll out, watch.
    Group {
        /// The group plugin to talk to (default: `group`, the manager, when it runs, else
        /// `group-stateless`, the controller).
        #[arg(long, global = true, value_name = "NAME")]
        plugin: Option<String>,
        #[command(subcommand)]
        command: GroupCommand,
    },

    /// Measure the project's speed and footprint (figures, not pass/fail).
    #[command(subcommand)]
    Bench(BenchCommand),

    /// Run the groups of FILE in this one process until Ctrl-C: the manager, the group
    /// controller and every plugin the groups name; progress until converged, then healing.
    ///
    /// FILE holds one group spec or a list of them (JSON or YAML). Ctrl-C leaves the instances
    /// running; the next `up` adopts them and resumes any rollout.
    Up {
        file: PathBuf,
        #[command(flatten)]
        vars: Vars,
        #[command(flatten)]
        store: StoreArgs,
        /// Serve every plugin over HTTP on this TCP address (e.g. `127.0.0.1:24864`), with the
        /// bearer token of $INFRAKIT_HOME/token (or $INFRAKIT_TOKEN); followers forward to the
        /// leader.
        #[arg(long, env = "INFRAKIT_MANAGER_LISTEN", value_name = "ADDR")]
        listen: Option<String>,
        /// Serve --listen over TLS with this certificate chain (PEM); needs --tls-key.
        #[arg(long, env = "INFRAKIT_TLS_CERT", value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM).
        #[arg(long, env = "INFRAKIT_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },

    /// Show what `up FILE` would change, and change nothing: the difference from the stored
    /// specs field by field, instances to create, destroy and roll, batches, the peak instance
    /// count and an estimated duration. Exit status: 0 no change, 2 changes, 1 error.
    Plan {
        file: PathBuf,
        #[command(flatten)]
        vars: Vars,
    },

    /// Render a template (a file, `file://PATH`, `http(s)://URL`, `str://TEXT` or `-` for stdin)
    /// with the variables given and print it: the original's templates, with its functions;
    /// `metadata` reads the running manager (or --host).
    Template {
        url: String,
        #[command(flatten)]
        vars: Vars,
    },

    /// List the stored versions of a group's spec (the manager keeps every commit).
    History { group: String },

    /// Show what changed between two stored versions of a group's spec, field by field.
    Diff { group: String, from: u64, to: u64 },

    /// Commit an earlier version of a group's spec again (default: the one before the current).
    Rollback {
        group: String,
        #[arg(value_name = "VERSION")]
        to: Option<u64>,
    },

    /// Call a flavor plugin: `infrakit flavor vanilla validate props.yml`.
    Flavor {
        /// The plugin, as `socket[/object]`.
        name: String,
        #[command(subcommand)]
        command: FlavorCommand,
    },

    /// Add, list and remove playbooks: indexes of templated commands, run as
    /// `infrakit NAME COMMAND [--flags]` (`infrakit NAME` lists its commands).
    #[command(subcommand)]
    Playbook(PlaybookCommand),

    /// Run a playbook's command, as the original's CLI did: `infrakit use NAME COMMAND [--flags]`.
    #[command(disable_help_flag = true)]
    Use {
        /// The playbook.
        name: String,
        /// The command's path in the playbook, then its flags (`--help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },

    /// A playbook's name: `infrakit NAME COMMAND [--flags]` runs one of its commands.
    #[command(external_subcommand)]
    External(Vec<String>),
}

#[derive(Debug, Subcommand)]
pub enum PlaybookCommand {
    /// Record a playbook: NAME for the commands of the index at URL (a file, a folder holding
    /// `index.ikb` or `index.yml`, `http(s)://`); the index is read now, and a URL that does not
    /// give one is refused.
    Add { name: String, url: String },
    /// List the playbooks: name and index URL.
    Ls,
    /// Forget a playbook.
    Rm { name: String },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Run plugins in this process until SIGINT, SIGTERM or SIGHUP.
    ///
    /// Each argument is KIND[:NAME]: the kind of plugin and the socket name to serve it under
    /// (default: the kind's usual name; `group` is served as `group-stateless`, as the original).
    /// Kinds: file, simulator, process, vanilla, combo, group, docker, aws, manager (served as `group`),
    /// swarm (the objects `swarm/manager` and `swarm/worker`).
    /// Sockets and pid files are removed on exit; stale ones from a crashed run are replaced.
    Start {
        /// Plugins to run, as KIND[:NAME].
        #[arg(required = true, value_name = "KIND[:NAME]")]
        plugins: Vec<String>,
        /// Options for the plugin named NAME, from a JSON or YAML file laid over its settings
        /// from the environment, e.g. `--options simulator=sim.yml` with
        /// `{DescribeLag: 2s, FailureRate: 0.1, Capacity: 100}` (file, simulator, process, docker, aws).
        #[arg(long = "options", value_name = "NAME=FILE", value_parser = parse_options)]
        options: Vec<(String, PathBuf)>,
        /// Where a `manager` keeps its specs.
        #[command(flatten)]
        store: StoreArgs,
    },

    /// List the running plugins with the interfaces they implement.
    Ls {
        /// Print only the names.
        #[arg(short, long)]
        quiet: bool,
    },

    /// Stop plugins by name (SIGTERM to the process serving them).
    Stop {
        /// Plugin names.
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
        /// Stop every plugin in the plugins folder.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The group controller against the in-memory simulator: scale from zero, bounded
    /// parallelism, a rollout with surge, and 100 groups in steady state (takes about a minute).
    Group,
    /// `kill -9` of `infrakit up` at a random moment of a rollout of file instances, restarted
    /// each time: checks that nothing leaks or doubles and the surge holds, and times recovery.
    Chaos {
        /// How many kill-and-restart trials.
        #[arg(long, default_value_t = 50)]
        trials: u32,
        /// The group's size.
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// The rollout's MaxSurge.
        #[arg(long, default_value_t = 10)]
        surge: usize,
    },
    /// The path users run: this binary started as a plugin server in its own process, driven
    /// over its unix sockets from this one: converging 1,000 file instances, Provision and
    /// DescribeInstances throughput, the steady state's CPU, memory and threads, and how fast a
    /// member removed out of band is replaced (takes a few minutes).
    E2e {
        /// Only the scenarios whose name contains this (converge, provision, describe, steady,
        /// groups, heal).
        #[arg(long)]
        only: Option<String>,
        /// Runs of each throughput and convergence scenario.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// Where the servers' homes and instance files go; a tmpfs folder by default.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Commit a group spec (JSON or YAML; `-` for stdin): start managing the group, or change it.
    ///
    /// The file is `{ID, Properties}` or `{kind: group, metadata: {name}, properties}`. With
    /// --pretend nothing changes and the plan is printed.
    Commit {
        file: PathBuf,
        /// Only say what would be done.
        #[arg(long)]
        pretend: bool,
        #[command(flatten)]
        vars: Vars,
    },
    /// List the managed groups with their phase and counts.
    Ls {
        /// Print only the IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show a group's status, recent decisions and members.
    Describe {
        id: String,
        /// Print only the member IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show a group's target size, or change it.
    Scale { id: String, size: Option<u64> },
    /// Destroy members of a group and shrink it by as many.
    DestroyInstances {
        id: String,
        #[arg(required = true)]
        instances: Vec<String>,
    },
    /// Stop managing a group; its instances keep running.
    Free { id: String },
    /// Stop managing a group and destroy its instances.
    Destroy { id: String },
    /// Pause, resume or abort a group's rollout, or show where it stands.
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// Show a group's recent decisions; with --follow, stream new ones until Ctrl-C.
    Events {
        id: String,
        #[arg(short, long)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Stop replacing members; healing goes on.
    Pause { id: String },
    /// Go on with a paused rollout.
    Resume { id: String },
    /// Stop the rollout and go back to the spec in effect before it.
    Abort { id: String },
    /// Where the rollout stands.
    Status { id: String },
}

#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// List instances, optionally only those with all the given tags.
    Describe {
        /// Only instances with this tag (repeatable).
        #[arg(long = "tags", value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// Include the backend's properties of each instance.
        #[arg(short, long)]
        properties: bool,
        /// Print only the IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Create an instance from a spec file (JSON or YAML; `-` for stdin).
    Provision {
        /// The instance spec: {Properties, Tags, Init, LogicalID, Attachments}.
        file: PathBuf,
    },
    /// Destroy instances by ID.
    Destroy {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Check instance properties without creating anything.
    Validate {
        /// The instance properties (JSON or YAML; `-` for stdin).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum FlavorCommand {
    /// Check flavor properties against an allocation.
    Validate {
        /// The flavor properties (JSON or YAML; `-` for stdin).
        file: PathBuf,
        #[command(flatten)]
        allocation: AllocationArgs,
    },
    /// Show the instance spec the flavor would make from an instance spec.
    Prepare {
        /// The flavor properties.
        file: PathBuf,
        /// The instance spec to start from.
        spec: PathBuf,
        #[command(flatten)]
        allocation: AllocationArgs,
        /// The group the member belongs to.
        #[arg(long, default_value = "")]
        group: String,
        /// The member's sequence number.
        #[arg(long, default_value_t = 0)]
        sequence: u64,
    },
    /// Ask the flavor whether an instance is healthy.
    Healthy {
        /// The flavor properties.
        file: PathBuf,
        /// The instance description: {ID, LogicalID, Tags, Properties}.
        instance: PathBuf,
    },
}

/// Where a manager keeps its specs: the flags of `up` and `plugin start`, each also read from its
/// environment variable (a flag given wins over the variable).
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Where specs are kept: `embedded` (a file under $INFRAKIT_HOME) or `etcd` (shared by
    /// several managers, one of them leading).
    #[arg(long, env = manager::STORE_ENV, value_name = "embedded|etcd")]
    store: Option<String>,
    /// The etcd endpoints, comma-separated (with --store etcd).
    #[arg(long, env = manager::ETCD_ENDPOINTS_ENV, value_name = "URLS")]
    etcd_endpoints: Option<String>,
    /// The leader lease TTL (with --store etcd): a new leader acts within about this long after
    /// the old one dies.
    #[arg(long, env = manager::LEASE_TTL_ENV, value_name = "DURATION")]
    lease_ttl: Option<String>,
}

impl StoreArgs {
    /// The store these flags choose.
    pub fn choice(&self) -> Result<StoreChoice> {
        StoreChoice::new(self.store.as_deref(), self.etcd_endpoints.as_deref(), self.lease_ttl.as_deref())
    }
}

/// The group allocation a flavor is validated or prepared against.
#[derive(Debug, clap::Args)]
pub struct AllocationArgs {
    /// The group's size (cattle).
    #[arg(long, default_value_t = 1, conflicts_with = "logical_ids")]
    size: u64,
    /// The group's logical IDs (pets), comma-separated.
    #[arg(long, value_delimiter = ',')]
    logical_ids: Vec<String>,
}

fn parse_options(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => Ok((name.to_owned(), PathBuf::from(file))),
        _ => Err(format!("'{text}' is not NAME=FILE")),
    }
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("'{text}' is not KEY=VALUE")),
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let remote = remote::Remote { host: cli.host, token: cli.token };
    match cli.command {
        Command::Plugin(command) => plugin::run(command, cli.output).await,
        Command::Instance { name, command } => instance::run(&name, command, &remote, cli.output).await,
        Command::Flavor { name, command } => flavor::run(&name, command, &remote, cli.output).await,
        Command::Group { plugin, command } => group::run(plugin, command, &remote, cli.output).await,
        Command::Up { file, vars, store, listen, tls_cert, tls_key } => {
            let store = store.choice()?;
            let tls = infrakit_remote::TlsFiles::new(tls_cert, tls_key)?;
            up::run(&file, &vars, &store, listen.as_deref(), tls.as_ref()).await
        }
        Command::Plan { file, vars } => plan::run(&file, &vars, &remote).await,
        Command::Template { url, vars } => {
            let url = match url.as_str() {
                "-" => format!("str://{}", crate::input::read_text(std::path::Path::new("-"))?.1),
                _ => url,
            };
            print!("{}", crate::templates::render(vars.engine(&remote), url, serde_json::json!({})).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::History { group } => history::history(&group, &remote, cli.output).await,
        Command::Diff { group, from, to } => history::show_diff(&group, &remote, from, to).await,
        Command::Rollback { group, to } => history::rollback(&group, &remote, to).await,
        Command::Playbook(command) => playbook::manage(command, &remote).await,
        Command::Use { name, args } => playbook::run(&name, args, &remote).await,
        Command::External(mut words) => {
            let name = words.remove(0);
            playbook::run(&name, words, &remote).await
        }
        Command::Bench(BenchCommand::Group) => crate::bench::group().await.map(|()| ExitCode::SUCCESS),
        Command::Bench(BenchCommand::E2e { only, runs, dir }) => {
            let dir = dir.unwrap_or_else(crate::e2e::default_dir);
            crate::e2e::run(crate::e2e::E2e { only, runs, dir }).await.map(|()| ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Chaos { trials, size, surge }) => {
            let chaos = crate::chaos::Chaos { trials, size, surge };
            tokio::task::spawn_blocking(move || crate::chaos::run(chaos)).await?.map(|()| ExitCode::SUCCESS)
        }
    }
}
