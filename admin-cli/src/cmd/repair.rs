//! `rongxinctl repair apply|list|show|decide`: credit-repair applications
//! (信用修复) at a node, as a service window or the origin's staff use
//! them (docs/operations.md, "Credit lifecycle").

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use rongxin_protocol::entry::RepairOutcome;
use rongxin_protocol::objection::CaseReceipt;
use rongxin_protocol::repair::{DecideAnswer, DecideRepair, FileRepair, RepairList, RepairView};

use super::objection::{Conn, connect, record_ref};
use crate::client::segment;

/// Arguments of `rongxinctl repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    #[command(subcommand)]
    command: RepairCommand,
}

#[derive(Debug, Subcommand)]
enum RepairCommand {
    /// Apply for credit repair of a record (of any origin) at a node.
    Apply(ApplyArgs),
    /// List the applications a node knows (open ones by default).
    List(ListArgs),
    /// Show one application.
    Show(ShowArgs),
    /// Decide an application, at the record's origin.
    Decide(DecideArgs),
}

#[derive(Debug, Args)]
struct ApplyArgs {
    #[command(flatten)]
    conn: Conn,
    /// The record, as `origin/seq` (a profile shows both), or its key
    /// `kind/jurisdiction/authority_code/record_no`.
    #[arg(long)]
    record: String,
    /// How the conduct was corrected (整改情况).
    #[arg(long)]
    statement: String,
    /// The subject's public credit commitment: the key of its XYCN record,
    /// or the commitment document's reference.
    #[arg(long)]
    commitment: String,
    /// Your own id for the application, so that filing again is safe.
    #[arg(long)]
    id: Option<String>,
    /// A digest of an attachment kept by the filer (`sha256:<hex>`); repeat.
    #[arg(long = "attachment")]
    attachments: Vec<String>,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    conn: Conn,
    /// Only applications in this state (open, received, granted, rejected,
    /// refused, all).
    #[arg(long, default_value = "open")]
    state: String,
    /// Only undecided applications past their due date.
    #[arg(long)]
    overdue: bool,
    /// Only applications about records of this origin.
    #[arg(long)]
    origin: Option<String>,
    /// Print the JSON answer.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ShowArgs {
    #[command(flatten)]
    conn: Conn,
    /// The application id.
    id: String,
}

#[derive(Debug, Args)]
struct DecideArgs {
    #[command(flatten)]
    conn: Conn,
    /// The application id.
    id: String,
    /// The decision: granted revokes the record (reason repair).
    #[arg(long, value_enum)]
    outcome: Outcome,
    /// Why: the decision document's number and reasons.
    #[arg(long)]
    explanation: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Outcome {
    Granted,
    Rejected,
}

/// Runs `rongxinctl repair`.
pub fn run(args: RepairArgs) -> Result<ExitCode> {
    match args.command {
        RepairCommand::Apply(a) => apply(a),
        RepairCommand::List(a) => list(a),
        RepairCommand::Show(a) => show(a),
        RepairCommand::Decide(a) => decide(a),
    }
}

fn apply(a: ApplyArgs) -> Result<ExitCode> {
    let req = FileRepair {
        record: record_ref(&a.record)?,
        statement: a.statement,
        commitment: a.commitment,
        id: a.id,
        attachments: a.attachments,
    };
    let (node, token) = connect(&a.conn)?;
    let answer: CaseReceipt = node
        .post(
            "/v1/repairs",
            "application/json",
            &serde_json::to_vec(&req)?,
            &token,
        )?
        .json()?;
    println!(
        "repair application {} received: receipt {}, state {}, decided by {}, due {}",
        answer.id,
        answer.receipt,
        answer.state.as_str(),
        answer.origin,
        answer.due
    );
    Ok(ExitCode::SUCCESS)
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let (node, token) = connect(&a.conn)?;
    let state = if a.overdue {
        "overdue"
    } else {
        a.state.as_str()
    };
    let mut query = vec![("state", state)];
    if let Some(o) = &a.origin {
        query.push(("origin", o));
    }
    let answer = node.get("/v1/repairs", &query, Some(&token))?;
    if a.json {
        println!("{}", answer.body);
        return Ok(ExitCode::SUCCESS);
    }
    let list: RepairList = answer.json()?;
    println!(
        "{:<28} {:<9} {:<10} {:<10} {:<11} {:<11}  record",
        "id", "state", "origin", "filed at", "received", "due"
    );
    for r in &list.repairs {
        println!(
            "{:<28} {:<9} {:<10} {:<10} {:<11} {:<11}  {}{}",
            r.id,
            r.state.as_str(),
            r.origin,
            r.received_by,
            r.received_on.to_string(),
            r.due.to_string(),
            r.key,
            if r.overdue { "  OVERDUE" } else { "" }
        );
    }
    println!("{} application(s)", list.repairs.len());
    Ok(ExitCode::SUCCESS)
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let (node, token) = connect(&a.conn)?;
    let view: RepairView = node
        .get(
            &format!("/v1/repairs/{}", segment(&a.id)),
            &[],
            Some(&token),
        )?
        .json()?;
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(ExitCode::SUCCESS)
}

fn decide(a: DecideArgs) -> Result<ExitCode> {
    let req = DecideRepair {
        outcome: match a.outcome {
            Outcome::Granted => RepairOutcome::Granted,
            Outcome::Rejected => RepairOutcome::Rejected,
        },
        explanation: a.explanation,
    };
    let (node, token) = connect(&a.conn)?;
    let answer: DecideAnswer = node
        .post(
            &format!("/v1/repairs/{}/decide", segment(&a.id)),
            "application/json",
            &serde_json::to_vec(&req)?,
            &token,
        )?
        .json()?;
    match answer.revoke_seq {
        Some(r) => println!(
            "repair application {} {} at seq {} (record revoked at seq {r})",
            answer.id,
            answer.state.as_str(),
            answer.seq
        ),
        None => println!(
            "repair application {} {} at seq {}",
            answer.id,
            answer.state.as_str(),
            answer.seq
        ),
    }
    Ok(ExitCode::SUCCESS)
}
