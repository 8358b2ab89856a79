//! `rongxin-node --config FILE [--data-dir DIR]`: runs one member until
//! SIGTERM or SIGINT, then shuts down cleanly and exits 0. SIGHUP reloads
//! the tokens, the TLS files and the log filter.

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
#[command(
    name = "rongxin-node",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Args {
    /// The node's TOML config file (to run the node).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory; overrides data_dir in the config.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Log format: text for people, json for log collectors (overrides
    /// the config's log.format; default text).
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Work on a stopped node's data directory.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Converts a store of the previous format (2) to this release's (3),
    /// then checks the new store whole. The node must be stopped.
    Migrate {
        /// The data directory holding the old store.
        #[arg(long, required_unless_present = "in_place", requires = "to")]
        from: Option<PathBuf>,
        /// A new data directory for the new store (copy the node's key
        /// files along if they live in the old one, and point data_dir at it).
        #[arg(long)]
        to: Option<PathBuf>,
        /// Migrate this data directory in place, keeping the old store
        /// as DIR/store.format2 until you delete it.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["from", "to"])]
        in_place: Option<PathBuf>,
    },
    /// Restores a backup (made with `rongxinctl backup`) into a new data
    /// directory, checking every member against the backup's manifest and
    /// the restored store whole. The node must be stopped. Start it on DIR
    /// (with the same config and keys) afterwards: before it signs anything
    /// it fetches from its peers whatever of its own log they hold past the
    /// backup (restore protection), then catches up on every other log.
    Restore {
        /// The backup archive.
        #[arg(long)]
        from: PathBuf,
        /// The new data directory (must not hold a store).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Reads and checks a stopped node's store whole: every entry against
    /// its position, chain and leaf hash, every stored Merkle hash against
    /// the leaves, every root against the commit points and checkpoints.
    Verify {
        /// The node's data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
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

    if args.command.is_some() {
        init_logging(args.log_format.as_deref() == Some("json"), None);
    }
    match args.command {
        Some(Command::Migrate { from, to, in_place }) => return migrate(from, to, in_place),
        Some(Command::Verify { data_dir }) => return verify(&data_dir),
        Some(Command::Restore { from, data_dir }) => return restore(&from, &data_dir),
        None => {}
    }
    let Some(config_path) = args.config else {
        eprintln!(
            "rongxin-node: --config FILE is required to run a node (or a subcommand: migrate, verify; see --help)"
        );
        return ExitCode::from(2);
    };
    let config = match Config::load(&config_path, args.data_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rongxin-node: config error: {e}");
            return ExitCode::from(2);
        }
    };
    let json = match args.log_format.as_deref() {
        Some(f) => f == "json",
        None => config.log.json.unwrap_or(false),
    };
    init_logging(json, config.log.filter.as_deref());
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

/// Swaps the log filter on SIGHUP; set once logging is up.
static FILTER: std::sync::OnceLock<
    tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>,
> = std::sync::OnceLock::new();

/// The filter from `RONGXIN_LOG` when it is set and not empty.
fn env_filter() -> Option<String> {
    std::env::var("RONGXIN_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Starts logging to stderr (journald takes it under systemd): `json` or
/// text, filtered by `RONGXIN_LOG`, else the config's `log.filter`, else
/// `info`.
fn init_logging(json: bool, configured: Option<&str>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let text = env_filter()
        .or_else(|| configured.map(str::to_owned))
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&text).unwrap_or_else(|e| {
        eprintln!("rongxin-node: RONGXIN_LOG = \"{text}\" is not a filter ({e}); logging at info");
        EnvFilter::new("info")
    });
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let _ = FILTER.set(handle);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init();
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .init();
    }
}

/// Puts the reloaded config's log filter in force, unless `RONGXIN_LOG`
/// sets it (the environment wins, at start as on reload).
fn reload_filter(log: &rongxin_node::config::LogConfig) {
    if env_filter().is_some() {
        return;
    }
    let text = log.filter.clone().unwrap_or_else(|| "info".to_owned());
    let Ok(filter) = EnvFilter::try_new(&text) else {
        // The config was checked whole: this does not happen.
        return;
    };
    match FILTER.get().map(|h| h.reload(filter)) {
        Some(Ok(())) => tracing::warn!(filter = %text, "log filter reloaded"),
        Some(Err(e)) => tracing::error!(error = %e, "cannot reload the log filter"),
        None => {}
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
                Ok(log) => reload_filter(&log),
                Err(e) => tracing::error!(error = %format!("{e:#}"), "SIGHUP"),
            },
        }
    }
}

/// A progress bar for `len` entries of one log.
fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:24} [{bar:40}] {pos}/{len} entries ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Draws one bar per log as `progress` reports them.
#[derive(Default)]
struct Bars {
    current: Option<(String, indicatif::ProgressBar)>,
}

impl Bars {
    fn show(&mut self, label: String, done: u64, total: u64) {
        match &self.current {
            Some((l, b)) if *l == label => b.set_position(done),
            _ => {
                if let Some((_, b)) = self.current.take() {
                    b.finish();
                }
                let b = bar(total, &label);
                b.set_position(done);
                self.current = Some((label, b));
            }
        }
    }

    fn finish(&mut self) {
        if let Some((_, b)) = self.current.take() {
            b.finish();
        }
    }
}

fn migrate(from: Option<PathBuf>, to: Option<PathBuf>, in_place: Option<PathBuf>) -> ExitCode {
    use rongxin_node::store::migrate::{self, Progress};
    let mut bars = Bars::default();
    let mut progress = |p: Progress<'_>| match p {
        Progress::Log {
            origin,
            done,
            total,
        } => bars.show(format!("copy {origin}"), done, total),
        Progress::Check {
            origin,
            done,
            total,
        } => bars.show(format!("check {origin}"), done, total),
        Progress::Keys(_) => {}
    };
    let (result, target) = match (from, to, in_place) {
        (_, _, Some(dir)) => (migrate::migrate_in_place(&dir, &mut progress), dir),
        (Some(from), Some(to), None) => (migrate::migrate(&from, &to, &mut progress), to),
        _ => {
            eprintln!("rongxin-node migrate: give --from DIR --to NEW_DIR, or --in-place DIR");
            return ExitCode::from(2);
        }
    };
    bars.finish();
    match result {
        Ok(m) => {
            println!(
                "migrated to store format {}: {} logs, {} entries, {} other keys; the full check of {} passed ({} entries, {} hashes)",
                rongxin_node::store::FORMAT_VERSION,
                m.logs,
                m.entries,
                m.keys,
                target.display(),
                m.checked.entries,
                m.checked.hashes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "rongxin-node migrate: {e}\nnothing in the old store was changed; delete the new store's directory before trying again"
            );
            ExitCode::FAILURE
        }
    }
}

fn restore(from: &std::path::Path, data_dir: &std::path::Path) -> ExitCode {
    use rongxin_node::store::backup::{self, Progress};
    let file = match std::fs::File::open(from) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rongxin-node restore: cannot read {}: {e}", from.display());
            return ExitCode::FAILURE;
        }
    };
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bars = Bars::default();
    let result = backup::restore(std::io::BufReader::new(file), data_dir, |p| match p {
        Progress::Bytes(n) => bars.show("unpack".into(), n, total),
        Progress::Keys(n) => bars.show("database".into(), n, n),
        Progress::Check {
            origin,
            done,
            total,
        } => bars.show(format!("check {origin}"), done, total),
    });
    bars.finish();
    match result {
        Ok(m) => {
            let entries: u64 = m.logs.iter().map(|l| l.size).sum();
            let taken = time::OffsetDateTime::from_unix_timestamp(m.taken_ms / 1000)
                .map(|t| t.to_offset(time::macros::offset!(+8)))
                .map_or_else(
                    |_| m.taken_ms.to_string(),
                    |t| {
                        format!(
                            "{} {:02}:{:02}:{:02} UTC+8",
                            t.date(),
                            t.hour(),
                            t.minute(),
                            t.second()
                        )
                    },
                );
            println!(
                "restored {}'s store as of {taken} into {}: {} logs, {entries} entries, {} database keys; every member, entry, chain, hash and root checks out",
                m.member,
                data_dir.display(),
                m.logs.len(),
                m.base_keys + m.journal_ops
            );
            println!(
                "next: point data_dir at {} (or pass --data-dir) and start the node with its config and keys; it fetches from its peers what they hold of its log past the backup before it signs anything, then catches up on every other log",
                data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rongxin-node restore: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn verify(data_dir: &std::path::Path) -> ExitCode {
    use rongxin_node::store::{Store, StoreLimits, check};
    if !data_dir.join("store").join("db").is_file() {
        eprintln!(
            "rongxin-node verify: no store in {} (expected {}/store/db): give the node's data_dir",
            data_dir.display(),
            data_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let store = match Store::open_unchecked(data_dir, StoreLimits::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rongxin-node verify: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut bars = Bars::default();
    let result = check::full(&store, &mut |origin, done, total| {
        bars.show(format!("check {origin}"), done, total)
    });
    bars.finish();
    match result {
        Ok(v) => {
            println!(
                "verified {}: {} logs, {} entries, {} Merkle hashes; every entry, chain, hash and root checks out",
                data_dir.display(),
                v.logs,
                v.entries,
                v.hashes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rongxin-node verify: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
