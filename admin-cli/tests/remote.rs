//! `rongxinctl` commands that talk to a node (submit, query, status,
//! bundle), driven against a small stand-in node in this test: a
//! `TcpListener` that answers canned or computed responses and records what
//! it was sent. They check the tool's side of docs/api.md — batching,
//! headers, the summary and rejected-records file, exit codes, and how
//! errors and unreachable nodes are reported — not the node itself.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{Value, json};

/// One request as the stand-in node saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Seen) -> (u16, String) + Send + Sync;

/// A stand-in node on 127.0.0.1; every connection gets one answer.
struct FakeNode {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeNode {
    fn start(handler: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> FakeNode {
        let listener = TcpListener::bind("127.0.0.1:0").expect("test setup");
        let url = format!("http://{}", listener.local_addr().expect("test setup"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (handler, log) = (Arc::clone(&handler), Arc::clone(&log));
                thread::spawn(move || serve(stream, &*handler, &log));
            }
        });
        FakeNode { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("test setup").clone()
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("test setup"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).expect("test setup");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().expect("test setup"));
    let mut body = vec![0; len];
    reader.read_exact(&mut body).expect("test setup");
    let seen = Seen {
        method,
        path,
        headers,
        body: String::from_utf8(body).expect("test setup"),
    };
    let (status, body) = handler(&seen);
    log.lock().expect("test setup").push(seen);
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rongxinctl"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("run rongxinctl")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn token_file(dir: &Path) -> PathBuf {
    let p = dir.join("token");
    std::fs::write(&p, "  dept-token-1\n").expect("test setup");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("test setup");
    p
}

fn record(no: &str, code: &str) -> String {
    json!({"kind": "CF", "jurisdiction": "350102", "record_no": no,
        "subject": {"class": "legal_person", "code": code, "name": "福州某某贸易有限公司"},
        "authority": {"name": "福州市鼓楼区市场监督管理局", "code": "11350102MB01234562"},
        "decision_date": "2026-03-01", "fields": {}})
    .to_string()
}

/// Answers an ingest like a node would: a code ending in E is rejected, a
/// record number containing "dup" is a duplicate, the rest are accepted.
/// A `text/csv` body is answered per row under its header, with `line`
/// counted in the body and the warnings of a date written `2026/3/1`
/// first, as the node gives them.
fn ingest(seen: &Seen) -> (u16, String) {
    if seen.header("content-type") == Some("text/csv") {
        return ingest_csv(seen);
    }
    let mut results = Vec::new();
    for (index, line) in seen
        .body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
    {
        let r: Value = serde_json::from_str(line).expect("test setup");
        let code = r["subject"]["code"].as_str().unwrap_or_default();
        let no = r["record_no"].as_str().unwrap_or_default();
        results.push(if code.ends_with('E') {
            json!({"index": index, "status": "rejected", "errors": [{"field": "subject.code",
                "problem": format!("check character is 'E', expected 'D' ({code})")}]})
        } else if no.contains("dup") {
            json!({"index": index, "status": "duplicate", "seq": 1, "key": "k"})
        } else {
            json!({"index": index, "status": "accepted", "seq": 2, "key": "k", "warnings": []})
        });
    }
    (200, json!({"results": results}).to_string())
}

fn ingest_csv(seen: &Seen) -> (u16, String) {
    let mut results = Vec::new();
    let mut reader = csv::Reader::from_reader(seen.body.as_bytes());
    for (index, record) in reader.records().enumerate() {
        let record = record.expect("test setup");
        let line = record.position().map(csv::Position::line);
        let row = format!(",{},", record.iter().collect::<Vec<_>>().join(","));
        let mut warnings = Vec::new();
        if row.contains(",2026/3/1,") {
            warnings.push("decision date: '2026/3/1' read as 2026-03-01".to_owned());
        }
        results.push(if row.contains("91350100757384472E") {
            json!({"index": index, "line": line, "status": "rejected", "warnings": warnings,
                "errors": [{"field": "subject.code", "column": "XDR_SHXYM",
                "problem": "check character is 'E', expected 'D' (91350100757384472E)"}]})
        } else if row.contains("dup") {
            json!({"index": index, "line": line, "status": "duplicate", "seq": 1, "key": "k"})
        } else {
            if row.contains("warn") {
                warnings.push(
                    "subject.code: the organisation code's check character is wrong".to_owned(),
                );
            }
            json!({"index": index, "line": line, "status": "accepted", "seq": 2, "key": "k",
                "warnings": warnings})
        });
    }
    (
        200,
        json!({"results": results, "encoding": "UTF-8"}).to_string(),
    )
}

#[test]
fn submit_sends_batches_and_reports_rejections() {
    let node = FakeNode::start(ingest);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.jsonl");
    let lines = [
        record("榕鼓市监罚〔2026〕1号", "91350100757384472D"),
        String::new(),
        "{not json".to_owned(),
        record("榕鼓市监罚〔2026〕2号", "91350100757384472E"),
        record("榕鼓市监罚〔2026〕dup号", "91350100757384472D"),
        record("榕鼓市监罚〔2026〕4号", "91350100757384472E"),
        record("榕鼓市监罚〔2026〕5号", "91350100757384472D"),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let token = token_file(dir.path());
    let o = ctl(&[
        "submit",
        "--node",
        &node.url,
        "--token-file",
        token.to_str().unwrap(),
        file.to_str().unwrap(),
        "--batch",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    let summary = out(&o);
    assert!(
        summary.contains("5 of 6 records from")
            && summary.contains("2 accepted, 1 duplicates, 3 rejected"),
        "{summary}"
    );
    assert!(
        summary.contains("(1 of them unreadable here, never sent)"),
        "{summary}"
    );
    assert!(
        summary.contains("        2  subject.code: check character is '…', expected '…' (…)"),
        "{summary}"
    );
    assert!(
        summary.contains("e.g. line 4: subject.code: check character is 'E'"),
        "{summary}"
    );
    assert!(
        summary.contains("        1  not valid JSON: key must be a string at line N column N"),
        "{summary}"
    );

    let seen = node.seen();
    assert_eq!(seen.len(), 3, "5 readable records in batches of 2");
    for s in &seen {
        assert_eq!(
            (s.method.as_str(), s.path.as_str()),
            ("POST", "/v1/records")
        );
        assert_eq!(s.header("authorization"), Some("Bearer dept-token-1"));
        assert_eq!(s.header("content-type"), Some("application/x-ndjson"));
    }
    assert_eq!(
        seen.iter().map(|s| s.body.lines().count()).sum::<usize>(),
        5
    );

    let rejected =
        std::fs::read_to_string(dir.path().join("records.jsonl.rejected.jsonl")).unwrap();
    let rejected: Vec<Value> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[0]["line"], 3);
    assert_eq!(rejected[0]["input"], "{not json");
    assert_eq!(rejected[1]["line"], 4);
    assert_eq!(rejected[1]["index"], 2);
    assert_eq!(rejected[1]["errors"][0]["field"], "subject.code");
    assert_eq!(rejected[1]["input"], lines[3]);
}

#[test]
fn submit_of_a_clean_csv_exits_zero() {
    let node = FakeNode::start(ingest);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("xk.csv");
    std::fs::write(
        &file,
        "XK_WSH,XK_JDRQ,XK_XKJG,XK_XKJGDM,XK_XDR_MC,XDR_LB,XDR_SHXYM,XK_XKLB,DFBM\n\
         榕鼓市监许〔2026〕1号,2026/3/1,福州市鼓楼区市场监督管理局,11350102MB01234562,某公司,法人及非法人组织,91350100757384472D,普通,350102\n",
    )
    .unwrap();
    let token = token_file(dir.path());
    let o = ctl(&[
        "submit",
        "--node",
        &node.url,
        "--token-file",
        token.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(
        out(&o).contains("1 accepted, 0 duplicates, 0 rejected"),
        "{}",
        out(&o)
    );
    // The value normalised on reading is a warning of its own, not an
    // accepted record's warning.
    assert!(out(&o).contains("warnings: 1 records had values of older exports"));
    assert!(!out(&o).contains("came with warnings"), "{}", out(&o));
    // A file of one kind goes as it is, for the node to map.
    let seen = node.seen();
    assert_eq!(seen[0].path, "/v1/records?kind=XK");
    assert_eq!(seen[0].header("content-type"), Some("text/csv"));
    assert_eq!(seen[0].body, std::fs::read_to_string(&file).unwrap());
    assert!(!dir.path().join("xk.csv.rejected.jsonl").exists());
}

/// A penalty file in GB18030 with a BOM-less Chinese header and `\r\n`
/// line ends, in batches of 2: each request is the header and two rows,
/// in UTF-8, with `--jurisdiction` as a query parameter; the node's
/// answers (lines counted in each request) are told by the file's lines,
/// and rows that cannot be mapped are refused here, unsent.
#[test]
fn submit_sends_a_csv_file_of_one_kind_as_rows_and_maps_answers_to_its_lines() {
    let node = FakeNode::start(ingest);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cf.csv");
    let header = "行政处罚决定书文号,处罚决定日期,处罚机关,处罚机关统一社会信用代码,行政相对人名称,行政相对人类别,统一社会信用代码,处罚类别";
    let row = |no: &str, date: &str, code: &str, types: &str| {
        format!(
            "{no},{date},福州市鼓楼区市场监督管理局,11350102MB01234562,\"某公司\r\n（分店）\",法人及非法人组织,{code},{types}"
        )
    };
    let rows = [
        row("罚〔2026〕1号", "2026/3/1", "91350100757384472D", "罚款"),
        row("罚〔2026〕2号", "2026-03-01", "91350100757384472E", "警告"),
        row(
            "罚〔2026〕3号",
            "2026-03-01",
            "91350100757384472D",
            "责令改正",
        ),
        row(
            "罚〔2026〕dup号",
            "2026-03-01",
            "91350100757384472D",
            "罚款",
        ),
        row(
            "罚〔2026〕warn号",
            "2026-03-01",
            "91350100757384472D",
            "罚款",
        ),
        row("罚〔2026〕6号", "2026/3/1", "91350100757384472E", "罚款"),
    ];
    let text = format!("{header}\r\n{}\r\n", rows.join("\r\n"));
    let (bytes, _, _) = encoding_rs::GB18030.encode(&text);
    std::fs::write(&file, &bytes).unwrap();
    let token = token_file(dir.path());
    let o = ctl(&[
        "submit",
        "--node",
        &node.url,
        "--token-file",
        token.to_str().unwrap(),
        "--jurisdiction",
        "350102",
        "--batch",
        "2",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    let summary = out(&o);
    assert!(
        summary.contains("5 of 6 records from")
            && summary.contains(
                "2 accepted, 1 duplicates, 3 rejected (1 of them unreadable here, never sent)"
            ),
        "{summary}"
    );
    assert!(
        summary.contains("1 accepted records came with warnings"),
        "{summary}"
    );
    assert!(
        summary.contains("warnings: 2 records had values of older exports"),
        "{summary}"
    );
    assert!(
        summary.contains("e.g. line 4: subject.code: check character is 'E'"),
        "{summary}"
    );
    assert!(err(&o).contains("as gb18030"), "{}", err(&o));

    let seen = node.seen();
    assert_eq!(seen.len(), 3, "5 mappable rows in batches of 2");
    for s in &seen {
        assert_eq!(s.path, "/v1/records?kind=CF&jurisdiction=350102");
        assert_eq!(s.header("content-type"), Some("text/csv"));
        assert!(s.body.starts_with(&format!("{header}\r\n")), "{}", s.body);
    }
    // Requests are answered in any order; the row that cannot be mapped
    // is in none of them.
    let bodies: Vec<&str> = seen.iter().map(|s| s.body.as_str()).collect();
    for sent in [
        format!("{header}\r\n{}\r\n{}\r\n", rows[0], rows[1]),
        format!("{header}\r\n{}\r\n{}\r\n", rows[3], rows[4]),
        format!("{header}\r\n{}\r\n", rows[5]),
    ] {
        assert!(
            bodies.contains(&sent.as_str()),
            "{sent:?} not in {bodies:?}"
        );
    }

    let rejected = std::fs::read_to_string(dir.path().join("cf.csv.rejected.jsonl")).unwrap();
    let mut rejected: Vec<Value> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The row refused here is written as it is read, maybe before an
    // earlier row's answer.
    rejected.sort_by_key(|r| r["line"].as_u64());
    assert_eq!(rejected.len(), 3);
    // Each row spans two lines of the file (a quoted line break).
    assert_eq!(
        (&rejected[0]["line"], &rejected[0]["index"]),
        (&json!(4), &json!(1))
    );
    assert_eq!(rejected[0]["errors"][0]["field"], "subject.code");
    assert_eq!(rejected[0]["record"]["record_no"], "罚〔2026〕2号");
    assert_eq!(rejected[0]["record"]["jurisdiction"], "350102");
    assert_eq!(rejected[0]["input"], rows[1]);
    assert_eq!(rejected[1]["line"], 6);
    assert!(
        rejected[1]["errors"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("CF_CFLB '责令改正'"),
        "{}",
        rejected[1]
    );
    assert_eq!(rejected[2]["line"], 12);
    assert_eq!(rejected[2]["record"]["decision_date"], "2026-03-01");
}

#[test]
fn submit_reads_standard_input() {
    let node = FakeNode::start(ingest);
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rongxinctl"))
        .args([
            "submit",
            "--node",
            &node.url,
            "--token-file",
            token.to_str().unwrap(),
            "-",
        ])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!(
        "{}\n{}\n",
        record("a", "91350100757384472D"),
        record("b", "91350100757384472E")
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    assert!(
        out(&o).contains("2 of 2 records from standard input sent to"),
        "{}",
        out(&o)
    );
    let rejected = std::fs::read_to_string(dir.path().join("stdin.rejected.jsonl")).unwrap();
    assert_eq!(rejected.lines().count(), 1);
}

#[test]
fn submit_stops_on_a_refused_batch_with_the_nodes_message() {
    let node = FakeNode::start(|_| {
        (401, json!({"error": {"code": "unauthorized", "message": "unknown token; ask the node operator for a department token"}}).to_string())
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    let lines: Vec<String> = (0..3)
        .map(|i| record(&format!("n{i}"), "91350100757384472D"))
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let token = token_file(dir.path());
    let o = ctl(&[
        "submit",
        "--node",
        &node.url,
        "--token-file",
        token.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}{}", out(&o), err(&o));
    let e = err(&o);
    assert!(
        e.contains(&format!(
            "{}/v1/records answered 401 (unauthorized): unknown token; ask the node operator",
            node.url
        )),
        "{e}"
    );
    assert!(e.contains("check --token-file"), "{e}");
    assert!(
        e.contains("the batch of 3 records at lines 1–3 was not taken"),
        "{e}"
    );
    assert!(e.contains("0 of 3 records"), "{e}");
}

#[test]
fn an_unreachable_node_is_named_with_a_hint() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let o = ctl(&["status", "--node", &url]);
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.contains(&format!(
            "cannot reach the node at {url}/v1/admin/status: connection refused"
        )),
        "{e}"
    );
    assert!(e.contains("http_listen"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    std::fs::write(&file, record("n", "91350100757384472D")).unwrap();
    let token = token_file(dir.path());
    let o = ctl(&[
        "submit",
        "--node",
        &format!("127.0.0.1:{port}"),
        "--token-file",
        token.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains(&format!("cannot reach the node at {url}/v1/records")),
        "{}",
        err(&o)
    );
}

#[test]
fn query_prints_a_profile_and_passes_purpose_and_token() {
    let profile = json!({"subject": "91350100757384472D", "access": "conditional", "as_of": "2026-11-28",
        "query_id": "q-1", "records": {"XK": [{"origin": "gulou", "seq": 3, "version": 1, "state": "disputed",
        "publicity_until": null, "public": "public", "record": {"record_no": "榕鼓市监许〔2026〕1-1号",
        "decision_date": "2026-03-01", "authority": {"name": "福州市鼓楼区市场监督管理局"},
        "subject": {"name": "福州某某贸易有限公司", "class": "legal_person"}}}]},
        "hidden": {"revoked": 0, "expired": 2, "not_authorised": 0}});
    let body = profile.to_string();
    let node = FakeNode::start(move |s| {
        if s.path.starts_with("/v1/catalog") {
            (
                200,
                json!({"version": "2026.1", "kinds": [{"code": "XK", "name": "行政许可"}]})
                    .to_string(),
            )
        } else if s.path.contains("BAD") {
            (400, json!({"error": {"code": "bad_request", "message": "'BAD' is not a credit code or ID number"}}).to_string())
        } else {
            (200, body.clone())
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let o = ctl(&[
        "query",
        "--node",
        &node.url,
        "91350100757384472D",
        "--token-file",
        token.to_str().unwrap(),
        "--purpose",
        "贷款审查 loan",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.starts_with("福州某某贸易有限公司 (91350100757384472D, legal_person)"),
        "{text}"
    );
    assert!(text.contains("XK 行政许可 — 1 record"), "{text}");
    assert!(
        text.contains("decided 2026-03-01 · disputed · public until — · gulou #3 v1"),
        "{text}"
    );
    assert!(text.contains("not shown: 2 expired"), "{text}");
    let q = node
        .seen()
        .into_iter()
        .find(|s| s.path.starts_with("/v1/subjects/"))
        .unwrap();
    assert_eq!(q.header("authorization"), Some("Bearer dept-token-1"));
    assert!(
        q.path
            .starts_with("/v1/subjects/91350100757384472D?purpose="),
        "{}",
        q.path
    );
    assert!(!q.path.contains(' '), "{}", q.path);

    let o = ctl(&["query", "--node", &node.url, "91350100757384472D", "--json"]);
    let raw: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(raw, profile);

    let o = ctl(&["query", "--node", &node.url, "BAD"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("/v1/subjects/BAD answered 400 (bad_request): 'BAD' is not a credit code"),
        "{}",
        err(&o)
    );
}

#[test]
fn status_and_bundle() {
    let bundle = json!({"format": "rongxin-bundle/1", "origin": "gulou", "leaf_index": 17, "entry": "AA==",
        "entry_signature": "AA==", "origin_public_key": "AA==", "inclusion_proof": [], "checkpoint": "c", "roster": "r"});
    let bundle_text = serde_json::to_string_pretty(&bundle).unwrap();
    let node = FakeNode::start(move |s| {
        match s.path.as_str() {
        "/v1/admin/status" => (200, json!({"member": "gulou", "role": "district", "name": "鼓楼区",
            "version": "0.1.0", "uptime_seconds": 42, "own_log": {"size": 18, "root": "r00t", "checkpoint": "…"},
            "origins": [{"origin": "city", "size": 4}], "store_bytes": 2048, "roster_version": 1,
            "catalog_version": "2026.1"}).to_string()),
        "/v1/records/gulou/17/bundle" => (200, bundle_text.clone()),
        "/v1/records/gulou/18/bundle" => (200, "{\"not\": \"a bundle\"}".to_owned()),
        _ => (404, json!({"error": {"code": "not_found", "message": "no entry 99 in gulou's log (size 18)"}}).to_string()),
    }
    });
    let o = ctl(&["status", "--node", &node.url]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("own log   18 entries, root r00t"),
        "{}",
        out(&o)
    );
    let o = ctl(&["status", "--node", &node.url, "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out(&o)).unwrap()["member"],
        "gulou"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.json");
    let o = ctl(&[
        "bundle",
        "--node",
        &node.url,
        "gulou",
        "17",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written, bundle);
    let o = ctl(&["bundle", "--node", &node.url, "gulou", "17"]);
    assert_eq!(serde_json::from_str::<Value>(&out(&o)).unwrap(), bundle);

    let o = ctl(&["bundle", "--node", &node.url, "gulou", "18"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not a rongxin bundle"), "{}", err(&o));
    let o = ctl(&["bundle", "--node", &node.url, "gulou", "99"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("answered 404 (not_found): no entry 99 in gulou's log"),
        "{}",
        err(&o)
    );
}
