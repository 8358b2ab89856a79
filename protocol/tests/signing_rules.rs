//! The ingest rules an origin applies before signing a record
//! ([`Record::check_for_signing`]): control characters, plausible dates,
//! amounts not negative; and that a record refused on reading always says
//! why, naming the field, even when the field is an empty string.

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use common::*;
use rongxin_protocol::record::{Record, RecordError, describe};
use rongxin_protocol::value::{Date, FieldValue};
use serde_json::json;

/// The day the rules are checked on.
fn today() -> Date {
    date("2026-12-01")
}

fn signing_errors(r: &Record) -> Vec<RecordError> {
    r.check_for_signing(&catalog(), today())
        .expect_err("the record must be refused for signing")
}

/// Asserts that `r` is refused for signing with exactly one error, on
/// `field`, whose message holds `words`; and that the catalog check (what
/// a replica applies) still takes it.
fn assert_refused(r: &Record, field: &str, words: &str) {
    let errs = signing_errors(r);
    assert_eq!(errs.len(), 1, "{}", describe(&errs));
    assert_eq!(errs[0].field, field, "{}", describe(&errs));
    assert!(errs[0].problem.contains(words), "{}", describe(&errs));
    assert!(
        r.check(&catalog()).is_ok(),
        "a replica must still accept what older rules signed"
    );
}

fn with_field(field: &str, v: FieldValue) -> Record {
    let mut r = cf_record("榕鼓市监罚〔2026〕12号");
    r.fields.insert(field.to_owned(), v);
    r
}

#[test]
fn a_valid_record_passes() {
    let r = cf_record("x");
    assert_eq!(r.check_for_signing(&catalog(), today()), Ok(()));
}

#[test]
fn free_text_allows_tabs_and_line_breaks_only() {
    let text = |s: &str| FieldValue::Text(s.to_owned());
    let ok = with_field(
        "CF_SY",
        text("一、未公示许可证；\r\n二、未建立台账。\t（见附件）"),
    );
    assert_eq!(ok.check_for_signing(&catalog(), today()), Ok(()));
    for (bad, code, at) in [
        ("经营\u{7}场所", "U+0007", 2),
        ("\u{0}", "U+0000", 0),
        ("场所\u{1b}[31m", "U+001B", 2),
        ("场所\u{7f}", "U+007F", 2),
        ("场所\u{85}", "U+0085", 2),
        ("场所\u{9b}", "U+009B", 2),
    ] {
        let r = with_field("CF_SY", text(bad));
        assert_refused(&r, "fields.CF_SY", code);
        assert_refused(&r, "fields.CF_SY", &format!("at character {at}"));
    }
}

#[test]
fn names_and_numbers_allow_no_control_character_at_all() {
    // These are catalog rules (a replica applies them too), naming the character.
    let mut r = cf_record("榕鼓市监罚〔2026〕\n12号");
    r.subject.name = "福州\t榕树".to_owned();
    r.authority.name = "鼓楼\u{85}局".to_owned();
    let errs = r.check(&catalog()).unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["record_no", "subject.name", "authority.name"],
        "{}",
        describe(&errs)
    );
    assert!(errs[0].problem.contains("U+000A"), "{}", describe(&errs));
    assert!(errs[1].problem.contains("U+0009"), "{}", describe(&errs));
    assert!(errs[2].problem.contains("U+0085"), "{}", describe(&errs));
}

#[test]
fn decision_dates_lie_between_1949_and_tomorrow() {
    for (d, words) in [
        ("0001-01-01", "before 1949-10-01"),
        ("1949-09-30", "before 1949-10-01"),
        ("9999-12-31", "in the future"),
        ("2026-12-03", "in the future"),
    ] {
        let mut r = cf_record("x");
        r.decision_date = date(d);
        assert_refused(&r, "decision_date", words);
    }
    for d in ["1949-10-01", "2026-12-01", "2026-12-02"] {
        let mut r = cf_record("x");
        r.decision_date = date(d);
        assert_eq!(r.check_for_signing(&catalog(), today()), Ok(()), "{d}");
    }
}

#[test]
fn field_dates_lie_between_1949_and_2099() {
    for d in ["0001-01-01", "1900-01-01", "2100-01-01", "9999-12-31"] {
        let r = with_field("CF_YXQ", FieldValue::Date(date(d)));
        assert_refused(&r, "fields.CF_YXQ", "outside 1949-10-01 to 2099-12-31");
    }
    for d in ["1949-10-01", "2099-12-31", "2030-06-30"] {
        let r = with_field("CF_YXQ", FieldValue::Date(date(d)));
        assert_eq!(r.check_for_signing(&catalog(), today()), Ok(()), "{d}");
    }
}

#[test]
fn amounts_and_counts_are_not_negative() {
    let r = with_field("CF_NR_FK", FieldValue::Decimal("-0.2".parse().unwrap()));
    assert_refused(&r, "fields.CF_NR_FK", "-0.2 is negative");
    let r = with_field("CF_NR_FK", FieldValue::Decimal("0".parse().unwrap()));
    assert_eq!(r.check_for_signing(&catalog(), today()), Ok(()));

    // An integer field: 住房公积金欠缴 GJJQJ's QJ_RS (涉及职工人数).
    let json = json!({
        "kind": "GJJQJ", "jurisdiction": "350102", "record_no": "鼓公积金〔2026〕1号",
        "subject": {"class": "legal_person", "code": SUBJECT_CODE, "name": SUBJECT_NAME},
        "authority": {"name": AUTHORITY_NAME, "code": AUTHORITY_CODE},
        "decision_date": "2026-03-01",
        "fields": {"QJ_JE": "-1.5", "QJ_QJ": "2025年1月至6月", "QJ_RS": -3, "QJ_YBJ": false}
    });
    let r = Record::from_json(&json, &catalog()).unwrap_or_else(|e| panic!("{}", describe(&e)));
    let errs = r.check_for_signing(&catalog(), today()).unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["fields.QJ_JE", "fields.QJ_RS"],
        "{}",
        describe(&errs)
    );
}

#[test]
fn every_problem_is_reported_together() {
    let mut r = with_field("CF_SY", FieldValue::Text("a\u{7}".to_owned()));
    r.decision_date = date("0001-01-01");
    r.fields.insert(
        "CF_NR_FK".to_owned(),
        FieldValue::Decimal("-1".parse().unwrap()),
    );
    let errs = signing_errors(&r);
    assert_eq!(errs.len(), 3, "{}", describe(&errs));
}

#[test]
fn empty_decision_date_and_class_are_named() {
    let cf = || serde_json::to_value(cf_record("x")).unwrap();
    let mut v = cf();
    v["decision_date"] = json!("");
    let errs = Record::from_json(&v, &catalog()).unwrap_err();
    assert_eq!(errs.len(), 1, "{}", describe(&errs));
    assert_eq!(errs[0].field, "decision_date");
    assert!(
        errs[0].problem.contains("YYYY-MM-DD"),
        "{}",
        describe(&errs)
    );

    let mut v = cf();
    v["subject"]["class"] = json!("");
    let errs = Record::from_json(&v, &catalog()).unwrap_err();
    assert_eq!(errs.len(), 1, "{}", describe(&errs));
    assert_eq!(errs[0].field, "subject.class");
    assert!(
        errs[0].problem.contains("legal_person"),
        "{}",
        describe(&errs)
    );

    // Missing or mistyped: one error each, not two.
    let mut v = cf();
    v.as_object_mut().unwrap().remove("decision_date");
    v["subject"]["class"] = json!(7);
    let errs = Record::from_json(&v, &catalog()).unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["decision_date", "subject.class"],
        "{}",
        describe(&errs)
    );
}

proptest::proptest! {
    /// Whatever is changed in a valid record's JSON, a refusal names at
    /// least one problem.
    #[test]
    fn a_refusal_is_never_silent(
        path in proptest::sample::select(vec![
            "kind", "jurisdiction", "record_no", "decision_date",
            "subject.class", "subject.code", "subject.name",
            "authority.name", "authority.code", "fields.CF_NR_FK", "fields.CF_YXQ",
        ]),
        to in proptest::prop_oneof![
            proptest::strategy::Just(json!("")),
            proptest::strategy::Just(json!(null)),
            proptest::strategy::Just(json!(" ")),
            proptest::strategy::Just(json!(0)),
            proptest::strategy::Just(json!([])),
            proptest::strategy::Strategy::prop_map("\\PC{0,8}", |s| json!(s)),
        ],
    ) {
        let mut v = serde_json::to_value(cf_record("x")).unwrap();
        let (a, b) = path.split_once('.').map_or((path, None), |(a, b)| (a, Some(b)));
        match b {
            Some(b) => v[a][b] = to,
            None => v[a] = to,
        }
        if let Err(errs) = Record::from_json(&v, &catalog()) {
            proptest::prop_assert!(!errs.is_empty());
            proptest::prop_assert!(errs.iter().all(|e| !e.problem.is_empty()));
        }
    }
}

#[test]
fn junk_keys_cost_a_few_errors_not_one_each() {
    use rongxin_protocol::record::MAX_UNKNOWN_KEYS_NAMED;
    let mut v = serde_json::to_value(cf_record("x")).unwrap();
    for i in 0..100_000 {
        v[format!("k{i}")] = json!(0);
        v["fields"][format!("F{i}")] = json!(0);
        v["subject"][format!("s{i}")] = json!(0);
    }
    let errs = Record::from_json(&v, &catalog()).unwrap_err();
    assert_eq!(
        errs.len(),
        3 * (MAX_UNKNOWN_KEYS_NAMED + 1),
        "{}",
        describe(&errs)
    );
    let summaries: Vec<(&str, &str)> = errs
        .iter()
        .filter(|e| e.problem.contains("more unknown keys"))
        .map(|e| (e.field.as_str(), e.problem.as_str()))
        .collect();
    let more = format!("{} more unknown keys", 100_000 - MAX_UNKNOWN_KEYS_NAMED);
    assert_eq!(summaries.len(), 3, "{}", describe(&errs));
    assert!(
        summaries.iter().all(|(_, p)| p.starts_with(&more)),
        "{summaries:?}"
    );
    assert_eq!(
        summaries.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        ["record", "subject", "fields"]
    );
}

/// A penalty whose types make it of another tier than its kind is refused,
/// naming the type and the kind to use; unknown types decide nothing.
#[test]
fn a_penalty_kind_must_match_its_types_tier() {
    let types = |kind: &str, t: &str| {
        let mut r = cf_record("榕鼓市监罚〔2026〕13号");
        r.kind = kind.to_owned();
        r.fields
            .insert("CF_CFLB".to_owned(), FieldValue::Text(t.to_owned()));
        r
    };
    let r = types("CF", "罚款；吊销许可证件");
    let errs = signing_errors(&r);
    assert_eq!(errs.len(), 1, "{}", describe(&errs));
    assert_eq!(errs[0].field, "fields.CF_CFLB");
    assert!(
        errs[0].problem.contains("吊销许可证件") && errs[0].problem.contains("CF_YZ"),
        "{}",
        describe(&errs)
    );
    // A replica still takes what was signed before the table existed.
    assert!(r.check(&catalog()).is_ok());
    for (kind, t) in [
        ("CF_YZ", "罚款；吊销许可证件"),
        ("CF", "罚款"),
        ("CF_QW", "警告"),
        ("CF_QW", "通报批评、警告"),
        ("CF", "处罚类别（测试）"),
        ("CF_YZ", "其他"),
    ] {
        assert_eq!(
            types(kind, t).check_for_signing(&catalog(), today()),
            Ok(()),
            "{kind} {t}"
        );
    }
    let errs = signing_errors(&types("CF_YZ", "警告"));
    assert!(errs[0].problem.contains("CF_QW"), "{}", describe(&errs));
    // A fine within the on-the-spot limit may be minor (simplified
    // procedure); above it, it is general.
    let fined = |amount: &str| {
        let mut r = types("CF_QW", "罚款");
        r.fields.insert(
            "CF_NR_FK".to_owned(),
            FieldValue::Decimal(amount.parse().unwrap()),
        );
        r
    };
    assert_eq!(fined("0.3").check_for_signing(&catalog(), today()), Ok(()));
    let errs = signing_errors(&fined("0.5"));
    assert!(errs[0].problem.contains("general"), "{}", describe(&errs));
}
