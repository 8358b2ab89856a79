//! Provenance bundles built from a real federation (a root-signed roster of
//! three members, a ten-entry log in an RFC 6962 tree, a checkpoint signed by
//! the origin): they verify offline with the root key alone, every single-byte
//! change is refused, and each failure names the step that failed.

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use std::sync::OnceLock;

use common::*;
use rongxin_protocol::bundle::{BUNDLE_FORMAT, Bundle, BundleError};
use rongxin_protocol::checkpoint::{Checkpoint, CheckpointError};
use rongxin_protocol::entry::{EntryError, Op};
use rongxin_protocol::merkle::{MerkleError, inclusion_proof, tree_root};
use rongxin_protocol::note::{NoteError, NoteSigner};
use rongxin_protocol::roster::RosterError;
use serde_json::Value;

/// The leaf the tests bundle: a penalty in the middle of the log.
const LEAF: u64 = 6;

fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(gulou_log)
}

fn roster_note() -> &'static str {
    static NOTE: OnceLock<String> = OnceLock::new();
    NOTE.get_or_init(|| signed_roster().note)
}

fn bundle() -> Bundle {
    log().bundle(LEAF, GULOU_SEED, roster_note())
}

fn verify(b: &Bundle) -> Result<(), BundleError> {
    b.verify(&root_verifier()).map(drop)
}

#[test]
fn the_bundle_of_every_entry_verifies_with_the_root_key_alone() {
    for i in 0..10 {
        let v = log()
            .bundle(i, GULOU_SEED, roster_note())
            .verify(&root_verifier())
            .unwrap();
        assert_eq!(v.entry.seq, i);
        assert_eq!(v.entry.origin, "gulou");
        assert_eq!(v.checkpoint, log().checkpoint.checkpoint);
        assert_eq!(v.checkpoint.size, 10);
        assert_eq!(v.roster_version, 1);
        assert_eq!(v.federation, FEDERATION);
    }
    let v = bundle().verify(&root_verifier()).unwrap();
    assert_eq!(v.entry.op, Op::Put(cf_record(&record_no(LEAF))));
}

#[test]
fn a_bundle_is_the_json_object_of_the_protocol_doc_and_round_trips() {
    let b = bundle();
    let text = serde_json::to_string_pretty(&b).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "checkpoint",
            "entry",
            "entry_signature",
            "format",
            "inclusion_proof",
            "leaf_index",
            "origin",
            "origin_public_key",
            "roster",
            "suite"
        ]
    );
    assert_eq!(v["format"], "rongxin-bundle/2");
    assert_eq!(v["leaf_index"], 6);
    assert_eq!(v["origin_public_key"], public_b64(GULOU_SEED));
    assert_eq!(unb64(v["entry"].as_str().unwrap()), log().entries[6].bytes);
    assert_eq!(v["inclusion_proof"].as_array().unwrap().len(), 4);
    let back: Bundle = serde_json::from_str(&text).unwrap();
    assert_eq!(back, b);
    assert!(verify(&back).is_ok());
}

#[test]
fn unknown_and_missing_json_fields_are_refused() {
    let mut v = serde_json::to_value(bundle()).unwrap();
    v["comment"] = "looks fine".into();
    let err = serde_json::from_value::<Bundle>(v).unwrap_err().to_string();
    assert!(err.contains("unknown field `comment`"), "{err}");
    let mut v = serde_json::to_value(bundle()).unwrap();
    v.as_object_mut().unwrap().remove("roster");
    let err = serde_json::from_value::<Bundle>(v).unwrap_err().to_string();
    assert!(err.contains("missing field `roster`"), "{err}");
    let mut v = serde_json::to_value(bundle()).unwrap();
    v["leaf_index"] = (-1).into();
    assert!(serde_json::from_value::<Bundle>(v).is_err());
}

// ---------------------------------------------------------------------------
// Each failing step is named.
// ---------------------------------------------------------------------------

#[test]
fn another_format_is_refused_first() {
    let mut b = bundle();
    b.format = "rongxin-bundle/3".into();
    b.roster = String::new();
    assert!(matches!(verify(&b), Err(BundleError::Format(m)) if m.contains("'rongxin-bundle/3'")));
    assert_eq!(BUNDLE_FORMAT, "rongxin-bundle/2");
    // The second format names its suite; the first has none and is Ed25519.
    let mut b = bundle();
    b.suite = None;
    assert!(matches!(verify(&b), Err(BundleError::Format(m)) if m.contains("names its suite")));
    b.format = "rongxin-bundle/1".into();
    assert!(verify(&b).is_ok(), "a first-format bundle still verifies");
    b.suite = Some(rongxin_protocol::suite::Suite::Ed25519Sha256);
    assert!(matches!(verify(&b), Err(BundleError::Format(m)) if m.contains("no suite field")));
    let mut b = bundle();
    b.suite = Some(rongxin_protocol::suite::Suite::Sm2Sm3);
    assert!(
        matches!(verify(&b), Err(BundleError::Format(m)) if m.contains("its roster says ed25519-sha256"))
    );
}

#[test]
fn a_roster_not_signed_by_the_given_root_is_a_roster_error() {
    let err = bundle().verify(root_signer_with(8).verifier()).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::Roster(RosterError::Note(NoteError::NoSignature { .. }))
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("roster: "), "{err}");
    // The same with a roster the wrong root signed, checked with ours.
    let mut b = bundle();
    b.roster = roster().sign(&root_signer_with(8)).unwrap().note;
    assert!(matches!(verify(&b), Err(BundleError::Roster(_))));
}

#[test]
fn an_origin_outside_the_roster_is_named() {
    let mut b = bundle();
    b.origin = "minhou".into();
    let err = verify(&b).unwrap_err();
    assert_eq!(err, BundleError::UnknownOrigin("minhou".into()));
    assert!(err.to_string().starts_with("origin: 'minhou'"), "{err}");
}

#[test]
fn a_key_other_than_the_rosters_is_a_key_mismatch() {
    let mut b = bundle();
    b.origin_public_key = public_b64(FTZ_SEED);
    let err = verify(&b).unwrap_err();
    assert_eq!(
        err,
        BundleError::KeyMismatch {
            origin: "gulou".into(),
            version: 1,
            position: b.leaf_index,
        }
    );
    assert!(err.to_string().starts_with("origin_public_key: "), "{err}");

    // After a key rotation (roster v2 adds a key from a later position), an
    // old bundle still verifies: the history keeps the key of its position.
    let mut rotated = roster();
    rotated.version = 2;
    rotated.members[0]
        .keys
        .push(rongxin_protocol::roster::MemberKey {
            key: public_b64(42),
            from: Some(1000),
            compromised: false,
        });
    rotated.members[0].keys[0].compromised = true;
    let mut b = bundle();
    b.roster = rotated.sign(&root_signer()).unwrap().note;
    assert!(verify(&b).is_ok());
    // A roster whose key for that position is another one refuses it.
    let mut replaced = roster();
    replaced.version = 2;
    replaced.members[0].keys[0].key = public_b64(42);
    let mut b = bundle();
    b.roster = replaced.sign(&root_signer()).unwrap().note;
    assert_eq!(
        verify(&b),
        Err(BundleError::KeyMismatch {
            origin: "gulou".into(),
            version: 2,
            position: b.leaf_index,
        })
    );
}

#[test]
fn malformed_base64_fields_are_named() {
    type Break = fn(&mut Bundle);
    let cases: [(&str, Break); 5] = [
        ("origin_public_key", |b| {
            b.origin_public_key = "not base64".into()
        }),
        ("origin_public_key", |b| b.origin_public_key = b64(&[1; 31])),
        ("entry", |b| b.entry.push('!')),
        ("entry_signature", |b| b.entry_signature = b64(&[1; 63])),
        ("inclusion_proof", |b| b.inclusion_proof[2] = b64(&[1; 33])),
    ];
    for (field, break_it) in cases {
        let mut b = bundle();
        break_it(&mut b);
        let err = verify(&b).unwrap_err();
        assert!(
            matches!(&err, BundleError::Encoding { field: f, .. } if *f == field),
            "{field}: {err}"
        );
        assert!(err.to_string().starts_with(&format!("{field}: ")), "{err}");
    }
}

#[test]
fn an_entry_claiming_another_origin_or_position_is_a_mismatch() {
    // gulou signs an entry that claims to be ftz's.
    let claims_ftz = entry("ftz", LEAF, [5; 32], Op::Put(cf_record("1")))
        .sign(&key(GULOU_SEED))
        .unwrap();
    let mut b = bundle();
    b.entry = b64(&claims_ftz.bytes);
    b.entry_signature = b64(&claims_ftz.signature);
    let err = verify(&b).unwrap_err();
    assert!(
        matches!(&err, BundleError::EntryMismatch(m) if m.contains("origin is ftz")),
        "{err}"
    );
    for wrong in [5, 7, 0, u64::MAX] {
        let mut b = bundle();
        b.leaf_index = wrong;
        let err = verify(&b).unwrap_err();
        assert!(
            matches!(&err, BundleError::EntryMismatch(m) if m.contains("seq is 6")),
            "{wrong}: {err}"
        );
    }
}

#[test]
fn an_entry_not_signed_by_the_origin_is_an_entry_error() {
    let signed = log().entries[LEAF as usize].clone();
    let forged = rongxin_protocol::entry::Entry::decode(&signed.bytes)
        .unwrap()
        .sign(&key(FTZ_SEED))
        .unwrap();
    let mut b = bundle();
    b.entry_signature = b64(&forged.signature);
    let err = verify(&b).unwrap_err();
    assert!(
        matches!(err, BundleError::Entry(EntryError::Signature { .. })),
        "{err}"
    );
    assert!(err.to_string().starts_with("entry: "), "{err}");
}

#[test]
fn a_record_of_a_jurisdiction_the_origin_does_not_own_is_not_owner() {
    // gulou signs (with its own key) records of the FTZ's zone and of
    // 台江区, which no member of this roster owns; the roster gives ftz-fuzhou
    // to ftz.
    let mut ftz_record = cf_record("1");
    ftz_record.jurisdiction = "ftz-fuzhou".into();
    let mut taijiang_record = cf_record("2");
    taijiang_record.jurisdiction = "350103".into();
    let ops = vec![
        Op::Put(cf_record("0")),
        Op::Put(ftz_record.clone()),
        Op::Put(taijiang_record),
        revoke(ftz_record.key(), "榕自贸信修〔2026〕1号"),
    ];
    let rogue = build_log("gulou", GULOU_SEED, ops);
    assert!(verify(&rogue.bundle(0, GULOU_SEED, roster_note())).is_ok());
    for (leaf, jurisdiction, owner) in [
        (1, "ftz-fuzhou", "is owned by ftz"),
        (2, "350103", "no member owns"),
        (3, "ftz-fuzhou", "is owned by ftz"),
    ] {
        let err = verify(&rogue.bundle(leaf, GULOU_SEED, roster_note())).unwrap_err();
        let BundleError::NotOwner {
            key,
            jurisdiction: j,
            owner: o,
            origin,
        } = &err
        else {
            panic!("leaf {leaf}: {err}");
        };
        assert_eq!(
            (j.as_str(), o.as_str(), origin.as_str()),
            (jurisdiction, owner, "gulou")
        );
        assert_eq!(key.jurisdiction, jurisdiction);
        assert!(err.to_string().starts_with("ownership: "), "{err}");
    }
}

#[test]
fn a_checkpoint_not_signed_by_the_origin_is_a_checkpoint_error() {
    let cp = &log().checkpoint.checkpoint;
    // ftz's key signing gulou's checkpoint, under gulou's name or its own.
    let under_gulou = NoteSigner::new("rongxin.fuzhou/gulou", key(FTZ_SEED)).unwrap();
    let by_ftz = under_gulou.sign(&cp.body()).unwrap();
    let ftz_cp = Checkpoint {
        origin: "rongxin.fuzhou/ftz".into(),
        ..cp.clone()
    }
    .sign(&log_signer("ftz", FTZ_SEED))
    .unwrap()
    .note;
    // gulou's key signing a checkpoint of ftz's log.
    let wrong_log = log_signer("gulou", GULOU_SEED)
        .sign(
            &Checkpoint {
                origin: "rongxin.fuzhou/ftz".into(),
                ..cp.clone()
            }
            .body(),
        )
        .unwrap();
    for (note, origin_error) in [(by_ftz, false), (ftz_cp, false), (wrong_log, true)] {
        let mut b = bundle();
        b.checkpoint = note;
        let err = verify(&b).unwrap_err();
        if origin_error {
            assert!(
                matches!(err, BundleError::Checkpoint(CheckpointError::Origin { .. })),
                "{err}"
            );
        } else {
            assert!(
                matches!(
                    err,
                    BundleError::Checkpoint(CheckpointError::Note(NoteError::NoSignature { .. }))
                ),
                "{err}"
            );
        }
        assert!(err.to_string().starts_with("checkpoint: "), "{err}");
    }
}

#[test]
fn a_proof_for_another_tree_size_is_an_inclusion_error() {
    let hashes = &log().hashes;
    let signer = log_signer("gulou", GULOU_SEED);
    let checkpoint_of = |size: u64| {
        Checkpoint {
            origin: "rongxin.fuzhou/gulou".into(),
            size,
            root: tree_root(size, hashes).unwrap(),
        }
        .sign(&signer)
        .unwrap()
        .note
    };
    // The proof in a tree of 7 (or 8) against the checkpoint of 10, and the
    // proof in 10 against a checkpoint of 7.
    for (proof_size, checkpoint_size) in [(7, 10), (8, 10), (10, 7), (10, 8)] {
        let mut b = bundle();
        b.inclusion_proof = inclusion_proof(LEAF, proof_size, hashes)
            .unwrap()
            .iter()
            .map(|h| b64(h))
            .collect();
        b.checkpoint = checkpoint_of(checkpoint_size);
        let err = verify(&b).unwrap_err();
        assert!(
            matches!(err, BundleError::Inclusion(_)),
            "{proof_size}/{checkpoint_size}: {err}"
        );
        assert!(err.to_string().starts_with("inclusion_proof: "), "{err}");
    }
    // A checkpoint from before the entry existed.
    let mut b = bundle();
    b.checkpoint = checkpoint_of(LEAF);
    assert_eq!(
        verify(&b),
        Err(BundleError::Inclusion(MerkleError::IndexOutOfRange {
            index: LEAF,
            size: LEAF
        }))
    );
    // A proof with its hashes reordered, one dropped or one added.
    let mut b = bundle();
    b.inclusion_proof.swap(0, 1);
    assert!(matches!(verify(&b), Err(BundleError::Inclusion(_))));
    let mut b = bundle();
    b.inclusion_proof.pop();
    assert!(matches!(verify(&b), Err(BundleError::Inclusion(_))));
    let mut b = bundle();
    b.inclusion_proof.push(b64(&[0; 32]));
    assert!(matches!(verify(&b), Err(BundleError::Inclusion(_))));
}
