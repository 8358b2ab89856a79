//! `rongxin-province --config FILE [--data-dir DIR]`: runs the provincial
//! receiver until SIGTERM or SIGINT, then shuts down cleanly and exits 0.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rongxin_province::Province;
use rongxin_province::config::Config;
use tracing_subscriber::EnvFilter;

/// Rongxin (榕信) provincial platform receiver.
#[derive(Debug, Parser)]
#[command(name = "rongxin-province", version, about)]
struct Args {
    /// The receiver's TOML config file.
    #[arg(long)]
    config: PathBuf,
    /// Data directory; overrides data_dir in the config.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Log format: text for people, json for log collectors.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

/// jemalloc, as in rongxin-node: sled's per-write node copies fragment
/// glibc's malloc.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    // A panic leaves the receiver in an unknown state: abort instead of running on.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));

    let config = match Config::load(&args.config, args.data_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rongxin-province: config error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rongxin-province: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let province = match Province::start(config).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("rongxin-province: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "rongxin-province listening on https://{} (admin http://{})",
            province.addr(),
            province.admin_addr()
        );
        wait_for_signal().await;
        tracing::info!("signal received; shutting down");
        match province.shutdown().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rongxin-province: shutdown failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, ctrl-c is the only way out.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
