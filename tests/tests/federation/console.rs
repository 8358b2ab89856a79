//! The console page (docs/console.md) in headless Chromium against a
//! federation of real node processes: the city's page asks for a token,
//! then lists every member, fills the lag matrix, shows data the city
//! refused from a forging peer, and turns a killed district stale within
//! its refresh interval, all without reloading. A screenshot is saved
//! under the target directory for people to look at.

use std::time::{Duration, Instant};

use rongxin_protocol::api::ConsoleAnswer;
use rongxin_protocol::entry::SignedEntry;
use rongxin_protocol::record::Record;
use rongxin_tests::converge::own_sizes;
use rongxin_tests::fakepeer::{FakePeer, LogMaker, peer_id, serve};
use rongxin_tests::generate::GenFed;
use serde_json::{Value, json};

use crate::DEADLINE;
use crate::chromium::Browser;

const RUNNING: [&str; 3] = ["city", "gulou", "taijiang"];
/// The page's refresh interval (console.js REFRESH_MS).
const REFRESH: Duration = Duration::from_secs(5);

/// What the page shows, read from its DOM.
const STATE_JS: &str = r#"(() => {
  const rows = (sel) => [...document.querySelectorAll(sel)];
  if (!document.querySelector('#token-form')) return { loading: true };
  return {
    asks_token: !document.querySelector('#token-form').hidden,
    why: document.querySelector('#token-why').textContent,
    shown: !document.querySelector('#main').hidden,
    refreshes: Number(document.querySelector('#refreshed').dataset.refreshes),
    members: rows('#members tbody tr').map(r => ({
      member: r.dataset.member, stale: r.dataset.stale === 'true',
      name: r.children[1].textContent, state: r.children[3].textContent })),
    matrix: rows('#matrix tbody tr').map(r => ({
      member: r.dataset.member, stale: r.dataset.stale === 'true',
      cells: rows(`#matrix tbody tr[data-member="${r.dataset.member}"] td[data-held]`).map(c => ({
        origin: c.dataset.origin, held: Number(c.dataset.held), lag: Number(c.dataset.lag),
        seconds: c.dataset.lagSeconds, text: c.textContent })) })),
    refusals: rows('#refusals tbody tr').map(r => ({
      peer: r.dataset.peer, origin: r.dataset.origin, reason: r.querySelector('.why').textContent })),
    timeliness: rows('#timeliness tbody tr').length,
    submissions: rows('#submissions tbody tr').map(r => ({
      origin: r.dataset.origin, department: r.dataset.department,
      submitted: Number(r.children[2].textContent), refused: Number(r.children[5].textContent) })),
  };
})()"#;

fn state(b: &mut Browser) -> Value {
    b.eval(STATE_JS)
}

/// Where the screenshots go.
fn shot(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("console/{name}.png"))
}

/// Waits until the page's state passes `cond`; on time-out, saves a
/// screenshot and fails with the last state seen.
fn wait_page(b: &mut Browser, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let s = state(b);
        if cond(&s) {
            return s;
        }
        if Instant::now() > deadline {
            let path = shot("timed-out");
            b.screenshot(&path);
            panic!(
                "timed out after {DEADLINE:?} waiting for {what}; screenshot {}; the page showed {s:#}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn member<'a>(s: &'a Value, id: &str) -> Option<&'a Value> {
    s["members"]
        .as_array()?
        .iter()
        .find(|m| m["member"] == json!(id))
}

/// The matrix row of `node` shows `origin` held in full with no lag.
fn holds(s: &Value, node: &str, origin: &str, size: u64) -> bool {
    s["matrix"].as_array().is_some_and(|rows| {
        rows.iter().any(|r| {
            r["member"] == json!(node)
                && r["cells"].as_array().is_some_and(|c| {
                    c.iter().any(|c| {
                        c["origin"] == json!(origin) && c["held"] == json!(size) && c["lag"] == 0
                    })
                })
        })
    })
}

#[test]
fn the_console_page_shows_the_federation_refused_data_and_a_stale_node() {
    // mawei is in the roster but runs no node: a fake with its transport
    // key is a peer of the city and serves lianjiang entries it forged.
    let fed = GenFed::builder(&RUNNING)
        .others(&["mawei", "lianjiang"])
        .peers("city", &["gulou", "taijiang", "mawei"])
        .build();
    let city_id = peer_id(&fed.keys("city").peer_id);
    let fake = FakePeer::start(&fed.keys("mawei").transport, &[city_id], &[]);
    fed.inbound("mawei").set_target(Some(fake.addr()));
    let mut nodes = fed.start_all(&RUNNING);
    let records = fed.records();
    nodes[1].submit(fed.token("gulou"), &records.batch("gulou", 20));
    nodes[2].submit(fed.token("taijiang"), &records.batch("taijiang", 6));
    let refs: Vec<_> = nodes.iter().collect();
    let sizes = own_sizes(&refs);
    let base = nodes[0].client().base().to_owned();

    let mut b = Browser::launch(1400, 1000);
    b.navigate(&format!("{base}/"));

    // Without a token the page says what it needs, and shows no data.
    let s = wait_page(&mut b, "the page to ask for a token", |s| {
        s["asks_token"] == json!(true)
    });
    assert!(
        s["why"]
            .as_str()
            .is_some_and(|w| w.contains("admin") && w.contains("monitor")),
        "{s}"
    );
    assert_eq!(s["shown"], json!(false), "{s}");

    // A wrong token is refused by the node, and the page says so.
    let enter = |b: &mut Browser, token: &str| {
        b.eval(&format!(
            "document.querySelector('#token').value = {}; \
             document.querySelector('#token-form').requestSubmit(); true",
            json!(token)
        ));
    };
    enter(&mut b, "not-a-token");
    wait_page(&mut b, "the page to refuse a wrong token", |s| {
        s["asks_token"] == json!(true) && s["why"].as_str().is_some_and(|w| w.contains("无效"))
    });

    // With the admin token: every roster member listed by its display
    // name, the running ones fresh, the others never heard.
    enter(&mut b, fed.admin_token());
    let roster = fed.roster();
    let s = wait_page(
        &mut b,
        "the page to show every node holding every origin",
        |s| {
            s["shown"] == json!(true)
                && RUNNING.iter().all(|n| {
                    sizes
                        .iter()
                        .filter(|(_, size)| **size > 0)
                        .all(|(origin, &size)| holds(s, n, origin, size))
                })
        },
    );
    assert_eq!(
        s["members"].as_array().map(Vec::len),
        Some(roster.members.len()),
        "{s}"
    );
    for m in &roster.members {
        let row = member(&s, &m.id).unwrap_or_else(|| panic!("{} not listed: {s}", m.id));
        assert_eq!(row["name"], json!(m.name), "{row}");
        if RUNNING.contains(&m.id.as_str()) {
            assert_eq!(row["stale"], json!(false), "{row}");
            assert_eq!(row["state"], json!("正常"), "{row}");
        } else {
            assert_eq!(row["state"], json!("从未报告"), "{row}");
        }
    }

    // The city refuses lianjiang entries that mawei forged; the page shows
    // the refusal with its peer, origin and reason.
    let catalog = fed.catalog();
    let record =
        || Record::from_json(&records.record("lianjiang", "CF"), catalog).expect("a valid record");
    let lianjiang = LogMaker::new("rongxin.fuzhou", "lianjiang", &fed.keys("lianjiang").signer);
    let forger = LogMaker::new("rongxin.fuzhou", "lianjiang", &fed.keys("mawei").signer);
    let real = lianjiang.log((0..3).map(|_| record()).collect());
    let forged: Vec<SignedEntry> = real.iter().map(|e| forger.resign(e)).collect();
    fake.set_script(serve(
        1,
        vec![lianjiang.checkpoint(&real)],
        "lianjiang",
        move |from, limit| {
            forged
                .iter()
                .skip(from as usize)
                .take(limit as usize)
                .cloned()
                .collect()
        },
    ));
    let s = wait_page(&mut b, "the page to show the refused entries", |s| {
        s["refusals"].as_array().is_some_and(|r| {
            r.iter().any(|r| {
                r["peer"] == json!("mawei")
                    && r["origin"] == json!("lianjiang")
                    && r["reason"]
                        .as_str()
                        .is_some_and(|w| w.contains("does not verify"))
            })
        })
    });
    // The page read it from the console JSON, which the node answers from
    // memory: the same refusal is there.
    let console: ConsoleAnswer = serde_json::from_str(
        &nodes[0]
            .client()
            .get("/v1/admin/console", Some(fed.admin_token()))
            .body,
    )
    .expect("a ConsoleAnswer");
    assert!(
        console
            .refusals
            .iter()
            .any(|r| r.peer == "mawei" && r.origin == "lianjiang"),
        "{console:?}"
    );
    assert!(s["refreshes"].as_u64() > Some(1), "refreshed in place: {s}");

    // taijiang stops: the page turns it stale, without a reload, within the
    // staleness limit plus two refreshes.
    let before = state(&mut b)["refreshes"].as_u64().unwrap_or(0);
    let stale_after = Duration::from_millis(
        nodes[0]
            .client()
            .get("/v1/admin/federation", Some(fed.admin_token()))
            .ok_json()["stale_after_ms"]
            .as_u64()
            .expect("stale_after_ms"),
    );
    nodes[2].kill();
    let killed = Instant::now();
    // gulou signs 3 more that taijiang will not get.
    nodes[1].submit(fed.token("gulou"), &records.batch("gulou", 3));
    let s = wait_page(&mut b, "the page to show taijiang stale", |s| {
        member(s, "taijiang")
            .is_some_and(|m| m["stale"] == json!(true) && m["state"] == json!("失联"))
    });
    let took = killed.elapsed();
    assert!(
        took <= stale_after + 2 * REFRESH + Duration::from_secs(5),
        "stale shown after {took:?}, limit {stale_after:?} + two refreshes"
    );
    assert!(
        s["refreshes"].as_u64() > Some(before),
        "the same page refreshed itself: {s}"
    );
    for m in ["city", "gulou"] {
        assert_eq!(
            member(&s, m).map(|r| &r["stale"]),
            Some(&json!(false)),
            "{s}"
        );
    }
    assert!(
        s["timeliness"].as_u64() > Some(0),
        "the double-publicity records are counted: {s}"
    );
    // Today's submissions of gulou's department, counted at gulou and
    // asked by the city (every 10 s).
    let s = wait_page(&mut b, "gulou's submissions today", |s| {
        s["submissions"].as_array().is_some_and(|rows| {
            rows.iter()
                .any(|r| r["origin"] == json!("gulou") && r["submitted"].as_u64() > Some(3))
        })
    });
    assert!(
        s["submissions"]
            .as_array()
            .is_some_and(|rows| rows.iter().all(|r| r["refused"] == json!(0))),
        "nothing of theirs was refused: {s}"
    );
    // taijiang's row shows it 3 of gulou's entries behind, and for how
    // long (the city holds them, so it knows when they were signed).
    let s = wait_page(&mut b, "taijiang shown behind gulou", |s| {
        s["matrix"].as_array().is_some_and(|rows| {
            rows.iter().any(|r| {
                r["member"] == json!("taijiang")
                    && r["cells"].as_array().is_some_and(|cells| {
                        cells.iter().any(|c| {
                            c["origin"] == json!("gulou")
                                && c["lag"] == json!(3)
                                && c["seconds"].as_str().is_some_and(|x| !x.is_empty())
                        })
                    })
            })
        })
    });
    let cell = s["matrix"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["member"] == json!("taijiang")))
        .and_then(|r| r["cells"].as_array())
        .and_then(|cells| cells.iter().find(|c| c["origin"] == json!("gulou")))
        .cloned()
        .unwrap_or_default();
    assert!(
        cell["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("20（3，") && t.ends_with("秒）")),
        "{cell}"
    );

    let path = shot("console");
    b.screenshot(&path);
    println!("console screenshot: {}", path.display());
}
