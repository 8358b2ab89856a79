//! Every single-byte change of a provenance bundle is refused, by the step
//! that checks the changed part: the entry bytes and signature, each
//! inclusion-proof hash, the checkpoint note, the roster note and the origin's
//! public key. Binary fields are changed in their decoded bytes (then
//! re-encoded); notes in their text, skipping changes that are not UTF-8.
//!
//! Ed25519 verification is slow in unoptimised test builds (~10 ms), so the
//! exhaustive loops flip one bit per byte; the proptest flips any bits.

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use rongxin_protocol::bundle::{Bundle, BundleError};
use rongxin_protocol::entry::EntryError;

const LEAF: u64 = 6;

fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| gulou_log().bundle(LEAF, GULOU_SEED, &signed_roster().note))
}

fn verify(b: &Bundle) -> Result<(), BundleError> {
    b.verify(&root_verifier()).map(drop)
}

/// `s` (base64) with byte `i` of what it encodes XORed with `delta`.
fn flip_b64(s: &str, i: usize, delta: u8) -> String {
    let mut bytes = unb64(s);
    bytes[i] ^= delta;
    b64(&bytes)
}

/// `s` with byte `i` XORed with `delta`, if that is still UTF-8.
fn flip_text(s: &str, i: usize, delta: u8) -> Option<String> {
    let mut bytes = s.as_bytes().to_vec();
    bytes[i] ^= delta;
    String::from_utf8(bytes).ok()
}

#[test]
fn the_untouched_bundle_verifies() {
    assert_eq!(verify(bundle()), Ok(()));
}

#[test]
fn every_byte_of_the_entry() {
    let len = unb64(&bundle().entry).len();
    assert!(len > 700, "a realistic penalty entry: {len} bytes");
    for i in 0..len {
        let mut b = bundle().clone();
        b.entry = flip_b64(&b.entry, i, 0x01);
        let err = verify(&b).unwrap_err();
        assert!(
            matches!(err, BundleError::Entry(EntryError::Signature { .. })),
            "entry byte {i}: {err}"
        );
    }
}

#[test]
fn every_byte_of_the_entry_signature() {
    for delta in [0x01, 0x80] {
        for i in 0..64 {
            let mut b = bundle().clone();
            b.entry_signature = flip_b64(&b.entry_signature, i, delta);
            let err = verify(&b).unwrap_err();
            assert!(
                matches!(err, BundleError::Entry(EntryError::Signature { .. })),
                "signature byte {i}: {err}"
            );
        }
    }
}

#[test]
fn every_byte_of_every_inclusion_proof_hash() {
    let hashes = bundle().inclusion_proof.len();
    assert_eq!(hashes, 4);
    for h in 0..hashes {
        for i in 0..32 {
            let mut b = bundle().clone();
            b.inclusion_proof[h] = flip_b64(&b.inclusion_proof[h], i, 0x01);
            let err = verify(&b).unwrap_err();
            assert!(
                matches!(err, BundleError::Inclusion(_)),
                "proof hash {h} byte {i}: {err}"
            );
        }
    }
}

#[test]
fn every_byte_of_the_checkpoint_note() {
    let note = &bundle().checkpoint;
    let mut tried = 0;
    for i in 0..note.len() {
        let Some(changed) = flip_text(note, i, 0x01) else {
            continue;
        };
        tried += 1;
        let mut b = bundle().clone();
        b.checkpoint = changed;
        let err = verify(&b).unwrap_err();
        assert!(
            matches!(err, BundleError::Checkpoint(_)),
            "checkpoint byte {i}: {err}"
        );
    }
    assert!(tried > note.len() / 2, "{tried}");
}

#[test]
fn every_byte_of_the_roster_note() {
    let note = &bundle().roster;
    let mut tried = 0;
    for i in 0..note.len() {
        let Some(changed) = flip_text(note, i, 0x01) else {
            continue;
        };
        tried += 1;
        let mut b = bundle().clone();
        b.roster = changed;
        let err = verify(&b).unwrap_err();
        assert!(
            matches!(err, BundleError::Roster(_)),
            "roster byte {i}: {err}"
        );
    }
    assert!(tried > note.len() / 2, "{tried}");
}

#[test]
fn every_byte_of_the_origin_public_key() {
    for delta in [0x01, 0x80, 0xff] {
        for i in 0..32 {
            let mut b = bundle().clone();
            b.origin_public_key = flip_b64(&b.origin_public_key, i, delta);
            let err = verify(&b).unwrap_err();
            assert!(
                matches!(err, BundleError::KeyMismatch { .. }),
                "key byte {i} ^ {delta:#x}: {err}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_change_of_any_part_is_refused(
        part in 0..6usize,
        hash in 0..4usize,
        at in any::<prop::sample::Index>(),
        delta in 1u8..=255,
    ) {
        let mut b = bundle().clone();
        match part {
            0 => {
                let i = at.index(unb64(&b.entry).len());
                b.entry = flip_b64(&b.entry, i, delta);
            }
            1 => b.entry_signature = flip_b64(&b.entry_signature, at.index(64), delta),
            2 => b.inclusion_proof[hash] = flip_b64(&b.inclusion_proof[hash], at.index(32), delta),
            3 => b.origin_public_key = flip_b64(&b.origin_public_key, at.index(32), delta),
            4 => match flip_text(&b.checkpoint, at.index(b.checkpoint.len()), delta) {
                Some(t) => b.checkpoint = t,
                None => return Ok(()),
            },
            _ => match flip_text(&b.roster, at.index(b.roster.len()), delta) {
                Some(t) => b.roster = t,
                None => return Ok(()),
            },
        }
        prop_assert!(verify(&b).is_err());
    }
}
