//! Publication timeliness (双公示 七日内): each first version of a
//! licensing or penalty record is measured in working days from its
//! decision to its signing, per authority and kind.

use std::process::Command;

use rongxin_protocol::api::EvaluationAnswer;
use rongxin_tests::bins;
use serde_json::json;

use crate::gulou;

/// The China (UTC+8) date `days` before today, as `YYYY-MM-DD`.
fn days_ago(days: i64) -> String {
    let now = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("UTC+8"));
    (now.date() - time::Duration::days(days)).to_string()
}

#[test]
fn records_are_counted_on_time_or_late_per_authority_and_kind() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let admin = fed.token("admin");
    // Today's decision is on time whatever the day; one 60 days old is
    // late (more than 7 working days); a new version is not a new
    // publication.
    let mut fresh = records.record("gulou", "XK");
    fresh["decision_date"] = json!(days_ago(0));
    let mut stale = records.record("gulou", "CF");
    stale["decision_date"] = json!(days_ago(60));
    c.submit_accepted(&token, &[fresh.clone(), stale.clone()]);
    let field = records.text_field("CF");
    let mut v2 = stale.clone();
    v2["fields"][&field] = json!("第二版");
    c.submit_accepted(&token, &[v2]);

    let t = c.get("/v1/admin/timeliness", Some(&admin)).ok_json();
    assert_eq!(t["deadline_working_days"], 7);
    let rows = t["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{t:#}");
    // Worst first: the late penalty.
    assert_eq!(rows[0]["kind"], "CF");
    assert_eq!(rows[0]["late"], 1);
    assert_eq!(rows[0]["on_time"], 0);
    assert_eq!(
        rows[0]["late_records"],
        json!([rongxin_tests::records::key_text(&stale)])
    );
    assert_eq!(rows[1]["kind"], "XK");
    assert_eq!(rows[1]["on_time"], 1);
    assert_eq!(rows[1]["late"], 0);
    assert_eq!(
        rows[0]["authority"],
        stale["authority"]["code"]
            .as_str()
            .unwrap()
            .to_ascii_uppercase()
    );

    // /metrics carries the same figures, labelled.
    let metrics = c.get("/metrics", Some(&admin)).body;
    let authority = stale["authority"]["code"]
        .as_str()
        .unwrap()
        .to_ascii_uppercase();
    let late = format!(
        "rongxin_publication_late{{origin=\"gulou\",authority=\"{authority}\",kind=\"CF\"}} 1"
    );
    assert!(metrics.contains(&late), "{late} in\n{metrics}");
    assert!(
        metrics.contains("rongxin_publication_on_time{origin=\"gulou\"")
            && metrics.contains("kind=\"XK\"} 1"),
        "{metrics}"
    );

    // Filters: by decision date and by authority.
    let recent = c
        .get(
            &format!("/v1/admin/timeliness?from={}", days_ago(10)),
            Some(&admin),
        )
        .ok_json();
    assert_eq!(recent["rows"].as_array().unwrap().len(), 1, "{recent:#}");
    let none = c
        .get("/v1/admin/timeliness?authority=NOSUCH", Some(&admin))
        .ok_json();
    assert_eq!(none["rows"], json!([]));
    c.get("/v1/admin/timeliness?from=yesterday", Some(&admin))
        .expect_error(400, "bad_request");
    c.get("/v1/admin/timeliness", None)
        .expect_error(401, "unauthorized");

    // rongxinctl prints the same, worst first.
    let out = Command::new(bins::ctl())
        .args(["timeliness", "--node", c.base(), "--token-file"])
        .arg(fed.dir().join("tokens/admin.token"))
        .output()
        .expect("run rongxinctl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("within 7 working days"), "{text}");
    assert!(
        lines[2].contains(" CF ") && lines[2].trim_end().ends_with("0.0%"),
        "{text}"
    );
    assert!(
        lines[3].contains(" XK ") && lines[3].trim_end().ends_with("100.0%"),
        "{text}"
    );

    // The period's evaluation (目标绩效考核) adds the kinds up per district
    // and per deciding authority, and bounds the period by decision date.
    let e: EvaluationAnswer = serde_json::from_str(
        &c.get("/v1/admin/evaluation", Some(&admin))
            .ok_json()
            .to_string(),
    )
    .expect("an EvaluationAnswer");
    assert_eq!(e.deadline_working_days, 7);
    assert_eq!(e.districts.len(), 1, "{e:#?}");
    let d = &e.districts[0];
    assert_eq!(
        (d.origin.as_str(), d.published, d.on_time, d.late),
        ("gulou", 2, 1, 1)
    );
    assert_eq!(d.on_time_rate(), Some(0.5));
    assert_eq!(e.departments.len(), 1, "one authority decided both: {e:#?}");
    assert_eq!(
        e.departments[0].authority.as_deref(),
        Some(authority.as_str())
    );
    let recent: EvaluationAnswer = serde_json::from_str(
        &c.get(
            &format!("/v1/admin/evaluation?from={}", days_ago(10)),
            Some(&admin),
        )
        .ok_json()
        .to_string(),
    )
    .expect("an EvaluationAnswer");
    assert_eq!(
        (recent.districts[0].on_time, recent.districts[0].late),
        (1, 0),
        "the penalty decided 60 days ago is outside the period"
    );
    c.get(
        &format!(
            "/v1/admin/evaluation?from={}&to={}",
            days_ago(0),
            days_ago(1)
        ),
        Some(&admin),
    )
    .expect_error(400, "bad_request");
    c.get("/v1/admin/evaluation", None)
        .expect_error(401, "unauthorized");

    // Submissions and refusals, per submitting department (its token):
    // the three requests above (3 records), then one good record and two
    // refused, each for its first problem's field.
    let mut bad_code = records.record("gulou", "XK");
    bad_code["subject"]["code"] = json!("91350102MA2Y0000X0");
    let mut no_number = records.record("gulou", "XK");
    no_number
        .as_object_mut()
        .expect("a record object")
        .remove("record_no");
    let mut good = records.record("gulou", "XK");
    good["decision_date"] = json!(days_ago(0));
    let answer = c.submit(&token, &[good, bad_code, no_number]);
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(1), Some(2)),
        "{answer:#}"
    );
    let mut fields: Vec<String> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "rejected")
        .map(|r| {
            r["errors"][0]["field"]
                .as_str()
                .expect("a field")
                .to_owned()
        })
        .collect();
    fields.sort();
    // A CSV file of two rows whose header cannot be mapped is refused
    // whole: its rows still count, under "(request)", with the error.
    c.post(
        "/v1/records?kind=XK",
        Some(&token),
        Some("text/csv"),
        "XK_WSH,XK_XDR_MC,经办人\n1,甲,乙\n2,丙,丁\n".as_bytes(),
    )
    .expect_error(400, "bad_request");
    fields.insert(0, rongxin_protocol::tally::REQUEST_REASON.to_owned());
    let tallied = rongxin_tests::wait_for(
        "the tally of the requests to be written",
        std::time::Duration::from_secs(20),
        || {
            let e: EvaluationAnswer = serde_json::from_str(
                &c.get("/v1/admin/evaluation", Some(&admin))
                    .ok_json()
                    .to_string(),
            )
            .expect("an EvaluationAnswer");
            (e.submissions.first().map(|s| s.submitted) == Some(8)).then_some(e)
        },
    );
    assert_eq!(
        tallied.submissions.len(),
        1,
        "one department submitted: {tallied:#?}"
    );
    let s = &tallied.submissions[0];
    assert_eq!(
        (s.origin.as_str(), s.accepted, s.duplicates, s.refused),
        ("gulou", 4, 0, 4),
        "{s:#?}"
    );
    assert_eq!(
        s.reasons
            .iter()
            .map(|r| (r.field.clone(), r.count))
            .collect::<Vec<_>>(),
        fields
            .iter()
            .map(|f| (f.clone(), if f.starts_with('(') { 2 } else { 1 }))
            .collect::<Vec<_>>(),
        "{s:#?}"
    );
    assert!(
        s.reasons[0].example.contains("header"),
        "the request's error is its example: {s:#?}"
    );
    assert!(s.reasons.iter().all(|r| !r.example.is_empty()), "{s:#?}");
    assert_eq!(
        (tallied.districts[0].submitted, tallied.districts[0].refused),
        (Some(8), Some(4))
    );
    // A period before today holds none of it.
    let before: EvaluationAnswer = serde_json::from_str(
        &c.get(
            &format!("/v1/admin/evaluation?to={}", days_ago(1)),
            Some(&admin),
        )
        .ok_json()
        .to_string(),
    )
    .expect("an EvaluationAnswer");
    assert!(before.submissions.is_empty(), "{before:#?}");

    // rongxinctl report evaluation: CSV for the spreadsheet, HTML to print.
    let report = |format: &str, out: &std::path::Path| {
        let o = Command::new(bins::ctl())
            .args(["report", "evaluation", "--node", c.base(), "--token-file"])
            .arg(fed.dir().join("tokens/admin.token"))
            .args(["--format", format, "--out"])
            .arg(out)
            .output()
            .expect("run rongxinctl report");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out).expect("the report")
    };
    let dir = tempfile::tempdir().expect("a directory");
    let csv = report("csv", &dir.path().join("evaluation.csv"));
    assert!(
        csv.lines()
            .any(|l| l.starts_with("区县,gulou,鼓楼区,,,") && l.contains(",8,4,3,2,1,66.7%,")),
        "{csv}"
    );
    assert!(
        csv.lines().any(|l| l.starts_with("报送部门,gulou,鼓楼区,,")
            && l.contains(",8,4,")
            && l.contains(&format!("{} 2（", fields[0]))),
        "{csv}"
    );
    let html = report("html", &dir.path().join("evaluation.html"));
    assert!(html.contains("<svg") && html.contains("鼓楼区") && html.contains("66.7%"));
    assert!(html.contains("各报送部门"), "{html}");
}
