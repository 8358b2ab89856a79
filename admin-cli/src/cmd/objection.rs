//! `rongxinctl objection file|list|show|resolve`: objections (异议) at a
//! node, as a service window or the origin's staff use them
//! (docs/operations.md, "Credit lifecycle").

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use rongxin_protocol::entry::{ObjectionGround, ObjectionOutcome};
use rongxin_protocol::objection::{
    CaseReceipt, FileObjection, ObjectionList, ObjectionView, RecordRef, ResolveAnswer,
    ResolveObjection,
};

use crate::client::{Node, read_token, segment};

/// Arguments of `rongxinctl objection`.
#[derive(Debug, Args)]
pub struct ObjectionArgs {
    #[command(subcommand)]
    command: ObjectionCommand,
}

#[derive(Debug, Subcommand)]
enum ObjectionCommand {
    /// File an objection at a node against a record (of any origin).
    File(FileArgs),
    /// List the objections a node knows (open ones by default).
    List(ListArgs),
    /// Show one objection.
    Show(ShowArgs),
    /// Resolve an objection, at the record's origin.
    Resolve(ResolveArgs),
}

/// Where a case command goes: the node and the token.
#[derive(Debug, Args)]
pub(crate) struct Conn {
    /// The node's HTTP API, such as https://127.0.0.1:8102.
    #[arg(long)]
    node: String,
    /// File holding the token (owner-only permissions).
    #[arg(long)]
    token_file: PathBuf,
}

#[derive(Debug, Args)]
struct FileArgs {
    #[command(flatten)]
    conn: Conn,
    /// The record, as `origin/seq` (a profile shows both), or its key
    /// `kind/jurisdiction/authority_code/record_no`.
    #[arg(long)]
    record: String,
    /// The ground.
    #[arg(long, value_enum)]
    ground: Ground,
    /// What is wrong with the record, and why.
    #[arg(long)]
    statement: String,
    /// Your own id for the objection, so that filing again is safe.
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
    /// Only objections in this state (open, received, upheld, rejected,
    /// refused, all).
    #[arg(long, default_value = "open")]
    state: String,
    /// Only open objections past their due date.
    #[arg(long)]
    overdue: bool,
    /// Only objections about records of this origin.
    #[arg(long)]
    origin: Option<String>,
    /// Only objections about records of this authority (credit code).
    #[arg(long)]
    authority: Option<String>,
    /// Print the JSON answer.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ShowArgs {
    #[command(flatten)]
    conn: Conn,
    /// The objection id.
    id: String,
}

#[derive(Debug, Args)]
struct ResolveArgs {
    #[command(flatten)]
    conn: Conn,
    /// The objection id.
    id: String,
    /// The decision.
    #[arg(long, value_enum)]
    outcome: Outcome,
    /// Why; for an upheld objection, what was corrected.
    #[arg(long)]
    explanation: String,
    /// Upheld: a JSON file holding the record's corrected version.
    #[arg(long, conflicts_with = "revoke")]
    correction: Option<PathBuf>,
    /// Upheld: revoke the record instead (reason objection_upheld).
    #[arg(long)]
    revoke: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Ground {
    Wrong,
    Incomplete,
    Duplicate,
    ShouldNotBePublic,
    PastPublicityPeriod,
    DiffersFromDecision,
    ExposesSecret,
    Other,
}

impl From<Ground> for ObjectionGround {
    fn from(g: Ground) -> ObjectionGround {
        match g {
            Ground::Wrong => ObjectionGround::Wrong,
            Ground::Incomplete => ObjectionGround::Incomplete,
            Ground::Duplicate => ObjectionGround::Duplicate,
            Ground::ShouldNotBePublic => ObjectionGround::ShouldNotBePublic,
            Ground::PastPublicityPeriod => ObjectionGround::PastPublicityPeriod,
            Ground::DiffersFromDecision => ObjectionGround::DiffersFromDecision,
            Ground::ExposesSecret => ObjectionGround::ExposesSecret,
            Ground::Other => ObjectionGround::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Outcome {
    Upheld,
    Rejected,
}

/// The client and token of `conn`.
pub(crate) fn connect(conn: &Conn) -> Result<(Node, String)> {
    let node = Node::new(&conn.node, Duration::from_secs(30))?;
    let token = read_token(&conn.token_file)?;
    Ok((node, token))
}

/// Runs `rongxinctl objection`.
pub fn run(args: ObjectionArgs) -> Result<ExitCode> {
    match args.command {
        ObjectionCommand::File(a) => file(a),
        ObjectionCommand::List(a) => list(a),
        ObjectionCommand::Show(a) => show(a),
        ObjectionCommand::Resolve(a) => resolve(a),
    }
}

fn file(a: FileArgs) -> Result<ExitCode> {
    let req = FileObjection {
        record: record_ref(&a.record)?,
        ground: a.ground.into(),
        statement: a.statement,
        id: a.id,
        attachments: a.attachments,
    };
    let (node, token) = connect(&a.conn)?;
    let answer: CaseReceipt = node
        .post(
            "/v1/objections",
            "application/json",
            &serde_json::to_vec(&req)?,
            &token,
        )?
        .json()?;
    println!(
        "objection {} received: receipt {}, state {}, decided by {}, due {}",
        answer.id,
        answer.receipt,
        answer.state.as_str(),
        answer.origin,
        answer.due
    );
    Ok(ExitCode::SUCCESS)
}

/// `origin/seq`, or a record key `kind/jurisdiction/authority_code/record_no`,
/// as a record reference.
pub(crate) fn record_ref(text: &str) -> Result<RecordRef> {
    let parts: Vec<&str> = text.split('/').collect();
    match parts[..] {
        [origin, seq] => {
            let seq = seq
                .parse::<u64>()
                .with_context(|| format!("--record {text}: write origin/seq, such as gulou/42"))?;
            Ok(RecordRef::At {
                origin: origin.to_owned(),
                seq,
            })
        }
        [kind, jurisdiction, authority_code, record_no] => Ok(RecordRef::Key {
            key: rongxin_protocol::record::RecordKey {
                kind: kind.to_owned(),
                jurisdiction: jurisdiction.to_owned(),
                authority_code: authority_code.to_owned(),
                record_no: record_no.to_owned(),
            },
        }),
        _ => anyhow::bail!(
            "--record {text}: write origin/seq, such as gulou/42, or the record key kind/jurisdiction/authority_code/record_no"
        ),
    }
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
    if let Some(au) = &a.authority {
        query.push(("authority", au));
    }
    let answer = node.get("/v1/objections", &query, Some(&token))?;
    if a.json {
        println!("{}", answer.body);
        return Ok(ExitCode::SUCCESS);
    }
    let list: ObjectionList = answer.json()?;
    println!(
        "{:<28} {:<9} {:<10} {:<10} {:<11} {:<11}  record",
        "id", "state", "origin", "filed at", "received", "due"
    );
    for o in &list.objections {
        println!(
            "{:<28} {:<9} {:<10} {:<10} {:<11} {:<11}  {}{}",
            o.id,
            o.state.as_str(),
            o.origin,
            o.received_by,
            o.received_on.to_string(),
            o.due.to_string(),
            o.key,
            if o.overdue { "  OVERDUE" } else { "" }
        );
    }
    println!("{} objection(s)", list.objections.len());
    Ok(ExitCode::SUCCESS)
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let (node, token) = connect(&a.conn)?;
    let view: ObjectionView = node
        .get(
            &format!("/v1/objections/{}", segment(&a.id)),
            &[],
            Some(&token),
        )?
        .json()?;
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(ExitCode::SUCCESS)
}

fn resolve(a: ResolveArgs) -> Result<ExitCode> {
    let correction = match &a.correction {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the correction {}", p.display()))?;
            Some(serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not one JSON record (the form POST /v1/records takes)",
                    p.display()
                )
            })?)
        }
        None => None,
    };
    if matches!(a.outcome, Outcome::Rejected) && (correction.is_some() || a.revoke) {
        bail!("a rejected objection leaves the record as it is: drop --correction and --revoke");
    }
    let req = ResolveObjection {
        outcome: match a.outcome {
            Outcome::Upheld => ObjectionOutcome::Upheld,
            Outcome::Rejected => ObjectionOutcome::Rejected,
        },
        explanation: a.explanation,
        correction,
        revoke: a.revoke,
    };
    let (node, token) = connect(&a.conn)?;
    let answer: ResolveAnswer = node
        .post(
            &format!("/v1/objections/{}/resolve", segment(&a.id)),
            "application/json",
            &serde_json::to_vec(&req)?,
            &token,
        )?
        .json()?;
    match answer.correction_seq {
        Some(c) => println!(
            "objection {} {} at seq {} (correction at seq {c})",
            answer.id,
            answer.state.as_str(),
            answer.seq
        ),
        None => println!(
            "objection {} {} at seq {}",
            answer.id,
            answer.state.as_str(),
            answer.seq
        ),
    }
    Ok(ExitCode::SUCCESS)
}
