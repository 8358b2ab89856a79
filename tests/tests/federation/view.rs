//! The federation view (docs/protocol.md §8.1): the city shows what every
//! node holds of every origin from the members' signed views, including a
//! district it does not reach through the district's own HTTP port, and a
//! node that stops reporting turns stale.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rongxin_protocol::api::{EvaluationAnswer, FederationAnswer, FederationNode};
use rongxin_protocol::note::NoteSigner;
use rongxin_protocol::suite::SecretKey;
use rongxin_protocol::view::NodeView;
use rongxin_protocol::wire::{Request, Response};
use rongxin_tests::bins::token_file;
use rongxin_tests::converge::own_sizes;
use rongxin_tests::fakepeer::{FakePeer, now_ms, peer_id};
use rongxin_tests::fednode::FedNode;
use rongxin_tests::generate::{GenFed, ctl};
use rongxin_tests::wait_for;

use crate::DEADLINE;

const MEMBERS: [&str; 3] = ["city", "gulou", "taijiang"];

fn federation_of(node: &FedNode, fed: &GenFed) -> Option<FederationAnswer> {
    let r = node
        .client()
        .try_get("/v1/admin/federation", Some(fed.admin_token()))
        .ok()?;
    (r.status == 200).then(|| serde_json::from_str(&r.body).expect("a FederationAnswer"))
}

fn row<'a>(a: &'a FederationAnswer, member: &str) -> &'a FederationNode {
    a.nodes
        .iter()
        .find(|n| n.member == member)
        .unwrap_or_else(|| panic!("no row for {member}: {a:#?}"))
}

/// Whether `member`'s row is fresh and shows every origin of `sizes` held
/// in full, with no lag.
fn caught_up(a: &FederationAnswer, member: &str, sizes: &BTreeMap<String, u64>) -> bool {
    let n = row(a, member);
    !n.stale
        && sizes.iter().all(|(origin, &size)| {
            let o = n.origins.iter().find(|o| &o.origin == origin);
            match o {
                Some(o) => {
                    o.held == size && o.lag == 0 && o.lag_seconds == Some(0) && o.checkpoint == size
                }
                None => size == 0,
            }
        })
}

#[test]
fn the_city_sees_every_node_and_a_stopped_one_turns_stale() {
    let fed = GenFed::builder(&MEMBERS).build();
    let mut nodes = fed.start_all(&MEMBERS);
    let records = fed.records();
    nodes[1].submit(fed.token("gulou"), &records.batch("gulou", 30));
    nodes[2].submit(fed.token("taijiang"), &records.batch("taijiang", 5));
    let refs: Vec<_> = nodes.iter().collect();
    let sizes = own_sizes(&refs);
    assert_eq!(sizes["gulou"], 30, "{sizes:?}");

    // The city shows every node holding every origin in full.
    let city = &nodes[0];
    let seen = wait_for(
        "the city's view to show every node caught up",
        DEADLINE,
        || federation_of(city, &fed).filter(|a| MEMBERS.iter().all(|m| caught_up(a, m, &sizes))),
    );
    assert_eq!(seen.member, "city");
    assert_eq!(
        seen.nodes
            .iter()
            .map(|n| n.member.as_str())
            .collect::<Vec<_>>(),
        fed.roster()
            .members
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
        "one row per roster member, in roster order"
    );
    for n in &seen.nodes {
        if !MEMBERS.contains(&n.member.as_str()) {
            // A roster member that never ran: never heard, stale.
            assert!(n.heard_ms.is_none() && n.stale, "{n:#?}");
        }
    }
    assert_eq!(
        row(&seen, "gulou")
            .peers
            .iter()
            .map(|p| p.member.as_str())
            .collect::<Vec<_>>(),
        ["city"],
        "gulou reports its one peer"
    );

    // gulou does not peer with taijiang, yet sees it: the city relays views.
    let gulou = &nodes[1];
    wait_for("gulou's view to show taijiang, relayed", DEADLINE, || {
        federation_of(gulou, &fed).filter(|a| caught_up(a, "taijiang", &sizes))
    });

    // rongxinctl federation prints the same matrix.
    let tokens = token_file(fed.admin_token());
    let base = city.client().base().to_owned();
    let args = |json: bool| {
        let mut a = vec![
            "federation",
            "--node",
            base.as_str(),
            "--token-file",
            tokens.to_str().expect("UTF-8 path"),
        ];
        if json {
            a.push("--json");
        }
        ctl(&a)
    };
    let out = args(false);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let cells = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    // Three blocks (city, gulou, taijiang) each hold gulou's 30 entries,
    // no lag, none behind, nothing forwarded (no node here forwards to a
    // province).
    assert_eq!(
        table
            .lines()
            .filter(|l| {
                cells(l).ends_with(&["gulou", "30", "0", "0s", "30", "-"].map(String::from))
            })
            .count(),
        3,
        "{table}"
    );
    for m in MEMBERS {
        assert!(table.lines().any(|l| l.starts_with(m)), "{table}");
    }
    assert!(!table.contains("STALE: last heard"), "{table}");
    let json = args(true);
    assert!(json.status.success(), "{json:?}");
    let parsed: FederationAnswer = serde_json::from_slice(&json.stdout).expect("--json parses");
    assert_eq!(parsed.nodes.len(), seen.nodes.len());

    // What gulou's departments submitted and had refused is counted at
    // gulou, and reaches the city's evaluation (the city asks its peers).
    let mut refused = records.record("gulou", "XK");
    refused["subject"]["code"] = serde_json::json!("not a code");
    let answer = nodes[1].client().submit(fed.token("gulou"), &[refused]);
    assert_eq!(answer["rejected"], 1, "{answer:#}");
    let field = answer["results"][0]["errors"][0]["field"]
        .as_str()
        .expect("the refused field")
        .to_owned();
    let evaluation = wait_for(
        "the city's evaluation to hold gulou's submissions",
        DEADLINE,
        || {
            let r = city
                .client()
                .try_get("/v1/admin/evaluation", Some(fed.admin_token()))
                .ok()?;
            let e: EvaluationAnswer = serde_json::from_str(&r.body).ok()?;
            // Each peer is asked every 10 s: wait for both.
            let has = |origin: &str, submitted: u64| {
                e.submissions
                    .iter()
                    .any(|s| s.origin == origin && s.submitted == submitted)
            };
            (has("gulou", 31) && has("taijiang", 5)).then_some(e)
        },
    );
    let s = evaluation
        .submissions
        .iter()
        .find(|s| s.origin == "gulou")
        .expect("gulou's row");
    assert_eq!((s.submitted, s.accepted, s.refused), (31, 30, 1), "{s:#?}");
    assert_eq!(
        s.reasons
            .iter()
            .map(|r| (r.field.as_str(), r.count))
            .collect::<Vec<_>>(),
        [(field.as_str(), 1)]
    );
    let t = evaluation
        .submissions
        .iter()
        .find(|s| s.origin == "taijiang")
        .expect("taijiang's row");
    assert_eq!((t.accepted, t.refused), (5, 0), "{t:#?}");

    // taijiang stops, and gulou signs 5 more: the city shows taijiang
    // stale once its last view is older than the limit, 5 entries of gulou
    // behind for as long as the oldest of them was signed, while gulou and
    // the city stay fresh.
    nodes[2].kill();
    let killed = Instant::now();
    let signed_from = now_ms();
    nodes[1].submit(fed.token("gulou"), &records.batch("gulou", 5));
    let signed_until = now_ms();
    let limit = Duration::from_millis(seen.stale_after_ms);
    let stale = wait_for("the city to show taijiang stale", limit + DEADLINE, || {
        federation_of(&nodes[0], &fed).filter(|a| {
            row(a, "taijiang").stale
                && row(a, "city")
                    .origins
                    .iter()
                    .any(|o| o.origin == "gulou" && o.held == 35)
        })
    });
    // Not before: its last view was at most a few sync rounds old when it
    // stopped (it peers with the city directly).
    assert!(
        killed.elapsed() >= limit / 2,
        "taijiang turned stale {:?} after it stopped, before the {limit:?} limit",
        killed.elapsed()
    );
    let t = row(&stale, "taijiang");
    let heard = t.heard_ms.expect("taijiang was heard before it stopped");
    assert!(stale.now_ms - heard > stale.stale_after_ms, "{t:#?}");
    let g = t
        .origins
        .iter()
        .find(|o| o.origin == "gulou")
        .unwrap_or_else(|| panic!("taijiang's row holds gulou: {t:#?}"));
    assert_eq!((g.held, g.lag), (30, 5), "{t:#?}");
    // Behind since gulou signed entry 30, on the city's clock (which
    // holds it): between the submission's start and its answer.
    let behind = g.lag_seconds.expect("the city holds gulou's entry 30");
    let ms = |t: i64| u64::try_from(t).expect("a clock after 1970");
    let (from, until) = (ms(signed_from), ms(signed_until));
    assert!(
        (stale.now_ms - until) / 1000 <= behind && behind <= (stale.now_ms - from) / 1000,
        "{behind}s behind at {}, but gulou signed entry 30 between {from} and {until}",
        stale.now_ms
    );
    for m in ["city", "gulou"] {
        assert!(!row(&stale, m).stale, "{m} is running: {stale:#?}");
    }
    let out = args(false);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("taijiang") && l.contains("STALE: last heard")),
        "{table}"
    );
}

/// A view by `member` at `time_ms` holding nothing, signed with `key`
/// under `member`'s key name.
fn view_note(federation: &str, member: &str, time_ms: u64, key: &SecretKey) -> String {
    let view = NodeView {
        member: member.into(),
        time_ms,
        version: "0.1.0".into(),
        health: rongxin_protocol::view::Health::Ok,
        origins: vec![],
        peers: vec![],
        halted: vec![],
        forward: vec![],
    };
    NoteSigner::new(&format!("{federation}/{member}"), key.clone())
        .and_then(|s| s.sign(&view.body()))
        .unwrap_or_else(|e| panic!("sign a view of {member}: {e}"))
}

#[test]
fn forged_views_from_a_peer_are_refused_and_good_ones_kept() {
    // mawei is a fake peer of the city that relays crafted views.
    let fed = GenFed::builder(&["city", "gulou"])
        .others(&["mawei", "lianjiang"])
        .peers("city", &["gulou", "mawei"])
        .build();
    let city_id = peer_id(&fed.keys("city").peer_id);
    let fake = FakePeer::start(&fed.keys("mawei").transport, &[city_id], &[]);
    fed.inbound("mawei").set_target(Some(fake.addr()));
    let federation = fed.roster().federation.clone();
    let mawei = fed.keys("mawei").signer.secret().clone();
    let gulou_key = fed.keys("gulou").signer.secret().clone();
    let fed_name = federation.clone();
    // Made fresh for each request, as a real node does.
    let reports = move || {
        let now = u64::try_from(now_ms()).expect("a clock after 1970");
        let forged = view_note(&fed_name, "lianjiang", now, &mawei);
        let unsigned = format!("{}\n", forged.split("\n\n").next().unwrap_or(""));
        vec![
            // mawei's own view, properly signed: kept.
            view_note(&fed_name, "mawei", now, &mawei),
            // A view of lianjiang signed with mawei's key: refused.
            forged,
            // lianjiang's view without a signature: refused.
            unsigned,
            // gulou's view, really signed by gulou, dated an hour ahead: refused.
            view_note(&fed_name, "gulou", now + 3_600_000, &gulou_key),
        ]
    };
    fake.set_script(move |req| match req {
        Request::Status => Response::Status {
            roster_version: 1,
            checkpoints: vec![],
        },
        Request::View => Response::View { reports: reports() },
        _ => Response::Error {
            message: "not served".into(),
        },
    });
    let nodes = fed.start_all(&["city", "gulou"]);
    let city = &nodes[0];

    let a = wait_for(
        "the city to keep mawei's view and hear gulou",
        DEADLINE,
        || federation_of(city, &fed).filter(|a| !row(a, "mawei").stale && !row(a, "gulou").stale),
    );
    // Kept: mawei's own view.
    assert!(row(&a, "mawei").heard_ms.is_some());
    // Refused: the forged and unsigned views of lianjiang, and gulou's
    // view from the future (gulou's row is its own, current view).
    let l = row(&a, "lianjiang");
    assert!(l.heard_ms.is_none() && l.stale, "{l:#?}");
    let g = row(&a, "gulou");
    let now = u64::try_from(now_ms()).expect("a clock after 1970");
    assert!(g.heard_ms.is_some_and(|t| t <= now), "{g:#?}");
    let log = city.log_text();
    assert!(
        log.lines()
            .filter(|l| l.contains("refused a node view"))
            .count()
            >= 3,
        "{log}"
    );
}
