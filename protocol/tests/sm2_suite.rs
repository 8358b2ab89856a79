//! The `sm2-sm3` suite end to end: an SM2-signed log with an SM3 Merkle
//! tree, its checkpoint and roster as SM2 signed notes, and a bundle that
//! verifies; mixing suites anywhere is refused by name.

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use common::{FEDERATION, GULOU_SEED, ROOT_SEED, cf_record, entry, record_no};
use rongxin_protocol::bundle::BundleError;
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::{Entry, EntryError, Op, SignedEntry};
use rongxin_protocol::merkle::{MemoryHashes, inclusion_proof, leaf_hash, tree_root};
use rongxin_protocol::note::NoteSigner;
use rongxin_protocol::roster::{MemberKey, Roster, RosterError, SignedRoster};
use rongxin_protocol::suite::{SecretKey, Suite};

const SM: Suite = Suite::Sm2Sm3;

fn sm_key(seed: u8) -> SecretKey {
    SecretKey::from_bytes(SM, &[seed; 32]).unwrap()
}

fn sm_roster() -> Roster {
    let mut r = common::roster();
    r.suite = SM;
    r.catalog_digest = SM.file_digest(common::CATALOG_TOML.as_bytes());
    for (m, seed) in r.members.iter_mut().zip([GULOU_SEED, 2, 3]) {
        m.keys = vec![MemberKey {
            key: sm_key(seed).public().to_base64(),
            from: Some(0),
            compromised: false,
        }];
    }
    r
}

fn sm_root() -> NoteSigner {
    NoteSigner::new(&format!("{FEDERATION}/root"), sm_key(ROOT_SEED)).unwrap()
}

/// gulou's log of four penalties signed with SM2, its SM3 tree and checkpoint.
fn sm_log() -> (Vec<SignedEntry>, MemoryHashes, String) {
    let mut entries: Vec<SignedEntry> = Vec::new();
    let mut hashes = MemoryHashes::new(SM);
    for n in 0..4u64 {
        let prev = entries.last().map_or([0; 32], |e| e.leaf_hash(SM));
        let e = entry("gulou", n, prev, Op::Put(cf_record(&record_no(n))))
            .sign(&sm_key(GULOU_SEED))
            .unwrap();
        hashes.push_leaf(e.leaf_hash(SM)).unwrap();
        entries.push(e);
    }
    let cp = Checkpoint {
        origin: format!("{FEDERATION}/gulou"),
        size: 4,
        root: tree_root(4, &hashes).unwrap(),
    }
    .sign(&NoteSigner::new(&format!("{FEDERATION}/gulou"), sm_key(GULOU_SEED)).unwrap())
    .unwrap();
    (entries, hashes, cp.note)
}

#[test]
fn sm2_entries_carry_their_suite_and_verify_only_with_sm2_keys() {
    let (entries, _, _) = sm_log();
    let e = &entries[0];
    assert_eq!(&e.bytes[..15], b"rongxin/entry\n\x02");
    assert_eq!(Entry::suite_of(&e.bytes), Ok(SM));
    assert_eq!(e.verify(sm_key(GULOU_SEED).public()).unwrap().seq, 0);
    // SM3 leaf hash, not SHA-256.
    assert_ne!(e.leaf_hash(SM), e.leaf_hash(Suite::Ed25519Sha256));
    assert_eq!(e.leaf_hash(SM), leaf_hash(SM, &e.bytes));
    // Another SM2 key, or an Ed25519 key, does not verify it.
    assert!(matches!(
        e.verify(sm_key(2).public()),
        Err(EntryError::Signature { .. })
    ));
    let ed = SecretKey::from_bytes(Suite::Ed25519Sha256, &[GULOU_SEED; 32]).unwrap();
    assert!(e.verify(ed.public()).is_err());
    // Ed25519-signed bytes of the same entry are refused by an SM2 log
    // even with a valid signature: the tag names the other suite.
    let ed_signed = entry("gulou", 0, [0; 32], Op::Put(cf_record(&record_no(0))))
        .sign(&ed)
        .unwrap();
    let forged = SignedEntry {
        bytes: ed_signed.bytes.clone(),
        signature: sm_key(GULOU_SEED).sign(&ed_signed.bytes),
    };
    assert_eq!(
        forged.verify(sm_key(GULOU_SEED).public()),
        Err(EntryError::Suite {
            expected: SM,
            found: Suite::Ed25519Sha256
        })
    );
}

#[test]
fn an_sm2_roster_checkpoint_and_bundle_verify_end_to_end() {
    let signed = sm_roster().sign(&sm_root()).unwrap();
    assert!(signed.note.starts_with("rongxin-roster/v2\n"));
    let opened = SignedRoster::open(&signed.note, sm_root().verifier()).unwrap();
    assert_eq!(opened.roster.suite, SM);

    let (entries, hashes, cp) = sm_log();
    let roster = &opened.roster;
    assert_eq!(
        roster
            .verify_entries(
                "gulou",
                0,
                &entries,
                &mut roster.member("gulou").unwrap().key_starts()
            )
            .unwrap()
            .len(),
        4
    );
    let opened_cp = roster.open_checkpoint("gulou", &cp).unwrap();
    assert_eq!(opened_cp.checkpoint.size, 4);

    let proof = inclusion_proof(2, 4, &hashes).unwrap();
    let bundle = rongxin_protocol::bundle::Bundle::new(
        &entries[2],
        2,
        "gulou",
        sm_key(GULOU_SEED).public(),
        &proof,
        &cp,
        &signed.note,
    );
    assert_eq!(bundle.suite, Some(SM));
    let v = bundle.verify(sm_root().verifier()).unwrap();
    assert_eq!(v.entry.seq, 2);
    // An Ed25519 root does not open the SM2 roster.
    let ed_root = NoteSigner::new(
        &format!("{FEDERATION}/root"),
        SecretKey::from_bytes(Suite::Ed25519Sha256, &[ROOT_SEED; 32]).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        bundle.verify(ed_root.verifier()),
        Err(BundleError::Roster(_))
    ));
    // A proof computed with SHA-256 nodes does not lead to the SM3 root.
    let mut ed_hashes = MemoryHashes::new(Suite::Ed25519Sha256);
    for e in &entries {
        ed_hashes
            .push_leaf(e.leaf_hash(Suite::Ed25519Sha256))
            .unwrap();
    }
    let mut wrong = bundle.clone();
    wrong.inclusion_proof = inclusion_proof(2, 4, &ed_hashes)
        .unwrap()
        .iter()
        .map(|h| common::b64(h))
        .collect();
    assert!(matches!(
        wrong.verify(sm_root().verifier()),
        Err(BundleError::Inclusion(_))
    ));
}

#[test]
fn a_roster_of_one_suite_refuses_keys_and_roots_of_the_other() {
    // Ed25519 keys in an sm2-sm3 roster.
    let mut r = sm_roster();
    r.members[0].keys[0].key = common::public_b64(GULOU_SEED);
    let err = r.validate().unwrap_err();
    assert!(err.to_string().contains("member gulou"), "{err}");
    assert!(err.to_string().contains("sm2-sm3 public key"), "{err}");
    // A catalog digest of the wrong hash.
    let mut r = sm_roster();
    r.catalog_digest = common::catalog_digest();
    assert!(r.validate().unwrap_err().to_string().contains("'sm3:'"));
    // The root key must be of the roster's suite, when signing and opening.
    let ed_root = common::root_signer();
    assert!(matches!(
        sm_roster().sign(&ed_root),
        Err(RosterError::Invalid(m)) if m.contains("root key is ed25519-sha256")
    ));
    let text = format!("rongxin-roster/v2\n{}", sm_roster().to_toml().unwrap());
    let note = ed_root.sign(&text).unwrap();
    assert!(matches!(
        SignedRoster::open(&note, ed_root.verifier()),
        Err(RosterError::Invalid(m)) if m.contains("suite is sm2-sm3")
    ));
}

#[test]
fn a_first_format_roster_still_opens_as_ed25519() {
    let r = common::roster();
    let members: String = r
        .members
        .iter()
        .map(|m| {
            format!(
                "[[members]]\nid = \"{}\"\nname = \"{}\"\nrole = \"{}\"\njurisdictions = [\"{}\"]\nsigning_key = \"{}\"\npeer_id = \"{}\"\n",
                m.id,
                m.name,
                format!("{:?}", m.role).to_lowercase(),
                m.jurisdictions[0],
                m.keys[0].key,
                m.peer_id
            )
        })
        .collect();
    let text = format!(
        "rongxin-roster/v1\nfederation = \"{FEDERATION}\"\nversion = 1\nvalid_from = \"2026-01-01\"\nvalid_until = \"2027-12-31\"\ncatalog_digest = \"{}\"\n{members}",
        r.catalog_digest
    );
    let note = common::root_signer().sign(&text).unwrap();
    let opened = SignedRoster::open(&note, &common::root_verifier()).unwrap();
    assert_eq!(opened.roster.suite, Suite::Ed25519Sha256);
    let gulou = opened.roster.member("gulou").unwrap();
    assert_eq!(gulou.keys.len(), 1);
    assert_eq!(gulou.keys[0].from, Some(0));
    assert_eq!(gulou.keys[0].key, common::public_b64(GULOU_SEED));
}
