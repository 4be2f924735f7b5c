//! `infrakit`: the command line and the plugin server in one binary.
//!
//! This file only wires: it parses the command line ([`cli`]), sets up logging, runs the command
//! and turns its outcome into an exit status. The work lives in the library crates.

mod bench;
mod chaos;
mod cli;
mod e2e;
mod input;
mod kinds;
mod manager;
mod output;
mod registry;
mod templates;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// The controller allocates many small, short-lived objects on every pass over every group
/// (descriptions, tags, decisions); mimalloc serves them with less CPU and fragmentation than the
/// system allocator, which keeps a long-running process small.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Blocking work (the file plugin's folder, the process plugin's records, the embedded store,
/// `tokio::fs`) runs on tokio's blocking pool, whose default of 512 threads let a burst of 1,000
/// provisions start hundreds of threads, each keeping its stack and its allocator's cache: a
/// group of 1,000 held 325 MiB with 83 threads in steady state. The plugins serialize their
/// folder work anyway, so a few threads serve a burst as fast as hundreds; with the async
/// workers (one per core) the process stays within 16 threads.
const BLOCKING_THREADS: usize = 8;

fn main() -> ExitCode {
    exit_quietly_on_broken_pipe();
    let args = cli::Cli::parse();
    // A benchmark's own log lines would be part of what it measures.
    let quiet = matches!(args.command, cli::Command::Bench(_)).then_some("warn");
    init_logging(args.log.as_deref().or(quiet));
    if let Err(e) = set_size_ceiling() {
        eprintln!("infrakit: {e}");
        return ExitCode::FAILURE;
    }
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().max_blocking_threads(BLOCKING_THREADS).enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("infrakit: cannot start the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("infrakit: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The ceiling on group sizes holds for every spec this process reads, whichever command reads
/// it: the server's commits and stored specs as much as the CLI's `plan`.
fn set_size_ceiling() -> Result<(), infrakit_spi::Error> {
    use infrakit_spi::group::ceiling;
    let Ok(text) = std::env::var(ceiling::MAX_SIZE_ENV) else { return Ok(()) };
    ceiling::set_max_size(ceiling::parse_max_size(&text)?);
    Ok(())
}

/// `infrakit group describe web | head` must end quietly when `head` closes the pipe, as Unix
/// tools do. Rust ignores SIGPIPE and its print macros panic on EPIPE instead; restoring the
/// signal's default needs `unsafe`, which the workspace forbids, so the panic is recognised here.
fn exit_quietly_on_broken_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
}

/// Logs go to stderr; `--log` or `RUST_LOG` pick the level (default: info for infrakit crates).
fn init_logging(level: Option<&str>) {
    let filter = match level {
        Some(level) => tracing_subscriber::EnvFilter::new(level),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,infrakit=info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
