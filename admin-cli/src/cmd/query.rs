//! `rongxinctl query`: a subject's credit profile (信用档案) from a node,
//! as a readable listing per kind or as the node's JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::client::{Node, read_token, segment};

/// Arguments of `rongxinctl query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The node's HTTP API, such as http://127.0.0.1:8102.
    #[arg(long)]
    node: String,
    /// The subject's unified social credit code or resident ID number.
    code: String,
    /// An agency token file: conditional (有条件公开) records, and
    /// restricted ones for government access, are shown only with it.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Why you query (recorded in the node's query log, 查询登记).
    #[arg(long)]
    purpose: Option<String>,
    /// Records per page (the node's default is 100, its maximum 1000).
    #[arg(long)]
    limit: Option<usize>,
    /// The page after this cursor (the `--cursor` a previous page printed).
    #[arg(long)]
    cursor: Option<String>,
    /// Print the node's JSON answer unchanged.
    #[arg(long)]
    json: bool,
}

/// Runs `rongxinctl query`.
pub fn run(args: QueryArgs) -> Result<ExitCode> {
    let node = Node::new(&args.node, Duration::from_secs(60))?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let limit = args.limit.map(|l| l.to_string());
    let query: Vec<(&str, &str)> = [
        ("purpose", args.purpose.as_deref()),
        ("limit", limit.as_deref()),
        ("cursor", args.cursor.as_deref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .collect();
    let path = format!("/v1/subjects/{}", segment(args.code.trim()));
    let answer = node.get(&path, &query, token.as_deref())?;
    if args.json {
        println!("{}", answer.body.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let profile: Value = answer.json()?;
    let names = kind_names(&node);
    print!("{}", render(&profile, &names));
    Ok(ExitCode::SUCCESS)
}

/// Kind code → name from the node's catalog, if it serves one we can read;
/// the profile is shown with codes only otherwise.
fn kind_names(node: &Node) -> Vec<(String, String)> {
    let Ok(answer) = node.get("/v1/catalog", &[], None) else {
        return Vec::new();
    };
    let Ok(catalog) = answer.json::<Value>() else {
        return Vec::new();
    };
    catalog["kinds"]
        .as_array()
        .map(|kinds| {
            kinds
                .iter()
                .filter_map(|k| {
                    Some((
                        k["code"].as_str()?.to_owned(),
                        k["name"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

/// The readable profile.
pub fn render(profile: &Value, names: &[(String, String)]) -> String {
    let mut out = String::new();
    let subject = text(&profile["subject"]);
    let records = profile["records"].as_object();
    let first = records
        .and_then(|m| m.values().find_map(|v| v.as_array()?.first()))
        .map(|r| &r["record"]["subject"]);
    match first {
        Some(s) => out.push_str(&format!(
            "{} ({subject}, {})\n",
            text(&s["name"]),
            text(&s["class"])
        )),
        None => out.push_str(&format!("{subject}\n")),
    }
    out.push_str(&format!(
        "access {} · as of {} · query {}\n",
        text(&profile["access"]),
        text(&profile["as_of"]),
        text(&profile["query_id"])
    ));
    let mut total = 0;
    for (kind, list) in records.into_iter().flatten() {
        let list = list.as_array().map(Vec::as_slice).unwrap_or_default();
        total += list.len();
        let name = names
            .iter()
            .find(|(code, _)| code == kind)
            .map(|(_, n)| format!(" {n}"))
            .unwrap_or_default();
        let plural = if list.len() == 1 { "" } else { "s" };
        out.push_str(&format!("\n{kind}{name} — {} record{plural}\n", list.len()));
        for r in list {
            let record = &r["record"];
            out.push_str(&format!(
                "  {}  {}\n    decided {} · {} · public until {} · {} #{} v{}\n",
                text(&record["record_no"]),
                text(&record["authority"]["name"]),
                text(&record["decision_date"]),
                text(&r["state"]),
                text(&r["publicity_until"]),
                text(&r["origin"]),
                text(&r["seq"]),
                text(&r["version"]),
            ));
        }
    }
    if total == 0 {
        out.push_str("\nno records shown\n");
    }
    let hidden = &profile["hidden"];
    if let Some(h) = hidden.as_object() {
        let parts: Vec<String> = h
            .iter()
            .filter(|(_, n)| n.as_u64().is_some_and(|n| n > 0))
            .map(|(why, n)| format!("{n} {}", why.replace('_', " ")))
            .collect();
        if !parts.is_empty() {
            out.push_str(&format!("\nnot shown: {}\n", parts.join(", ")));
        }
    }
    if let Some(next) = profile["next"].as_str() {
        out.push_str(&format!(
            "\n{} records on file in all; more on the next page: --cursor {next}\n",
            text(&profile["total"])
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_a_profile_per_kind() {
        let profile = json!({
            "subject": "91350100757384472D", "access": "public", "as_of": "2026-11-28",
            "query_id": "q-1", "records": {"CF": [{"origin": "gulou", "seq": 17, "version": 2,
            "state": "published", "publicity_until": "2027-03-01", "public": "public",
            "record": {"record_no": "榕鼓市监罚〔2026〕12号", "decision_date": "2026-03-01",
            "authority": {"name": "福州市鼓楼区市场监督管理局"},
            "subject": {"name": "福州某某贸易有限公司", "class": "legal_person"}}}]},
            "hidden": {"revoked": 1, "expired": 0, "not_authorised": 2},
            "total": 250, "next": "ab01"
        });
        let names = vec![("CF".to_owned(), "行政处罚（一般失信）".to_owned())];
        let text = render(&profile, &names);
        assert!(
            text.starts_with("福州某某贸易有限公司 (91350100757384472D, legal_person)\n"),
            "{text}"
        );
        assert!(
            text.contains("CF 行政处罚（一般失信） — 1 record\n"),
            "{text}"
        );
        assert!(
            text.contains("榕鼓市监罚〔2026〕12号  福州市鼓楼区市场监督管理局"),
            "{text}"
        );
        assert!(
            text.contains(
                "decided 2026-03-01 · published · public until 2027-03-01 · gulou #17 v2"
            ),
            "{text}"
        );
        assert!(
            text.contains("not shown: 2 not authorised, 1 revoked"),
            "{text}"
        );
        assert!(
            text.contains("250 records on file in all; more on the next page: --cursor ab01"),
            "{text}"
        );
    }
}
