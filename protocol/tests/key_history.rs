//! Key histories (docs/protocol.md §6.1): a member rotates by a handover
//! entry its old key signs, or the root fixes a new key's start after a
//! compromise; every entry, checkpoint and bundle of any age verifies with
//! the key of its position, and every other key is refused.

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use common::*;
use rongxin_protocol::bundle::{Bundle, BundleError, BundleHandover};
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::{EntryError, KeyHandover, Op, SignedEntry};
use rongxin_protocol::merkle::{MemoryHashes, inclusion_proof, tree_root};
use rongxin_protocol::note::NoteSigner;
use rongxin_protocol::roster::{MemberKey, Roster};

/// gulou's second key.
const NEXT_SEED: u8 = 40;
/// Where gulou hands over: entry 4 names the next key, entries 5.. use it.
const HANDOVER: u64 = 4;

/// The fixture roster with gulou's next key added (pending, or from a
/// position the root fixed).
fn roster_with_next(from: Option<u64>, compromised: bool) -> Roster {
    let mut r = roster();
    r.version = 2;
    r.members[0].keys[0].compromised = compromised;
    r.members[0].keys.push(MemberKey {
        key: public_b64(NEXT_SEED),
        from,
        compromised: false,
    });
    r
}

fn handover_op(seed: u8) -> Op {
    Op::KeyHandover(KeyHandover {
        key: key(seed).public().as_bytes().to_vec(),
    })
}

/// gulou's log of 10 entries: 0..=3 penalties and 4 the handover signed by
/// the first key, 5..=9 penalties signed by `after` (the next key unless a
/// test forges), a tree and a checkpoint signed by `cp_seed`.
struct Rotated {
    entries: Vec<SignedEntry>,
    hashes: MemoryHashes,
    checkpoint: String,
}

fn rotated_log(handover: Option<Op>, after: u8, cp_seed: u8) -> Rotated {
    let mut entries: Vec<SignedEntry> = Vec::new();
    let mut hashes = MemoryHashes::new(SUITE);
    for seq in 0..10u64 {
        let op = match (&handover, seq) {
            (Some(op), HANDOVER) => op.clone(),
            _ => Op::Put(cf_record(&record_no(seq))),
        };
        let seed = if seq <= HANDOVER { GULOU_SEED } else { after };
        let prev = entries.last().map_or([0; 32], |e| e.leaf_hash(SUITE));
        let signed = entry("gulou", seq, prev, op).sign(&key(seed)).unwrap();
        hashes.push_leaf(signed.leaf_hash(SUITE)).unwrap();
        entries.push(signed);
    }
    let checkpoint = Checkpoint {
        origin: format!("{FEDERATION}/gulou"),
        size: 10,
        root: tree_root(10, &hashes).unwrap(),
    }
    .sign(&NoteSigner::new(&format!("{FEDERATION}/gulou"), key(cp_seed)).unwrap())
    .unwrap()
    .note;
    Rotated {
        entries,
        hashes,
        checkpoint,
    }
}

fn verify(r: &Roster, from: u64, entries: &[SignedEntry]) -> Result<u64, EntryError> {
    let mut starts = r.member("gulou").unwrap().key_starts();
    r.verify_entries("gulou", from, entries, &mut starts)?;
    Ok(starts.start(1).unwrap_or(u64::MAX))
}

#[test]
fn a_handover_switches_keys_at_the_position_the_log_states() {
    let r = roster_with_next(None, false);
    r.validate().unwrap();
    let log = rotated_log(Some(handover_op(NEXT_SEED)), NEXT_SEED, NEXT_SEED);
    // Whole, and in batches that straddle the switch: key 2 starts at 5.
    assert_eq!(verify(&r, 0, &log.entries), Ok(HANDOVER + 1));
    let mut starts = r.member("gulou").unwrap().key_starts();
    for (from, part) in [
        (0, &log.entries[..3]),
        (3, &log.entries[3..7]),
        (7, &log.entries[7..]),
    ] {
        r.verify_entries("gulou", from, part, &mut starts).unwrap();
    }
    assert_eq!(starts.start(1), Some(HANDOVER + 1));
    assert_eq!(starts.known(), vec![(0, 0), (1, HANDOVER + 1)]);
    // The city may confirm the position later: the same log verifies.
    let confirmed = roster_with_next(Some(HANDOVER + 1), false);
    assert_eq!(verify(&confirmed, 0, &log.entries), Ok(HANDOVER + 1));
}

#[test]
fn every_other_key_or_handover_is_refused_at_its_entry() {
    let r = roster_with_next(None, false);
    // The old key signing after its own handover.
    let log = rotated_log(Some(handover_op(NEXT_SEED)), GULOU_SEED, GULOU_SEED);
    assert_eq!(
        verify(&r, 0, &log.entries),
        Err(EntryError::BatchSignature {
            index: HANDOVER as usize + 1
        })
    );
    // The new key before any handover.
    let log = rotated_log(None, NEXT_SEED, NEXT_SEED);
    assert_eq!(
        verify(&r, 0, &log.entries),
        Err(EntryError::BatchSignature {
            index: HANDOVER as usize + 1
        })
    );
    // A handover to a key the roster does not list.
    let log = rotated_log(Some(handover_op(41)), 41, 41);
    let err = verify(&r, 0, &log.entries).unwrap_err();
    assert!(err.to_string().contains("not gulou's key 2"), "{err}");
    // A handover at another position than the start the root fixed.
    let fixed = roster_with_next(Some(8), false);
    let log = rotated_log(Some(handover_op(NEXT_SEED)), NEXT_SEED, NEXT_SEED);
    let err = verify(&fixed, 0, &log.entries).unwrap_err();
    assert!(
        err.to_string().contains("which the roster starts at 8"),
        "{err}"
    );
    // A handover with no key after the current one.
    let log = rotated_log(Some(handover_op(NEXT_SEED)), NEXT_SEED, NEXT_SEED);
    let err = verify(&roster(), 0, &log.entries).unwrap_err();
    assert!(err.to_string().contains("no key after key 1"), "{err}");
}

#[test]
fn after_a_compromise_the_root_fixes_the_start_and_the_old_key_is_refused() {
    // No handover: the root says key 2 signs from 5; key 1 is compromised.
    let r = roster_with_next(Some(HANDOVER + 1), true);
    r.validate().unwrap();
    let good = rotated_log(None, NEXT_SEED, NEXT_SEED);
    assert_eq!(verify(&r, 0, &good.entries), Ok(HANDOVER + 1));
    let forged = rotated_log(None, GULOU_SEED, GULOU_SEED);
    assert_eq!(
        verify(&r, 0, &forged.entries),
        Err(EntryError::BatchSignature {
            index: HANDOVER as usize + 1
        })
    );
    // A compromise never waits for a handover: the next key needs a from.
    let pending = roster_with_next(None, true);
    let err = pending.validate().unwrap_err();
    assert!(err.to_string().contains("needs a from"), "{err}");
}

#[test]
fn checkpoints_past_an_unseen_handover_open_with_the_pending_key() {
    let r = roster_with_next(None, false);
    let log = rotated_log(Some(handover_op(NEXT_SEED)), NEXT_SEED, NEXT_SEED);
    let before = r.member("gulou").unwrap().key_starts();
    // Not knowing the handover yet: the pending key 2 is tried, and named.
    let (cp, index) = r
        .open_checkpoint_at("gulou", &log.checkpoint, &before)
        .unwrap();
    assert_eq!((cp.checkpoint.size, index), (10, 1));
    assert_eq!(before.index_at(9), 0, "the caller must check again");
    // With the handover learned, key 2 is the key of position 9.
    let mut after = before.clone();
    r.verify_entries("gulou", 0, &log.entries, &mut after)
        .unwrap();
    assert_eq!(after.index_at(9), 1);
    // A checkpoint by a key that is neither is refused.
    let other = rotated_log(Some(handover_op(NEXT_SEED)), NEXT_SEED, 41);
    assert!(
        r.open_checkpoint_at("gulou", &other.checkpoint, &before)
            .is_err()
    );
}

#[test]
fn bundles_carry_the_handovers_an_offline_auditor_needs() {
    let r = roster_with_next(None, false);
    let roster_note = r.sign(&root_signer()).unwrap().note;
    let log = rotated_log(Some(handover_op(NEXT_SEED)), NEXT_SEED, NEXT_SEED);
    let handover = BundleHandover::new(
        &log.entries[HANDOVER as usize],
        HANDOVER,
        &inclusion_proof(HANDOVER, 10, &log.hashes).unwrap(),
    );
    let bundle = |seq: u64, seed: u8, handovers: Vec<BundleHandover>| {
        let mut b = Bundle::new(
            &log.entries[seq as usize],
            seq,
            "gulou",
            key(seed).public(),
            &inclusion_proof(seq, 10, &log.hashes).unwrap(),
            &log.checkpoint,
            &roster_note,
        );
        b.handovers = handovers;
        b
    };
    // An entry of the new key, and one of the old key under a checkpoint of
    // the new key: both verify with the handover, and survive JSON.
    for (seq, seed) in [(7, NEXT_SEED), (2, GULOU_SEED), (HANDOVER, GULOU_SEED)] {
        let b = bundle(seq, seed, vec![handover.clone()]);
        let text = serde_json::to_string(&b).unwrap();
        assert!(text.contains("\"handovers\""), "{text}");
        let back: Bundle = serde_json::from_str(&text).unwrap();
        assert_eq!(back.verify(&root_verifier()).unwrap().entry.seq, seq);
    }
    // Without the handover, the roster alone gives position 7 to key 1.
    assert!(matches!(
        bundle(7, NEXT_SEED, Vec::new()).verify(&root_verifier()),
        Err(BundleError::KeyMismatch { position: 7, .. })
    ));
    // Nor does the old key's checkpoint key open the new key's checkpoint.
    assert!(matches!(
        bundle(2, GULOU_SEED, Vec::new()).verify(&root_verifier()),
        Err(BundleError::Checkpoint(_))
    ));
    // A handover whose proof does not lead to the checkpoint is refused.
    let mut bad = handover.clone();
    bad.inclusion_proof = inclusion_proof(3, 10, &log.hashes)
        .unwrap()
        .iter()
        .map(|h| b64(h))
        .collect();
    assert!(matches!(
        bundle(7, NEXT_SEED, vec![bad]).verify(&root_verifier()),
        Err(BundleError::Inclusion(_))
    ));
    // An ordinary entry passed off as a handover is refused.
    let fake = BundleHandover::new(
        &log.entries[3],
        3,
        &inclusion_proof(3, 10, &log.hashes).unwrap(),
    );
    assert!(matches!(
        bundle(7, NEXT_SEED, vec![fake]).verify(&root_verifier()),
        Err(BundleError::EntryMismatch(_))
    ));
    // The same handover twice, or out of order, is refused.
    assert!(matches!(
        bundle(7, NEXT_SEED, vec![handover.clone(), handover.clone()]).verify(&root_verifier()),
        Err(BundleError::EntryMismatch(m)) if m.contains("increasing")
    ));
    // Bundles without handovers keep the JSON of before.
    let plain = serde_json::to_string(&bundle(2, GULOU_SEED, Vec::new())).unwrap();
    assert!(!plain.contains("handovers"), "{plain}");
}
