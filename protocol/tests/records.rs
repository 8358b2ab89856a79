//! Credit records from their JSON ingest form: valid records of several kinds
//! are read and normalised, every kind of mistake is refused naming its
//! field, all problems of a record are reported together, and a record's own
//! JSON reads back to the same record.

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use common::*;
use rongxin_protocol::catalog::SubjectClass;
use rongxin_protocol::record::{Record, RecordError, describe, is_jurisdiction};
use rongxin_protocol::value::FieldValue;
use serde_json::{Value, json};

fn cf_json() -> Value {
    serde_json::to_value(cf_record("榕鼓市监罚〔2026〕12号")).unwrap()
}

/// 行政许可: a food business licence, codes sent in lower case.
fn xk_json() -> Value {
    json!({
        "kind": "XK",
        "jurisdiction": "350102",
        "record_no": "JY23501020012345",
        "subject": {"class": "legal_person", "code": "91350102ma2xk7t38x", "name": SUBJECT_NAME},
        "authority": {"name": AUTHORITY_NAME, "code": "11350102003580127h"},
        "decision_date": "2026-02-10",
        "fields": {
            "XK_XKWS": "食品经营许可决定书",
            "XK_XKLB": "普通",
            "XK_XKZS": "食品经营许可证",
            "XK_XKBH": "JY23501020012345",
            "XK_NR": "预包装食品销售，热食类食品制售",
            "XK_YXQZ": "2026-02-10",
            "XK_YXQZI": "2031-02-09",
            "XK_ZT": "1",
            "XK_LYDW": AUTHORITY_NAME,
            "XK_LYDWDM": AUTHORITY_CODE,
            "FRDB": "林某某"
        }
    })
}

/// 失信被执行人: a natural person listed by 鼓楼区人民法院.
fn sxbzxr_json() -> Value {
    json!({
        "kind": "SXBZXR",
        "jurisdiction": "350102",
        "record_no": "（2026）闽0102执123号",
        "subject": {"class": "natural_person", "code": "11010519491231002x", "name": "张某"},
        "authority": {"name": "福州市鼓楼区人民法院", "code": "113501000035811380"},
        "decision_date": "2026-01-20",
        "fields": {
            "SX_ZXYJWH": "（2025）闽0102民初456号",
            "SX_ZXYJDW": "福州市鼓楼区人民法院",
            "SX_YW": "支付货款人民币十二万元",
            "SX_LXQK": "全部未履行",
            "SX_QX": "有履行能力而拒不履行生效法律文书确定义务",
            "SX_LARQ": "2025-11-03"
        }
    })
}

/// 道德模范: natural persons only.
fn ddmf_json() -> Value {
    json!({
        "kind": "DDMF",
        "jurisdiction": "350102",
        "record_no": "鼓文明〔2026〕5号",
        "subject": {"class": "natural_person", "code": "350102200002290027", "name": "陈某"},
        "authority": {"name": "福州市鼓楼区精神文明建设委员会", "code": AUTHORITY_CODE},
        "decision_date": "2026-01-08",
        "fields": {"DM_CH": "鼓楼区道德模范", "DM_JB": "县级", "DM_LB": "见义勇为"}
    })
}

fn read(v: &Value) -> Result<Record, Vec<RecordError>> {
    Record::from_json(v, &catalog())
}

/// The errors of `v`, which must be refused.
fn errors(v: &Value) -> Vec<RecordError> {
    read(v).expect_err("the record must be refused")
}

/// Asserts that `v` is refused with exactly one error, on `field`, whose
/// message holds `words`.
fn assert_one_error(v: &Value, field: &str, words: &str) {
    let errs = errors(v);
    assert_eq!(errs.len(), 1, "{}", describe(&errs));
    assert_eq!(errs[0].field, field, "{}", describe(&errs));
    assert!(errs[0].problem.contains(words), "{}", describe(&errs));
}

fn set(mut v: Value, path: &[&str], to: Value) -> Value {
    let (last, parents) = path.split_last().unwrap();
    let mut at = &mut v;
    for p in parents {
        at = &mut at[*p];
    }
    at[*last] = to;
    v
}

fn remove(mut v: Value, path: &[&str]) -> Value {
    let (last, parents) = path.split_last().unwrap();
    let mut at = &mut v;
    for p in parents {
        at = &mut at[*p];
    }
    at.as_object_mut().unwrap().remove(*last);
    v
}

#[test]
fn a_valid_penalty_is_read_exactly() {
    assert_eq!(
        read(&cf_json()).unwrap(),
        cf_record("榕鼓市监罚〔2026〕12号")
    );
    let warnings = cf_record("x").check(&catalog()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn valid_records_of_other_kinds_are_read_with_codes_in_upper_case() {
    let xk = read(&xk_json()).unwrap();
    assert_eq!(xk.subject.code, SUBJECT_CODE);
    assert_eq!(xk.authority.code, AUTHORITY_CODE);
    assert_eq!(xk.fields["XK_XKLB"], FieldValue::Text("普通".into()));
    assert_eq!(xk.fields["XK_YXQZI"], FieldValue::Date(date("2031-02-09")));

    let sx = read(&sxbzxr_json()).unwrap();
    assert_eq!(sx.subject.class, SubjectClass::NaturalPerson);
    assert_eq!(sx.subject.code, PERSON_ID);

    let dm = read(&ddmf_json()).unwrap();
    assert_eq!(dm.kind, "DDMF");
    assert_eq!(dm.key().record_no, "鼓文明〔2026〕5号");
}

#[test]
fn surrounding_spaces_are_trimmed_when_reading() {
    let v = set(
        cf_json(),
        &["record_no"],
        json!("  榕鼓市监罚〔2026〕12号 "),
    );
    let v = set(v, &["jurisdiction"], json!(" 350102"));
    let v = set(v, &["subject", "code"], json!(" 91350102ma2xk7t38x "));
    let v = set(v, &["subject", "name"], json!(format!("{SUBJECT_NAME}  ")));
    assert_eq!(read(&v).unwrap(), cf_record("榕鼓市监罚〔2026〕12号"));
}

#[test]
fn a_record_serialised_to_json_reads_back_the_same() {
    for v in [cf_json(), xk_json(), sxbzxr_json(), ddmf_json()] {
        let record = read(&v).unwrap();
        let again = serde_json::to_value(&record).unwrap();
        assert_eq!(read(&again).unwrap(), record);
        // And through text, as an API client would send it.
        let text = serde_json::to_string(&record).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(read(&parsed).unwrap(), record);
    }
}

#[test]
fn a_legacy_pilot_code_is_accepted_and_a_secondary_check_failure_only_warns() {
    let legacy = set(cf_json(), &["subject", "code"], json!("91350100M0001TGQXM"));
    assert_eq!(read(&legacy).unwrap().subject.code, "91350100M0001TGQXM");
    let v = set(cf_json(), &["subject", "code"], json!("91350100MA1234567C"));
    let record = read(&v).unwrap();
    let warnings = record.check(&catalog()).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("subject.code: "), "{warnings:?}");
}

// ---------------------------------------------------------------------------
// Each mistake names its field.
// ---------------------------------------------------------------------------

#[test]
fn an_unknown_kind_is_named_once_with_the_known_kinds() {
    assert_one_error(
        &set(cf_json(), &["kind"], json!("CFX")),
        "kind",
        "'CFX' is not in catalog 2026.1",
    );
    assert_one_error(
        &set(cf_json(), &["kind"], json!("cf")),
        "kind",
        "known kinds: XK, CF_QW, CF",
    );
    assert_one_error(&remove(cf_json(), &["kind"]), "kind", "missing");
    assert_one_error(
        &set(cf_json(), &["kind"], json!(7)),
        "kind",
        "expected a string, got a number",
    );
}

#[test]
fn unknown_keys_are_named() {
    assert_one_error(
        &set(cf_json(), &["remarks"], json!("x")),
        "remarks",
        "unknown key",
    );
    assert_one_error(
        &set(cf_json(), &["subject", "phone"], json!("x")),
        "subject.phone",
        "unknown key",
    );
    assert_one_error(
        &set(cf_json(), &["authority", "id"], json!(1)),
        "authority.id",
        "unknown key",
    );
    assert_one_error(
        &set(cf_json(), &["fields", "CF_FOO"], json!("x")),
        "fields.CF_FOO",
        "no such field",
    );
}

#[test]
fn the_subject_class_must_exist_and_suit_the_kind() {
    assert_one_error(
        &set(
            ddmf_json(),
            &["subject"],
            json!({"class": "legal_person", "code": SUBJECT_CODE, "name": SUBJECT_NAME}),
        ),
        "subject.class",
        "DDMF",
    );
    assert_one_error(
        &set(cf_json(), &["subject", "class"], json!("company")),
        "subject.class",
        "legal_person, natural_person or individual_business",
    );
    // A natural person's code is a resident ID number, not a credit code.
    assert_one_error(
        &set(cf_json(), &["subject", "class"], json!("natural_person")),
        "subject.code",
        "resident ID number",
    );
}

#[test]
fn codes_with_bad_check_characters_are_named() {
    assert_one_error(
        &set(cf_json(), &["subject", "code"], json!("91350102MA2XK7T38Y")),
        "subject.code",
        "expected 'X'",
    );
    assert_one_error(
        &set(
            cf_json(),
            &["authority", "code"],
            json!("11350102003580127J"),
        ),
        "authority.code",
        "expected 'H'",
    );
    assert_one_error(
        &set(
            sxbzxr_json(),
            &["subject", "code"],
            json!("110105194912310020"),
        ),
        "subject.code",
        "GB 11643",
    );
    assert_one_error(
        &set(
            sxbzxr_json(),
            &["subject", "code"],
            json!("110105194902300011"),
        ),
        "subject.code",
        "birth date",
    );
    assert_one_error(
        &set(
            cf_json(),
            &["fields", "CF_SJLYDM"],
            json!("11350102003580127J"),
        ),
        "fields.CF_SJLYDM",
        "expected 'H'",
    );
}

#[test]
fn kind_fields_are_checked_by_name() {
    assert_one_error(
        &remove(cf_json(), &["fields", "CF_YXQ"]),
        "fields.CF_YXQ",
        "required but missing",
    );
    assert_one_error(
        &set(cf_json(), &["fields", "CF_NR_FK"], json!([0.5])),
        "fields.CF_NR_FK",
        "expected a decimal",
    );
    assert_one_error(
        &set(cf_json(), &["fields", "CF_NR_FK"], json!("0.1234567")),
        "fields.CF_NR_FK",
        "digits",
    );
    assert_one_error(
        &set(cf_json(), &["fields", "CF_NR"], json!(" ")),
        "fields.CF_NR",
        "empty",
    );
    assert_one_error(
        &set(cf_json(), &["fields", "CF_CFLB"], json!("罚".repeat(257))),
        "fields.CF_CFLB",
        "257 characters",
    );
    assert_one_error(
        &set(xk_json(), &["fields", "XK_XKLB"], json!("随便")),
        "fields.XK_XKLB",
        "not one of",
    );
    // Without any fields, every required one is named.
    let errs = errors(&remove(xk_json(), &["fields"]));
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "fields.XK_XKWS",
            "fields.XK_XKLB",
            "fields.XK_NR",
            "fields.XK_YXQZ",
            "fields.XK_YXQZI",
            "fields.XK_ZT",
            "fields.XK_LYDW",
            "fields.XK_LYDWDM"
        ]
    );
    assert!(
        errs.iter()
            .all(|e| e.problem.ends_with("required but missing"))
    );
}

/// Regression: a required field given with the wrong type or an impossible
/// value was also reported as "required but missing".
#[test]
fn a_required_field_of_the_wrong_type_is_reported_once() {
    for bad in [
        json!(20270301),
        json!("2027-02-30"),
        json!("2027/03/01"),
        json!(null),
    ] {
        let v = set(cf_json(), &["fields", "CF_YXQ"], bad.clone());
        let errs = errors(&v);
        assert_eq!(errs.len(), 1, "{bad}: {}", describe(&errs));
        assert_eq!(errs[0].field, "fields.CF_YXQ");
        assert!(!errs[0].problem.contains("missing"), "{}", errs[0]);
    }
}

#[test]
fn dates_must_be_real_days() {
    assert_one_error(
        &set(cf_json(), &["decision_date"], json!("2026-02-30")),
        "decision_date",
        "not a real calendar day",
    );
    assert_one_error(
        &set(cf_json(), &["decision_date"], json!("2026/03/01")),
        "decision_date",
        "YYYY-MM-DD",
    );
    assert_one_error(
        &set(cf_json(), &["decision_date"], json!(20260301)),
        "decision_date",
        "expected a string",
    );
}

#[test]
fn the_jurisdiction_must_be_a_division_code_or_zone_id() {
    for bad in ["35010", "3501021", "Gulou", "ftz_fuzhou", "", "鼓楼"] {
        assert_one_error(
            &set(cf_json(), &["jurisdiction"], json!(bad)),
            "jurisdiction",
            "neither",
        );
    }
    assert!(is_jurisdiction("350102") && is_jurisdiction("ftz-fuzhou") && is_jurisdiction("zz"));
    assert!(!is_jurisdiction("z") && !is_jurisdiction(&"z".repeat(33)) && !is_jurisdiction("1zz"));
}

#[test]
fn the_record_number_must_be_present_short_and_printable() {
    for (bad, words) in [
        (json!(""), "missing or empty"),
        (json!("   "), "missing or empty"),
        (json!("号".repeat(129)), "longer than 128"),
        (json!("榕鼓\t罚〔2026〕1号"), "control characters"),
        (json!("榕鼓\n罚"), "control characters"),
        (json!(12), "expected a string"),
    ] {
        assert_one_error(&set(cf_json(), &["record_no"], bad), "record_no", words);
    }
    assert!(read(&set(cf_json(), &["record_no"], json!("号".repeat(128)))).is_ok());
    assert_one_error(&remove(cf_json(), &["record_no"]), "record_no", "missing");
}

#[test]
fn names_must_be_present() {
    assert_one_error(
        &set(cf_json(), &["subject", "name"], json!("")),
        "subject.name",
        "missing or empty",
    );
    assert_one_error(
        &set(cf_json(), &["authority", "name"], json!("局".repeat(201))),
        "authority.name",
        "longer than 200",
    );
}

#[test]
fn shapes_other_than_objects_are_named() {
    assert_one_error(
        &json!([1, 2]),
        "record",
        "expected a JSON object, got an array",
    );
    let errs = errors(&set(cf_json(), &["subject"], json!("91350102MA2XK7T38X")));
    assert!(
        errs.iter()
            .any(|e| e.field == "subject" && e.problem.contains("expected an object"))
    );
    assert_one_error(
        &set(cf_json(), &["fields"], json!([])),
        "fields",
        "expected an object",
    );
}

#[test]
fn every_problem_of_a_record_is_reported() {
    let v = set(cf_json(), &["subject", "code"], json!("91350102MA2XK7T38Y"));
    let v = set(v, &["record_no"], json!(""));
    let v = set(v, &["jurisdiction"], json!("Gulou"));
    let v = set(v, &["remarks"], json!("x"));
    let v = set(v, &["fields", "CF_NR_FK"], json!(true));
    let v = remove(v, &["fields", "CF_YXQ"]);
    let errs = errors(&v);
    let mut fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "fields.CF_NR_FK",
            "fields.CF_YXQ",
            "jurisdiction",
            "record_no",
            "remarks",
            "subject.code"
        ],
        "{}",
        describe(&errs)
    );
    let line = describe(&errs);
    let each: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(line, each.join("; "));
    assert!(line.contains("subject.code: "));
}

#[test]
fn check_takes_only_canonical_codes_and_trimmed_text() {
    let mut r = cf_record("1");
    r.subject.code = r.subject.code.to_lowercase();
    let errs = r.check(&catalog()).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "subject.code");
    let mut r = cf_record(" 1");
    r.authority.name = format!("{AUTHORITY_NAME} ");
    let errs = r.check(&catalog()).unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["record_no", "authority.name"]);
    assert!(
        errs.iter()
            .all(|e| e.problem.contains("leading or trailing spaces"))
    );
}
