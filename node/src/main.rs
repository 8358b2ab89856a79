//! `rongxin-node --config FILE [--data-dir DIR]`: runs one member until
//! SIGTERM or SIGINT, then shuts down cleanly and exits 0. SIGHUP reloads
//! the tokens and the TLS files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rongxin_node::Node;
use rongxin_node::config::Config;
use tracing_subscriber::EnvFilter;

/// jemalloc rather than glibc's malloc: sled allocates and frees a copy of
/// a tree node on every write, and under glibc that churn, spread over
/// many threads' arenas, left a city node at about 0.9 GiB resident after
/// replicating 1M entries (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Rongxin (榕信) federation node.
#[derive(Debug, Parser)]
#[command(name = "rongxin-node", version, about)]
struct Args {
    /// The node's TOML config file.
    #[arg(long)]
    config: PathBuf,
    /// Data directory; overrides data_dir in the config.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Log format: text for people, json for log collectors.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_env("RONGXIN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    // A panic leaves the node in an unknown state: abort instead of running on.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));

    // Whatever the caller's umask, files the node creates (sled's files,
    // snapshots written later) are its user's only: they hold restricted
    // records and the query log.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));

    let config = match Config::load(&args.config, args.data_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rongxin-node: config error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rongxin-node: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

/// Runs the node until a signal. When its store needs opening again (sled
/// refuses writes after an I/O error, even once space is back), shuts it
/// down and starts it again in this process: the same start as at boot,
/// with its restore protection.
async fn run(mut config: Config) -> ExitCode {
    let member = config.member.clone();
    let mut restarts = 0u32;
    loop {
        let node = match Node::start(config.clone()).await {
            Ok(n) => n,
            Err(e) if restarts == 0 => {
                eprintln!("rongxin-node: cannot start: {e:#}");
                return ExitCode::FAILURE;
            }
            Err(e) if restarts < MAX_RESTART_TRIES => {
                // The old store may still be closing (sled's file lock).
                tracing::warn!(error = format!("{e:#}"), "restart failed; retrying");
                restarts += 1;
                tokio::time::sleep(RESTART_PAUSE).await;
                continue;
            }
            Err(e) => {
                eprintln!("rongxin-node: cannot restart: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        if restarts == 0 {
            let scheme = if config.tls.is_some() {
                "https"
            } else {
                "http"
            };
            println!(
                "rongxin-node {member} listening on {scheme}://{}",
                node.http_addr()
            );
            if let Some(ops) = node.ops_addr() {
                println!("rongxin-node {member} serving /healthz and /metrics on http://{ops}");
            }
        }
        let failed = tokio::select! {
            _ = wait_for_signal(&node) => false,
            _ = node.store_failed() => true,
        };
        if !failed {
            tracing::info!("signal received; shutting down");
            return match node.shutdown().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("rongxin-node: shutdown failed: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        tracing::warn!("restarting to open the store again after a failed write");
        if let Err(e) = node.shutdown().await {
            // The final flush fails on a store that refuses writes; what it
            // held unflushed was never acknowledged.
            tracing::warn!(error = format!("{e:#}"), "shutdown before the restart");
        }
        // Start from the config file as it is now, so that tokens and TLS
        // files reloaded since boot stay in force.
        match Config::load(&config.source, Some(config.data_dir.clone())) {
            Ok(fresh) => config = fresh,
            Err(e) => {
                tracing::warn!(error = %e, "the config file no longer loads; restarting with the one in force")
            }
        }
        restarts = 1;
    }
}

/// Tries of a restart before giving up (the old store's files may take a
/// moment to close).
const MAX_RESTART_TRIES: u32 = 30;
/// Pause between tries.
const RESTART_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Waits for SIGTERM or SIGINT; reloads on each SIGHUP meanwhile.
async fn wait_for_signal(node: &rongxin_node::NodeHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        // Without signal handlers, ctrl-c is the only way out.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => match node.reload() {
                Ok(()) => {}
                Err(e) => tracing::error!(error = %format!("{e:#}"), "SIGHUP"),
            },
        }
    }
}
