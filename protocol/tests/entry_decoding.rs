//! Decoding entry bytes: never panics, takes exactly the canonical encoding
//! and nothing else, and names why it refuses (wrong tag, trailing bytes,
//! truncation, size, non-canonical form).

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use rongxin_protocol::catalog::SubjectClass;
use rongxin_protocol::entry::{
    ENTRY_TAG, Entry, EntryError, MAX_ENTRY_BYTES, ObjectionFiled, ObjectionGround,
    ObjectionOutcome, ObjectionResolved, Op, Revoke, RevokeReason, SignedEntry, verify_batch,
};
use rongxin_protocol::record::{Authority, Record, RecordKey, Subject};
use rongxin_protocol::value::{Date, FieldValue};

fn put(record: Record) -> Entry {
    entry("gulou", 0, [0; 32], Op::Put(record))
}

fn penalty_bytes() -> Vec<u8> {
    put(cf_record(&record_no(0))).to_bytes(SUITE).unwrap()
}

/// `haystack` with its one occurrence of `needle` replaced.
fn replace_once(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let at: Vec<usize> = haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "needle must occur exactly once");
    [&haystack[..at[0]], with, &haystack[at[0] + needle.len()..]].concat()
}

/// The encoding of one `fields` map pair holding text.
fn text_pair(name: &str, value: &str) -> Vec<u8> {
    Layout::default().str(name).u32(0).str(value).0
}

fn is_decode_error(r: &Result<Entry, EntryError>, what: &str) -> bool {
    matches!(r, Err(EntryError::Decode(m)) if m.contains(what))
}

#[test]
fn bytes_without_the_version_1_tag_are_refused() {
    let good = penalty_bytes();
    let mut v2 = good.clone();
    v2[14] = 0x03; // a future format version (0x01 and 0x02 name the two suites)
    let mut other = good.clone();
    other[0] = b'R';
    for bad in [
        v2,
        other,
        Vec::new(),
        b"rongxin/entry\n".to_vec(),
        b"rongxin.fuzhou/gulou\n10\n".to_vec(),
        good[15..].to_vec(), // the body alone
    ] {
        assert_eq!(Entry::decode(&bad), Err(EntryError::Tag), "{bad:02x?}");
    }
}

#[test]
fn trailing_bytes_are_refused_and_counted() {
    let good = penalty_bytes();
    for extra in [1usize, 5, 100] {
        let bad = [good.as_slice(), &vec![0u8; extra]].concat();
        assert_eq!(Entry::decode(&bad), Err(EntryError::Trailing(extra)));
    }
}

#[test]
fn truncation_at_every_position_is_refused() {
    let good = penalty_bytes();
    for n in 0..good.len() {
        let r = Entry::decode(&good[..n]);
        if n < ENTRY_TAG.len() {
            assert_eq!(r, Err(EntryError::Tag), "cut at {n}");
        } else {
            assert!(matches!(r, Err(EntryError::Decode(_))), "cut at {n}: {r:?}");
        }
    }
    assert!(Entry::decode(&good).is_ok());
}

#[test]
fn oversize_entries_are_refused_before_anything_else() {
    let mut huge = ENTRY_TAG.to_vec();
    huge.resize(MAX_ENTRY_BYTES + 1, 0);
    assert_eq!(
        Entry::decode(&huge),
        Err(EntryError::TooLarge(MAX_ENTRY_BYTES + 1))
    );
    let signed = SignedEntry {
        bytes: huge.clone(),
        signature: [0; 64],
    };
    let vk = key(GULOU_SEED).public().clone();
    assert_eq!(
        signed.verify(&vk),
        Err(EntryError::TooLarge(MAX_ENTRY_BYTES + 1))
    );
    let good = put(cf_record("1")).sign(&key(GULOU_SEED)).unwrap();
    assert_eq!(
        verify_batch(&[good, signed], &vk),
        Err(EntryError::TooLarge(MAX_ENTRY_BYTES + 1))
    );
    // An entry too large to encode is refused when encoding and signing.
    let mut record = cf_record("1");
    record
        .fields
        .insert("BZ".into(), FieldValue::Text("x".repeat(MAX_ENTRY_BYTES)));
    let e = put(record);
    assert!(matches!(e.to_bytes(SUITE), Err(EntryError::TooLarge(n)) if n > MAX_ENTRY_BYTES));
    assert!(matches!(
        e.sign(&key(GULOU_SEED)),
        Err(EntryError::TooLarge(_))
    ));
}

#[test]
fn an_entry_of_exactly_the_limit_round_trips() {
    let base = put(cf_record("1")).to_bytes(SUITE).unwrap().len();
    // A new "BZ" text pair costs 8 + 2 + 4 + 8 bytes plus its text.
    let text = MAX_ENTRY_BYTES - base - 22;
    let mut record = cf_record("1");
    record
        .fields
        .insert("BZ".into(), FieldValue::Text("x".repeat(text)));
    let e = put(record);
    let bytes = e.to_bytes(SUITE).unwrap();
    assert_eq!(bytes.len(), MAX_ENTRY_BYTES);
    assert_eq!(Entry::decode(&bytes), Ok(e));
}

/// Regression: bincode's decode limit counts in-memory sizes (about 50 bytes
/// per map pair, claimed up front), so a limit of MAX_ENTRY_BYTES refused
/// entries like this one (57 KB of small fields) that to_bytes and sign
/// accepted. Fixed in entry.rs.
#[test]
fn an_entry_with_many_small_fields_decodes() {
    let mut record = cf_record("1");
    for i in 0..3000 {
        record
            .fields
            .insert(format!("F{i:05}"), FieldValue::Bool(i % 2 == 0));
    }
    let e = put(record);
    let signed = e.sign(&key(GULOU_SEED)).unwrap();
    assert!(signed.bytes.len() > 50_000, "{}", signed.bytes.len());
    assert_eq!(signed.verify(key(GULOU_SEED).public()), Ok(e));
}

#[test]
fn a_fields_map_out_of_key_order_is_not_canonical() {
    let good = penalty_bytes();
    let cflb = text_pair("CF_CFLB", "罚款");
    let nr = text_pair("CF_NR", "罚款人民币伍仟元整");
    let in_order = [cflb.as_slice(), &nr].concat();
    let swapped = [nr.as_slice(), &cflb].concat();
    let bad = replace_once(&good, &in_order, &swapped);
    assert_eq!(bad.len(), good.len());
    assert_eq!(Entry::decode(&bad), Err(EntryError::NotCanonical));

    // Even correctly signed by the origin, such bytes are refused after the
    // signature check.
    let signed = SignedEntry {
        signature: key(GULOU_SEED).sign(&bad),
        bytes: bad,
    };
    assert_eq!(
        signed.verify(key(GULOU_SEED).public()),
        Err(EntryError::NotCanonical)
    );
}

#[test]
fn a_fields_map_with_a_repeated_key_is_not_canonical() {
    let good = penalty_bytes();
    let cflb = text_pair("CF_CFLB", "罚款");
    let nr = text_pair("CF_NR", "罚款人民币伍仟元整");
    let twice = [cflb.as_slice(), &cflb].concat();
    let bad = replace_once(&good, &[cflb.as_slice(), &nr].concat(), &twice);
    assert_eq!(Entry::decode(&bad), Err(EntryError::NotCanonical));
}

#[test]
fn a_non_canonical_decimal_is_refused() {
    let good = penalty_bytes();
    for text in ["00.5", "0.50", ".5", "+0.5", "-0"] {
        let bad = replace_once(
            &good,
            &Layout::default().u32(2).str("0.5").0,
            &Layout::default().u32(2).str(text).0,
        );
        let r = Entry::decode(&bad);
        assert!(is_decode_error(&r, "decimal"), "{text}: {r:?}");
    }
}

#[test]
fn a_bool_byte_other_than_0_or_1_is_refused() {
    let mut record = cf_record("1");
    record
        .fields
        .insert("X_FLAG".into(), FieldValue::Bool(true));
    let good = put(record).to_bytes(SUITE).unwrap();
    assert!(Entry::decode(&good).is_ok());
    let pair = |b: u8| Layout::default().str("X_FLAG").u32(4).u8(b).0;
    for b in [2u8, 0x80, 0xff] {
        let bad = replace_once(&good, &pair(1), &pair(b));
        let r = Entry::decode(&bad);
        assert!(matches!(r, Err(EntryError::Decode(_))), "{b}: {r:?}");
    }
}

#[test]
fn impossible_values_are_refused() {
    let good = penalty_bytes();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "decision date 2026-02-30",
            replace_once(
                &good,
                &Layout::default().date(2026, 3, 1).u64(9).0,
                &Layout::default().date(2026, 2, 30).u64(9).0,
            ),
        ),
        (
            "subject class 3",
            replace_once(
                &good,
                &Layout::default().u32(0).str(SUBJECT_CODE).0,
                &Layout::default().u32(3).str(SUBJECT_CODE).0,
            ),
        ),
        ("op variant 5", {
            let mut b = good.clone();
            b[15 + 13 + 8 + 32 + 8 + 3] = 5; // last byte of the op index (0-4 are ops)
            b
        }),
        (
            "invalid UTF-8",
            replace_once(
                &good,
                "罚款人民币".as_bytes(),
                b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1",
            ),
        ),
        ("a string length beyond the input", {
            let mut b = good.clone();
            b[15] = 0x7f; // origin length 0x7f00…05
            b
        }),
    ];
    for (what, bad) in cases {
        let r = Entry::decode(&bad);
        assert!(matches!(r, Err(EntryError::Decode(_))), "{what}: {r:?}");
    }
}

#[test]
fn the_signature_is_checked_before_the_bytes_are_looked_at() {
    let vk = key(GULOU_SEED).public().clone();
    let garbage = b"not an entry at all".to_vec();
    // A valid signature over garbage: the signature holds, decoding names the tag.
    let signed = SignedEntry {
        signature: key(GULOU_SEED).sign(&garbage),
        bytes: garbage.clone(),
    };
    assert_eq!(signed.verify(&vk), Err(EntryError::Tag));
    // A bad signature over garbage: only the signature is reported.
    let unsigned = SignedEntry {
        bytes: garbage,
        signature: [0; 64],
    };
    assert_eq!(
        unsigned.verify(&vk),
        Err(EntryError::Signature {
            origin: String::new(),
            seq: 0
        })
    );
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9鼓楼〔〕号 -]{0,8}[a-z0-9鼓楼号]"
}

fn date_value() -> impl Strategy<Value = Date> {
    (1u16..=9999, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        text().prop_map(FieldValue::Text),
        any::<i64>().prop_map(FieldValue::Integer),
        (-999_999_999i64..999_999_999, 0u32..1_000_000)
            .prop_map(|(i, f)| FieldValue::Decimal(format!("{i}.{f:06}").parse().unwrap())),
        date_value().prop_map(FieldValue::Date),
        any::<bool>().prop_map(FieldValue::Bool),
    ]
}

fn record_key() -> impl Strategy<Value = RecordKey> {
    (text(), text(), text(), text()).prop_map(|(kind, jurisdiction, authority_code, record_no)| {
        RecordKey {
            kind,
            jurisdiction,
            authority_code,
            record_no,
        }
    })
}

fn record() -> impl Strategy<Value = Record> {
    (
        (text(), text(), text()),
        (0..3usize, text(), text()),
        (text(), text(), date_value()),
        prop::collection::btree_map("[A-Z_]{1,10}", field_value(), 0..6),
    )
        .prop_map(
            |((kind, jurisdiction, record_no), (class, code, name), (a_name, a_code, day), f)| {
                Record {
                    kind,
                    jurisdiction,
                    record_no,
                    subject: Subject {
                        class: [
                            SubjectClass::LegalPerson,
                            SubjectClass::NaturalPerson,
                            SubjectClass::IndividualBusiness,
                        ][class],
                        code,
                        name,
                    },
                    authority: Authority {
                        name: a_name,
                        code: a_code,
                    },
                    decision_date: day,
                    fields: f.into_iter().collect::<BTreeMap<_, _>>(),
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let reason = prop::sample::select(vec![
        RevokeReason::Repair,
        RevokeReason::ObjectionUpheld,
        RevokeReason::Error,
        RevokeReason::Expired,
    ]);
    let ground = (0..8usize).prop_map(|i| {
        use ObjectionGround::*;
        [
            Wrong,
            Incomplete,
            Duplicate,
            ShouldNotBePublic,
            PastPublicityPeriod,
            DiffersFromDecision,
            ExposesSecret,
            Other,
        ][i]
    });
    prop_oneof![
        record().prop_map(Op::Put),
        (record_key(), reason, text()).prop_map(|(key, reason, basis)| Op::Revoke(Revoke {
            key,
            reason,
            basis
        })),
        (record_key(), ground, text(), date_value(), date_value()).prop_map(
            |(key, ground, statement, received_on, due)| Op::ObjectionFiled(ObjectionFiled {
                id: "YY-1".into(),
                key,
                ground,
                statement,
                received_by: "city".into(),
                received_on,
                due,
            })
        ),
        (record_key(), any::<bool>(), text()).prop_map(|(key, upheld, explanation)| {
            Op::ObjectionResolved(ObjectionResolved {
                id: "YY-1".into(),
                key,
                outcome: if upheld {
                    ObjectionOutcome::Upheld
                } else {
                    ObjectionOutcome::Rejected
                },
                explanation,
            })
        }),
        (record_key(), text(), text(), date_value(), date_value()).prop_map(
            |(key, statement, commitment, received_on, due)| Op::RepairFiled(
                rongxin_protocol::entry::RepairFiled {
                    id: "XF-1".into(),
                    key,
                    statement,
                    commitment,
                    received_by: "taijiang".into(),
                    received_on,
                    due,
                }
            )
        ),
        (record_key(), any::<bool>(), text()).prop_map(|(key, granted, explanation)| {
            Op::RepairDecided(rongxin_protocol::entry::RepairDecided {
                id: "XF-1".into(),
                key,
                outcome: if granted {
                    rongxin_protocol::entry::RepairOutcome::Granted
                } else {
                    rongxin_protocol::entry::RepairOutcome::Rejected
                },
                explanation,
            })
        }),
        (1u8..=255).prop_map(
            |seed| Op::KeyHandover(rongxin_protocol::entry::KeyHandover {
                key: key(seed).public().as_bytes().to_vec(),
            })
        ),
    ]
}

fn any_entry() -> impl Strategy<Value = Entry> {
    (
        "[a-z][a-z0-9-]{1,12}",
        any::<u64>(),
        any::<[u8; 32]>(),
        Y2000_MS..=i64::MAX,
        op(),
    )
        .prop_map(|(origin, seq, prev, time_ms, op)| Entry {
            origin,
            seq,
            prev_hash: if seq == 0 { [0; 32] } else { prev },
            time_ms,
            op,
        })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Entry::decode(&bytes);
        let tagged = [ENTRY_TAG.as_slice(), &bytes].concat();
        let _ = Entry::decode(&tagged);
    }

    #[test]
    fn mutated_entries_never_panic_and_decode_only_canonically(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = penalty_bytes();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(e) = Entry::decode(&bytes) {
            // Whatever decodes is the canonical encoding of what it holds.
            prop_assert_eq!(e.to_bytes(SUITE).unwrap(), bytes);
        }
    }

    #[test]
    fn every_valid_entry_round_trips(e in any_entry()) {
        prop_assume!(e.origin != "root" && e.check().is_ok());
        let bytes = e.to_bytes(SUITE).unwrap();
        prop_assert_eq!(&bytes[..15], ENTRY_TAG.as_slice());
        prop_assert_eq!(Entry::decode(&bytes), Ok(e));
    }
}
