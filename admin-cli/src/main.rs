//! `rongxinctl`: the operator and auditor tool of Rongxin.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod client;
mod cmd;
mod files;
mod local;
mod shell;

/// jemalloc rather than glibc's malloc: `submit` maps every row of a large
/// file into short-lived strings and maps, and under glibc's malloc that
/// churn was about 40 % of the tool's CPU (docs/benchmarks.md, csvload).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Rongxin (榕信) operator and auditor tool.
#[derive(Debug, Parser)]
#[command(name = "rongxinctl", version, about)]
struct Cli {
    /// PEM certificate of the CA that issued the nodes' certificates: an
    /// https:// --node is verified against it only (without it, against the
    /// public web roots). Also from the environment variable RONGXIN_CA.
    #[arg(long, global = true, value_name = "FILE")]
    ca: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check unified social credit codes and resident ID numbers.
    Code(cmd::code::CodeArgs),
    /// Generate a member's signing and transport keys, or the federation root key.
    Keygen(cmd::keygen::KeygenArgs),
    /// Write a node's config from the signed roster and this machine's keys
    /// (after `keygen`, once the city has signed a roster naming them).
    Init(cmd::init::InitArgs),
    /// Create, extend, sign, verify and show the roster.
    Roster(cmd::roster::RosterArgs),
    /// Verification for auditors: a provenance bundle offline, or an
    /// origin's whole log from a node.
    Audit(cmd::audit::AuditArgs),
    /// Write realistic, valid sample records (JSON Lines) for one origin.
    Sample(cmd::sample::SampleArgs),
    /// Send a file of records (JSON Lines or 双公示 CSV) to a node.
    ///
    /// Exits 0 when nothing was rejected, 1 when some records were, 2 on errors.
    Submit(cmd::submit::SubmitArgs),
    /// Show a subject's credit profile from a node.
    Query(cmd::query::QueryArgs),
    /// Show a node's status.
    Status(cmd::status::StatusArgs),
    /// Fetch the provenance bundle of one log entry, for `audit verify`.
    Bundle(cmd::bundle::BundleArgs),
    /// Show a node's replication: per origin and peer, held, lag, last contact.
    Replication(cmd::replication::ReplicationArgs),
    /// Show the whole federation as one node sees it: per node and origin,
    /// entries held and lag, and which nodes were not heard from lately.
    Federation(cmd::federation::FederationArgs),
    /// Show the city's forwarding to the province, per origin.
    Forward(cmd::forward::ForwardArgs),
    /// Make bearer tokens for department systems and agencies.
    Token(cmd::token::TokenArgs),
    /// Run a local federation on loopback with sample data (Ctrl-C stops it).
    Demo(cmd::demo::DemoArgs),
    /// Objections (异议): file one at any node, list and show them, resolve
    /// one at the record's origin.
    Objection(cmd::objection::ObjectionArgs),
    /// Credit repair (信用修复): apply at any node, list and show
    /// applications, decide one at the record's origin.
    Repair(cmd::repair::RepairArgs),
    /// Publication timeliness (双公示 七日内) per origin, authority and kind.
    Timeliness(cmd::timeliness::TimelinessArgs),
    /// Reports: `report evaluation`, the period's evaluation (目标绩效考核)
    /// of every district and department, as a table, CSV or printable HTML.
    Report(cmd::report::ReportArgs),
    /// Take an online backup of a running node and verify it (restore it
    /// with `rongxin-node restore`), or verify an existing one.
    Backup(cmd::backup::BackupArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The flag wins over the environment; an empty RONGXIN_CA means unset.
    client::set_ca(cli.ca.or_else(|| {
        std::env::var_os("RONGXIN_CA")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }));
    let result = match cli.command {
        Command::Code(a) => cmd::code::run(a),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Init(a) => cmd::init::run(a),
        Command::Roster(a) => cmd::roster::run(a),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Sample(a) => cmd::sample::run(a),
        Command::Submit(a) => cmd::submit::run(a),
        Command::Query(a) => cmd::query::run(a),
        Command::Status(a) => cmd::status::run(a),
        Command::Bundle(a) => cmd::bundle::run(a),
        Command::Replication(a) => cmd::replication::run(a),
        Command::Token(a) => cmd::token::run(a),
        Command::Federation(a) => cmd::federation::run(a),
        Command::Forward(a) => cmd::forward::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Objection(a) => cmd::objection::run(a),
        Command::Repair(a) => cmd::repair::run(a),
        Command::Timeliness(a) => cmd::timeliness::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Backup(a) => cmd::backup::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
