//! Signed log entries: the exact bytes (known answers and a hand assembly of
//! docs/protocol.md §3.1), the Ed25519 signature over them, the rules every
//! entry obeys, and the refusal of every single-byte change.

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use common::*;
use proptest::prelude::*;
use rongxin_protocol::entry::{
    ENTRY_TAG, Entry, EntryError, MAX_OP_TEXT_CHARS, ObjectionFiled, ObjectionGround,
    ObjectionOutcome, ObjectionResolved, Op, SignedEntry, verify_batch,
};
use rongxin_protocol::merkle::leaf_hash;
use sha2::{Digest, Sha256};

/// Entry 0 of gulou's log: a new 行政处罚 record.
fn entry0() -> Entry {
    Entry {
        origin: "gulou".into(),
        seq: 0,
        prev_hash: [0; 32],
        time_ms: TIME_MS,
        op: Op::Put(cf_record("榕鼓市监罚〔2026〕12号")),
    }
}

/// Entry 1: the record of entry 0 revoked after credit repair, a minute later.
fn entry1() -> Entry {
    Entry {
        origin: "gulou".into(),
        seq: 1,
        prev_hash: entry0().sign(&key(GULOU_SEED)).unwrap().leaf_hash(SUITE),
        time_ms: TIME_MS + 60_000,
        op: revoke(
            cf_record("榕鼓市监罚〔2026〕12号").key(),
            "榕鼓信修〔2026〕3号",
        ),
    }
}

const ENTRY0_HEX: &str = concat!(
    "726f6e6778696e2f656e7472790a01000000000000000567756c6f750000000000000000000000000000000000000000",
    "00000000000000000000000000000000000000000000019cac2a9dc00000000000000000000000024346000000000000",
    "0006333530313032000000000000001ee6a695e9bc93e5b882e79b91e7bd9ae3809432303236e380953132e58fb70000",
    "0000000000000000001239313335303130324d4132584b37543338580000000000000024e7a68fe5b79ee6a695e6a091",
    "e9a490e9a5aee7aea1e79086e69c89e99990e585ace58fb80000000000000027e7a68fe5b79ee5b882e9bc93e6a5bce5",
    "8cbae5b882e59cbae79b91e79da3e7aea1e79086e5b18000000000000000123131333530313032303033353830313237",
    "4807ea03010000000000000009000000000000000743465f43464c42000000000000000000000006e7bd9ae6acbe0000",
    "00000000000543465f4e5200000000000000000000001be7bd9ae6acbee4babae6b091e5b881e4bc8de4bb9fe58583e6",
    "95b4000000000000000843465f4e525f464b000000020000000000000003302e35000000000000000743465f534a4c59",
    "000000000000000000000027e7a68fe5b79ee5b882e9bc93e6a5bce58cbae5b882e59cbae79b91e79da3e7aea1e79086",
    "e5b180000000000000000943465f534a4c59444d00000000000000000000001231313335303130323030333538303132",
    "3748000000000000000543465f535900000000000000000000002ae7bb8fe890a5e59cbae68980e69caae585ace7a4ba",
    "e9a39fe59381e7bb8fe890a5e8aeb8e58fafe8af81000000000000000743465f57465857000000000000000000000027",
    "e69caae68c89e8a784e5ae9ae585ace7a4bae9a39fe59381e7bb8fe890a5e8aeb8e58fafe8af81000000000000000543",
    "465f594a00000000000000000000003fe3808ae4b8ade58d8ee4babae6b091e585b1e5928ce59bbde9a39fe59381e5ae",
    "89e585a8e6b395e3808be7acace4b880e799bee4ba8ce58d81e585ade69da1000000000000000643465f595851000000",
    "0307eb0301",
);
const ENTRY0_SIGNATURE_HEX: &str = concat!(
    "662a6cead6ae3ab5a2f16dc8db0cf90f4561130408397a179f1112c010c1a41b",
    "a9eaf413b88a76e1248d50b3d9b21c2e7e626ece0dfc6934b3a179d49236c503",
);
const ENTRY0_LEAF_HASH_HEX: &str =
    "22b9f1bd98aba689983c4fa40a4390f8ea37a05e604a8ca326a6832bfb55e75c";

const ENTRY1_HEX: &str = concat!(
    "726f6e6778696e2f656e7472790a01000000000000000567756c6f75000000000000000122b9f1bd98aba689983c4fa4",
    "0a4390f8ea37a05e604a8ca326a6832bfb55e75c0000019cac2b88200000000100000000000000024346000000000000",
    "00063335303130320000000000000012313133353031303230303335383031323748000000000000001ee6a695e9bc93",
    "e5b882e79b91e7bd9ae3809432303236e380953132e58fb700000000000000000000001ae6a695e9bc93e4bfa1e4bfae",
    "e3809432303236e3809533e58fb7",
);
const ENTRY1_SIGNATURE_HEX: &str = concat!(
    "af8b15a66bfab213a91d7812d83d1a43a532c11b5f467786e7abe8f24b64d84f",
    "2e68018687581990c20c0fa2e1c42d5992abc396e1ab18b379c15aeea4876e06",
);
const ENTRY1_LEAF_HASH_HEX: &str =
    "56fad4058a6e7c7e3b05eed9cd95e77199f8408454d33e882ec0ae3498d1a12f";

/// The common head of an entry per §3.1/§3.2: tag, origin, seq, prev_hash, time_ms.
fn head(origin: &str, seq: u64, prev_hash: &[u8; 32], time_ms: i64) -> Layout {
    Layout::default()
        .raw(b"rongxin/entry\n")
        .u8(0x01)
        .str(origin)
        .u64(seq)
        .raw(prev_hash)
        .i64(time_ms)
}

/// A RecordKey per §3.2: kind, jurisdiction, authority_code, record_no.
fn record_key(l: Layout, record_no: &str) -> Layout {
    l.str("CF").str("350102").str(AUTHORITY_CODE).str(record_no)
}

#[test]
fn put_entry_bytes_are_pinned() {
    assert_eq!(hex::encode(entry0().to_bytes(SUITE).unwrap()), ENTRY0_HEX);
}

#[test]
fn put_entry_layout_matches_the_protocol_doc() {
    // FieldValue variant indexes: 0 Text, 2 Decimal, 3 Date. Map keys in byte order.
    let text = |l: Layout, name: &str, v: &str| l.str(name).u32(0).str(v);
    let mut l = head("gulou", 0, &[0; 32], TIME_MS)
        .u32(0) // Op::Put
        .str("CF")
        .str("350102")
        .str("榕鼓市监罚〔2026〕12号")
        .u32(0) // SubjectClass::LegalPerson
        .str(SUBJECT_CODE)
        .str(SUBJECT_NAME)
        .str(AUTHORITY_NAME) // Authority { name, code }
        .str(AUTHORITY_CODE)
        .date(2026, 3, 1)
        .u64(9); // nine fields
    l = text(l, "CF_CFLB", "罚款");
    l = text(l, "CF_NR", "罚款人民币伍仟元整");
    l = l.str("CF_NR_FK").u32(2).str("0.5");
    l = text(l, "CF_SJLY", AUTHORITY_NAME);
    l = text(l, "CF_SJLYDM", AUTHORITY_CODE);
    l = text(l, "CF_SY", "经营场所未公示食品经营许可证");
    l = text(l, "CF_WFXW", "未按规定公示食品经营许可证");
    l = text(l, "CF_YJ", "《中华人民共和国食品安全法》第一百二十六条");
    l = l.str("CF_YXQ").u32(3).date(2027, 3, 1);
    assert_eq!(hex::encode(&l.0), ENTRY0_HEX);
}

#[test]
fn revoke_entry_bytes_are_pinned_and_match_the_protocol_doc() {
    let bytes = entry1().to_bytes(SUITE).unwrap();
    assert_eq!(hex::encode(&bytes), ENTRY1_HEX);
    let leaf0: [u8; 32] = hex::decode(ENTRY0_LEAF_HASH_HEX)
        .unwrap()
        .try_into()
        .unwrap();
    let l = head("gulou", 1, &leaf0, TIME_MS + 60_000).u32(1); // Op::Revoke
    let l = record_key(l, "榕鼓市监罚〔2026〕12号")
        .u32(0) // RevokeReason::Repair
        .str("榕鼓信修〔2026〕3号");
    assert_eq!(l.0, bytes);
    // Spot checks of the layout, independent of the assembler above.
    assert_eq!(&bytes[..15], ENTRY_TAG);
    assert_eq!(&bytes[15..23], &5u64.to_be_bytes()); // origin length
    assert_eq!(&bytes[23..28], b"gulou");
    assert_eq!(&bytes[28..36], &1u64.to_be_bytes()); // seq
    assert_eq!(&bytes[36..68], &leaf0); // prev_hash
    assert_eq!(&bytes[68..76], &(TIME_MS + 60_000).to_be_bytes());
    assert_eq!(&bytes[76..80], &[0, 0, 0, 1]); // variant 1 = Revoke
}

#[test]
fn objection_entries_match_the_protocol_doc() {
    let key = cf_record("榕鼓市监罚〔2026〕12号").key();
    let filed = Entry {
        origin: "gulou".into(),
        seq: 2,
        prev_hash: [7; 32],
        time_ms: TIME_MS,
        op: Op::ObjectionFiled(ObjectionFiled {
            id: "YY-2026-0001".into(),
            key: key.clone(),
            ground: ObjectionGround::DiffersFromDecision,
            statement: "罚款金额与决定书不符".into(),
            received_by: "city".into(),
            received_on: date("2026-03-05"),
            due: date("2026-03-12"),
        }),
    };
    let l = record_key(
        head("gulou", 2, &[7; 32], TIME_MS)
            .u32(2)
            .str("YY-2026-0001"),
        "榕鼓市监罚〔2026〕12号",
    )
    .u32(5) // ObjectionGround::DiffersFromDecision
    .str("罚款金额与决定书不符")
    .str("city")
    .date(2026, 3, 5)
    .date(2026, 3, 12);
    assert_eq!(filed.to_bytes(SUITE).unwrap(), l.0);

    let resolved = Entry {
        origin: "gulou".into(),
        seq: 3,
        prev_hash: [8; 32],
        time_ms: TIME_MS,
        op: Op::ObjectionResolved(ObjectionResolved {
            id: "YY-2026-0001".into(),
            key,
            outcome: ObjectionOutcome::Rejected,
            explanation: "经核实与决定书一致".into(),
        }),
    };
    let l = record_key(
        head("gulou", 3, &[8; 32], TIME_MS)
            .u32(3)
            .str("YY-2026-0001"),
        "榕鼓市监罚〔2026〕12号",
    )
    .u32(1) // ObjectionOutcome::Rejected
    .str("经核实与决定书一致");
    assert_eq!(resolved.to_bytes(SUITE).unwrap(), l.0);
    for e in [filed, resolved] {
        assert_eq!(Entry::decode(&e.to_bytes(SUITE).unwrap()), Ok(e));
    }
}

#[test]
fn repair_entries_match_the_protocol_doc() {
    use rongxin_protocol::entry::{RepairDecided, RepairFiled, RepairOutcome};
    let key = cf_record("榕鼓市监罚〔2026〕12号").key();
    let filed = Entry {
        origin: "gulou".into(),
        seq: 4,
        prev_hash: [9; 32],
        time_ms: TIME_MS,
        op: Op::RepairFiled(RepairFiled {
            id: "XF-2026-0001".into(),
            key: key.clone(),
            statement: "已缴清罚款并完成整改".into(),
            commitment: "XYCN/350102/91350100M000100Y43/CN-1".into(),
            received_by: "taijiang".into(),
            received_on: date("2026-06-01"),
            due: date("2026-06-04"),
        }),
    };
    let l = record_key(
        head("gulou", 4, &[9; 32], TIME_MS)
            .u32(5) // Op::RepairFiled
            .str("XF-2026-0001"),
        "榕鼓市监罚〔2026〕12号",
    )
    .str("已缴清罚款并完成整改")
    .str("XYCN/350102/91350100M000100Y43/CN-1")
    .str("taijiang")
    .date(2026, 6, 1)
    .date(2026, 6, 4);
    assert_eq!(filed.to_bytes(SUITE).unwrap(), l.0);

    let decided = Entry {
        origin: "gulou".into(),
        seq: 6,
        prev_hash: [10; 32],
        time_ms: TIME_MS,
        op: Op::RepairDecided(RepairDecided {
            id: "XF-2026-0001".into(),
            key,
            outcome: RepairOutcome::Granted,
            explanation: "符合修复条件".into(),
        }),
    };
    let l = record_key(
        head("gulou", 6, &[10; 32], TIME_MS)
            .u32(6) // Op::RepairDecided
            .str("XF-2026-0001"),
        "榕鼓市监罚〔2026〕12号",
    )
    .u32(0) // RepairOutcome::Granted
    .str("符合修复条件");
    assert_eq!(decided.to_bytes(SUITE).unwrap(), l.0);
    for e in [filed, decided] {
        assert_eq!(Entry::decode(&e.to_bytes(SUITE).unwrap()), Ok(e));
    }
}

#[test]
fn signatures_and_leaf_hashes_are_pinned() {
    let k = key(GULOU_SEED);
    for (entry, sig_hex, leaf_hex) in [
        (entry0(), ENTRY0_SIGNATURE_HEX, ENTRY0_LEAF_HASH_HEX),
        (entry1(), ENTRY1_SIGNATURE_HEX, ENTRY1_LEAF_HASH_HEX),
    ] {
        let signed = entry.sign(&k).unwrap();
        assert_eq!(hex::encode(signed.signature), sig_hex);
        assert_eq!(hex::encode(signed.leaf_hash(SUITE)), leaf_hex);
        // The leaf hash is RFC 6962's SHA-256(0x00 || entry bytes).
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(&signed.bytes);
        assert_eq!(hex::encode(h.finalize()), leaf_hex);
        assert_eq!(leaf_hash(SUITE, &signed.bytes), signed.leaf_hash(SUITE));
        assert_eq!(signed.verify(k.public()), Ok(entry));
    }
}

#[test]
fn entry_json_shows_the_hash_in_hex_and_the_op_type() {
    let v = serde_json::to_value(entry1()).unwrap();
    assert_eq!(v["prev_hash"], ENTRY0_LEAF_HASH_HEX);
    assert_eq!(v["op"]["type"], "revoke");
    assert_eq!(v["op"]["reason"], "repair");
    assert_eq!(v["op"]["key"]["authority_code"], AUTHORITY_CODE);
}

#[test]
fn record_key_names_the_record_of_every_op() {
    let key = cf_record("榕鼓市监罚〔2026〕12号").key();
    assert_eq!(entry0().record_key(), Some(key.clone()));
    assert_eq!(entry1().record_key(), Some(key.clone()));
    assert_eq!(
        key.to_string(),
        format!("CF/350102/{AUTHORITY_CODE}/榕鼓市监罚〔2026〕12号")
    );
}

// ---------------------------------------------------------------------------
// Every single-byte change is refused.
// ---------------------------------------------------------------------------

// Ed25519 verification is slow in unoptimised test builds (~10 ms), so the
// exhaustive loops flip one bit per position; the proptests flip any bits.

#[test]
fn every_single_byte_change_of_entry_or_signature_fails_verify() {
    let signed = entry0().sign(&key(GULOU_SEED)).unwrap();
    let vk = key(GULOU_SEED).public().clone();
    for i in 0..signed.bytes.len() {
        let mut bad = signed.clone();
        bad.bytes[i] ^= 0x01;
        let err = bad.verify(&vk).unwrap_err();
        assert!(
            matches!(err, EntryError::Signature { .. }),
            "entry byte {i}: {err}"
        );
    }
    for delta in [0x01u8, 0x80, 0xff] {
        for i in 0..64 {
            let mut bad = signed.clone();
            bad.signature[i] ^= delta;
            let err = bad.verify(&vk).unwrap_err();
            // The hint comes from the (intact) bytes: origin and seq are named.
            assert_eq!(
                err,
                EntryError::Signature {
                    origin: "gulou".into(),
                    seq: 0
                },
                "signature byte {i} ^ {delta:#x}"
            );
        }
    }
}

#[test]
fn a_signature_by_another_key_is_refused_and_names_the_claimed_origin() {
    let signed = entry1().sign(&key(FTZ_SEED)).unwrap();
    let err = signed.verify(key(GULOU_SEED).public()).unwrap_err();
    assert_eq!(
        err,
        EntryError::Signature {
            origin: "gulou".into(),
            seq: 1
        }
    );
    assert!(err.to_string().contains("gulou entry 1"), "{err}");
}

#[test]
fn verify_batch_accepts_a_good_batch_in_order() {
    let log = gulou_log();
    let entries = verify_batch(&log.entries, key(GULOU_SEED).public()).unwrap();
    assert_eq!(entries.len(), 10);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
        assert_eq!(Entry::decode(&log.entries[i].bytes).as_ref(), Ok(e));
    }
    assert_eq!(verify_batch(&[], key(GULOU_SEED).public()), Ok(vec![]));
}

#[test]
fn every_single_byte_change_in_a_batch_is_refused_naming_its_index() {
    let k = key(GULOU_SEED);
    let batch = vec![entry0().sign(&k).unwrap(), entry1().sign(&k).unwrap()];
    let target = &batch[1];
    for i in 0..target.bytes.len() + 64 {
        let mut bad = batch.clone();
        if i < target.bytes.len() {
            bad[1].bytes[i] ^= 0x01;
        } else {
            bad[1].signature[i - target.bytes.len()] ^= 0x01;
        }
        assert_eq!(
            verify_batch(&bad, k.public()),
            Err(EntryError::BatchSignature { index: 1 }),
            "position {i}"
        );
    }
}

#[test]
fn verify_batch_names_the_first_bad_entry_at_every_index() {
    let log = gulou_log();
    let vk = key(GULOU_SEED).public().clone();
    for index in 0..log.entries.len() {
        let mut bad = log.entries.clone();
        bad[index].signature[10] ^= 0x40;
        if index + 2 < bad.len() {
            bad[index + 2].bytes[20] ^= 0x40; // a later bad one is not named
        }
        let err = verify_batch(&bad, &vk).unwrap_err();
        assert_eq!(err, EntryError::BatchSignature { index });
        assert!(err.to_string().contains(&format!("entry {index}")), "{err}");
    }
    // Entries of another origin's key fail as a batch too.
    let err = verify_batch(&log.entries, key(CITY_SEED).public()).unwrap_err();
    assert_eq!(err, EntryError::BatchSignature { index: 0 });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_corruption_of_a_signed_entry_is_refused(
        position in any::<prop::sample::Index>(),
        delta in 1u8..=255,
        in_signature in any::<bool>(),
    ) {
        let signed = entry1().sign(&key(GULOU_SEED)).unwrap();
        let mut bad = signed.clone();
        if in_signature {
            bad.signature[position.index(64)] ^= delta;
        } else {
            let i = position.index(bad.bytes.len());
            bad.bytes[i] ^= delta;
        }
        let vk = key(GULOU_SEED).public().clone();
        let single = bad.verify(&vk);
        prop_assert!(single.is_err());
        let batch = vec![signed.clone(), bad, signed];
        prop_assert_eq!(verify_batch(&batch, &vk), Err(EntryError::BatchSignature { index: 1 }));
    }
}

// ---------------------------------------------------------------------------
// Entry rules (Entry::check), enforced by sign and decode alike.
// ---------------------------------------------------------------------------

/// Checks that `entry` breaks the rule on `field`: check, sign and decoding
/// its (unsigned) bytes all refuse it.
fn assert_breaks(entry: &Entry, field: &str) {
    let err = entry.check().unwrap_err();
    assert!(
        matches!(&err, EntryError::Field { field: f, .. } if *f == field),
        "{entry:?}: {err}"
    );
    assert_eq!(entry.sign(&key(GULOU_SEED)).unwrap_err(), err);
    assert_eq!(
        Entry::decode(&entry.to_bytes(SUITE).unwrap()).unwrap_err(),
        err
    );
}

#[test]
fn entry_zero_must_have_a_zero_prev_hash() {
    let mut e = entry0();
    e.prev_hash[31] = 1;
    assert_breaks(&e, "prev_hash");
    // Later entries may have any prev_hash (the chain is checked by replicas).
    let mut e = entry1();
    e.prev_hash = [0; 32];
    assert!(e.check().is_ok());
}

#[test]
fn time_must_not_be_before_2000() {
    for t in [Y2000_MS - 1, 0, -1, i64::MIN] {
        let mut e = entry0();
        e.time_ms = t;
        assert_breaks(&e, "time_ms");
    }
    let mut e = entry0();
    e.time_ms = Y2000_MS;
    assert!(e.check().is_ok(), "2000-01-01T00:00:00Z itself is allowed");
}

#[test]
fn revoke_basis_must_be_present_and_bounded() {
    for basis in [
        String::new(),
        " ".into(),
        "\n\t".into(),
        "依".repeat(MAX_OP_TEXT_CHARS + 1),
    ] {
        let mut e = entry1();
        e.op = revoke(entry1().record_key().unwrap(), &basis);
        assert_breaks(&e, "op");
    }
    let mut e = entry1();
    e.op = revoke(
        entry1().record_key().unwrap(),
        &"依".repeat(MAX_OP_TEXT_CHARS),
    );
    assert!(e.check().is_ok(), "exactly the limit in characters is fine");
}

#[test]
fn objection_texts_must_be_present() {
    let Op::ObjectionFiled(filed) = objection_filed() else {
        unreachable!()
    };
    for blank in ["id", "statement", "received_by"] {
        let mut o = filed.clone();
        match blank {
            "id" => o.id = String::new(),
            "statement" => o.statement = "  ".into(),
            _ => o.received_by = String::new(),
        }
        let mut e = entry1();
        e.op = Op::ObjectionFiled(o);
        assert_breaks(&e, "op");
    }
    let mut e = entry1();
    e.op = Op::ObjectionResolved(ObjectionResolved {
        id: "YY-1".into(),
        key: entry1().record_key().unwrap(),
        outcome: ObjectionOutcome::Upheld,
        explanation: String::new(),
    });
    assert_breaks(&e, "op");
}

fn objection_filed() -> Op {
    Op::ObjectionFiled(ObjectionFiled {
        id: "YY-1".into(),
        key: entry1().record_key().unwrap(),
        ground: ObjectionGround::Wrong,
        statement: "不是本公司".into(),
        received_by: "city".into(),
        received_on: date("2026-03-05"),
        due: date("2026-03-12"),
    })
}

#[test]
fn origin_must_be_a_member_id() {
    for origin in [
        "",
        "g",
        "Gulou",
        "1gulou",
        "-gulou",
        "gu lou",
        "gu_lou",
        "鼓楼",
        "root",
        "rongxin.fuzhou/gulou",
        &"a".repeat(33),
    ] {
        let mut e = entry0();
        e.origin = origin.to_owned();
        assert_breaks(&e, "origin");
    }
    for origin in ["ft", "gulou", "ftz-2", &"a".repeat(32)] {
        let mut e = entry0();
        e.origin = origin.to_owned();
        assert!(e.check().is_ok(), "{origin}");
    }
}

#[test]
fn signed_entries_of_every_op_round_trip() {
    let k = key(GULOU_SEED);
    for op in [entry0().op, entry1().op, objection_filed()] {
        let mut e = entry1();
        e.op = op;
        let signed: SignedEntry = e.sign(&k).unwrap();
        assert_eq!(signed.verify(k.public()), Ok(e));
    }
}
