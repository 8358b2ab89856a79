//! The sampler against the sample federation's catalog and roster.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::record::Record;
use rongxin_protocol::roster::SignedRoster;

use super::*;
use crate::files::{read_text, read_verifier};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config-examples")
}

fn catalog() -> Catalog {
    Catalog::from_toml_str(&read_text(&examples().join("catalog.toml")).unwrap()).unwrap()
}

fn roster() -> SignedRoster {
    let root = read_verifier(&examples().join("root.pub")).unwrap();
    SignedRoster::open(
        &read_text(&examples().join("roster.signed")).unwrap(),
        &root,
    )
    .unwrap()
}

fn run(catalog: &Catalog, roster: &SignedRoster, origin: &str, seed: u64, n: usize) -> Vec<Value> {
    let member = roster.roster.member(origin).unwrap();
    Sampler::new(catalog, &member.jurisdictions, seed, n)
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

#[test]
fn two_thousand_records_pass_ingest_checks_for_their_origin() {
    let catalog = catalog();
    let roster = roster();
    let origins = ["gulou", "ftz", "changle", "city", "fuqing", "minhou"];
    let mut kinds_seen = BTreeSet::new();
    let mut total = 0;
    for (i, origin) in origins.iter().enumerate() {
        let n = if i < 2 { 500 } else { 250 };
        let records = run(&catalog, &roster, origin, 40 + i as u64, n);
        assert_eq!(records.len(), n);
        let mut keys = BTreeSet::new();
        let mut per_subject: BTreeMap<String, usize> = BTreeMap::new();
        let mut jurisdictions = BTreeSet::new();
        for value in &records {
            let record = Record::from_json(value, &catalog)
                .unwrap_or_else(|e| panic!("{origin}: {value}\n{e:#?}"));
            let warnings = record.check(&catalog).unwrap();
            assert!(warnings.is_empty(), "{value}: {warnings:?}");
            // The origin's rules too: a penalty's kind matches its types' tier.
            let today = rongxin_protocol::value::Date::new(2026, 12, 1).unwrap();
            if let Err(e) = record.check_for_signing(&catalog, today) {
                panic!("{value}: {e:?}");
            }
            assert_eq!(
                roster
                    .roster
                    .owner_of(&record.jurisdiction)
                    .map(|m| m.id.as_str()),
                Some(*origin),
                "{value}"
            );
            assert!(
                record.record_no.contains(&format!("{}-", 40 + i)),
                "{}",
                record.record_no
            );
            let year = record.decision_date.year();
            assert!((2025..=2026).contains(&year), "{value}");
            assert!(keys.insert(record.key()), "duplicate key {}", record.key());
            *per_subject.entry(record.subject.code.clone()).or_default() += 1;
            jurisdictions.insert(record.jurisdiction.clone());
            kinds_seen.insert(record.kind.clone());
        }
        assert!(
            per_subject.len() <= n / 5,
            "{origin}: {} subjects",
            per_subject.len()
        );
        assert!(
            per_subject.values().filter(|&&c| c >= 3).count() > n / 20,
            "{origin}"
        );
        let member = roster.roster.member(origin).unwrap();
        let owned: BTreeSet<String> = member.jurisdictions.iter().cloned().collect();
        assert_eq!(jurisdictions, owned, "{origin}");
        total += n;
    }
    assert_eq!(total, 2000);
    let all: BTreeSet<String> = catalog.kinds().iter().map(|k| k.code.clone()).collect();
    assert_eq!(kinds_seen, all);
}

#[test]
fn records_look_like_fuzhou_data() {
    let catalog = catalog();
    let roster = roster();
    let records = run(&catalog, &roster, "gulou", 7, 400);
    let by_kind =
        |kind: &str| -> Vec<&Value> { records.iter().filter(|r| r["kind"] == kind).collect() };
    let cf = by_kind("CF");
    assert!(cf.len() > 40, "{}", cf.len());
    let xk = by_kind("XK");
    assert!(
        xk.len() > cf.len(),
        "双公示 licences are the most common kind"
    );
    let penalty = cf[0];
    let no = penalty["record_no"].as_str().unwrap();
    assert!(
        no.starts_with("榕鼓") && no.contains("罚〔202") && no.ends_with("号"),
        "{no}"
    );
    assert!(
        penalty["authority"]["name"]
            .as_str()
            .unwrap()
            .starts_with("福州市鼓楼区")
    );
    for r in by_kind("SXBZXR") {
        let court = r["authority"]["name"].as_str().unwrap();
        assert!(
            court == "福州市中级人民法院" || court == "福州市鼓楼区人民法院",
            "{court}"
        );
        assert!(r["record_no"].as_str().unwrap().contains("执"), "{r}");
    }
    for r in by_kind("SSWF") {
        assert_eq!(r["authority"]["name"], "国家税务总局福州市鼓楼区税务局");
    }
    for r in by_kind("DDMF") {
        assert_eq!(r["subject"]["class"], "natural_person");
    }
    let fines: Vec<&str> = records
        .iter()
        .filter_map(|r| r["fields"]["CF_NR_FK"].as_str())
        .collect();
    assert!(!fines.is_empty());
    let member = roster.roster.member("gulou").unwrap();
    let first = Sampler::new(&catalog, &member.jurisdictions, 7, 1)
        .next()
        .unwrap();
    let line = serde_json::to_string(&first).unwrap();
    assert!(line.starts_with("{\"kind\":"), "api.md key order: {line}");
}

#[test]
fn ftz_records_use_the_zone_and_the_city_region() {
    let catalog = catalog();
    let roster = roster();
    for r in run(&catalog, &roster, "ftz", 3, 100) {
        assert_eq!(r["jurisdiction"], "ftz-fuzhou");
        let class = r["subject"]["class"].as_str().unwrap();
        let code = r["subject"]["code"].as_str().unwrap();
        if class != "natural_person" {
            assert_eq!(&code[2..8], "350100", "{r}");
        }
    }
}

#[test]
fn same_seed_same_records_other_seed_other_records() {
    let catalog = catalog();
    let roster = roster();
    let a = run(&catalog, &roster, "changle", 5, 300);
    let b = run(&catalog, &roster, "changle", 5, 300);
    let c = run(&catalog, &roster, "changle", 6, 300);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let short = run(&catalog, &roster, "changle", 5, 20);
    assert_eq!(short.len(), 20);
    let kinds: BTreeSet<&str> = short.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.len(),
        catalog.kinds().len(),
        "a short run still shows every kind"
    );
}
