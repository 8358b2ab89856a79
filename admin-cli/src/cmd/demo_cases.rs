//! The demo's credit lifecycle: one objection and one credit-repair
//! application filed at one district's window about another district's
//! records, followed on every node until the origin has registered them
//! (docs/operations.md §12).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::objection::CaseReceipt;
use serde_json::{Value, json};

use super::sample::Sampler;
use crate::client::Node;

/// A running demo node as the lifecycle step needs it.
#[derive(Debug, Clone)]
pub struct DemoNode {
    /// Member id.
    pub member: String,
    /// Its API URL.
    pub url: String,
    /// Its department token (the file and the token).
    pub token_file: String,
    /// The token itself.
    pub token: String,
}

/// What was filed: the ids, for the commands printed afterwards.
#[derive(Debug)]
pub struct Filed {
    /// The objection's id.
    pub objection: String,
    /// The repair application's id.
    pub repair: String,
}

/// Submits two penalties at `origin` (one decided 30 days ago, one 200
/// days ago: past the 3-month minimum of 一般 penalties, so repairable),
/// files an objection to the first and a repair application for the
/// second at `window`, and prints each node's view until every node of
/// `watch` shows both registered by the origin.
pub fn file(
    origin: &DemoNode,
    window: &DemoNode,
    watch: &[DemoNode],
    catalog: &Catalog,
    jurisdictions: &[String],
    client: &dyn Fn(&str) -> Result<Node>,
    stop: &AtomicBool,
) -> Result<Filed> {
    println!(
        "Filing an objection and a credit-repair application at {}'s window about {}'s records …",
        window.member, origin.member
    );
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC))
        .date();
    let mut penalties = Sampler::new(catalog, jurisdictions, 4242, 400)
        .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
        .filter(|v| v["kind"] == "CF");
    let mut dated = |days: i64, tag: &str| -> Result<Value> {
        let mut r = penalties
            .next()
            .context("the sample has no 一般 penalty (CF) record")?;
        r["decision_date"] = json!((today - time::Duration::days(days)).to_string());
        let no = r["record_no"].as_str().unwrap_or("demo").to_owned();
        r["record_no"] = json!(format!("{no}-{tag}"));
        Ok(r)
    };
    let records = [dated(30, "YY")?, dated(200, "XF")?];
    let body: String = records.iter().map(|v| format!("{v}\n")).collect();
    let answer: Value = client(&origin.url)?
        .post(
            "/v1/records",
            "application/x-ndjson",
            body.as_bytes(),
            &origin.token,
        )?
        .json()?;
    let seq = |i: usize| -> Result<u64> {
        answer["results"][i]["seq"].as_u64().with_context(|| {
            format!(
                "{} did not sign the demo's penalty: {answer}",
                origin.member
            )
        })
    };
    let (objected, repaired) = (seq(0)?, seq(1)?);

    let at_window = client(&window.url)?;
    // The window holds the records once they have replicated to it.
    wait(stop, "the penalties replicating to the window", || {
        let r = at_window.get(&format!("/v1/logs/{}/checkpoint", origin.member), &[], None);
        Ok(r.ok().is_some_and(|a| checkpoint_size(&a.body) > repaired))
    })?;
    let post = |path: &str, body: Value| -> Result<CaseReceipt> {
        Ok(at_window
            .post(
                path,
                "application/json",
                body.to_string().as_bytes(),
                &window.token,
            )?
            .json()?)
    };
    let objection = post(
        "/v1/objections",
        json!({"record": {"origin": origin.member, "seq": objected}, "ground": "differs_from_decision",
               "statement": "公示的罚款金额与处罚决定书不一致（演示）"}),
    )?;
    let repair = post(
        "/v1/repairs",
        json!({"record": {"origin": origin.member, "seq": repaired},
               "statement": "已全额缴纳罚款并完成整改（演示）",
               "commitment": "信用承诺书〔2026〕演示1号"}),
    )?;
    println!(
        "  objection {} and repair application {}: received at {}, due {} and {}",
        objection.id, repair.id, window.member, objection.due, repair.due
    );
    let state = |node: &DemoNode, path: &str| -> String {
        client(&node.url)
            .and_then(|c| Ok(c.get(path, &[], Some(&node.token))?.json::<Value>()?))
            .ok()
            .and_then(|v| v["state"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "-".to_owned())
    };
    let started = Instant::now();
    wait(stop, "every node to show both cases registered", || {
        let views: Vec<(String, String, String)> = watch
            .iter()
            .map(|n| {
                (
                    n.member.clone(),
                    state(n, &format!("/v1/objections/{}", objection.id)),
                    state(n, &format!("/v1/repairs/{}", repair.id)),
                )
            })
            .collect();
        let done = views.iter().all(|(_, o, r)| o == "open" && r == "open");
        if done {
            for (m, o, r) in &views {
                println!("  {m:<9} objection {o:<5} repair application {r}");
            }
            println!(
                "  registered by {} and seen on every node in {:.1} s",
                origin.member,
                started.elapsed().as_secs_f64()
            );
        }
        Ok(done)
    })?;
    Ok(Filed {
        objection: objection.id,
        repair: repair.id,
    })
}

/// The size a signed checkpoint note states (its second line).
fn checkpoint_size(note: &str) -> u64 {
    note.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// Polls `done` every 300 ms for at most 60 s.
fn wait(stop: &AtomicBool, what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let started = Instant::now();
    loop {
        if stop.load(Ordering::SeqCst) {
            bail!("stopped while waiting for {what}");
        }
        if done()? {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("gave up waiting for {what} after 60 s; see the node logs");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
