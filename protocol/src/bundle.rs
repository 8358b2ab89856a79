//! Provenance bundles: everything an auditor needs to check one record
//! offline, trusting nothing but the federation root key.
//!
//! A bundle (JSON, format `rongxin-bundle/2`) names its signature suite and
//! holds the exact signed entry bytes and signature, the origin's public key
//! that signed it, an RFC 6962 inclusion proof of the entry in the origin's
//! log, a checkpoint signed by the origin that commits to that log, and the
//! root-signed roster that names the origin's key history and
//! jurisdictions. Bundles of the first format (`rongxin-bundle/1`, no suite:
//! Ed25519/SHA-256) still verify. [`Bundle::verify`] checks every part and names the
//! first one that fails.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::entry::{Entry, EntryError, SignedEntry};
use crate::merkle::{Hash, MerkleError, verify_inclusion};
use crate::note::NoteVerifier;
use crate::record::RecordKey;
use crate::roster::{RosterError, SignedRoster};
use crate::suite::{PublicKey, Suite};

/// The value of a bundle's `format` field.
pub const BUNDLE_FORMAT: &str = "rongxin-bundle/2";
/// The first bundle format, without `suite` (always Ed25519/SHA-256).
pub const BUNDLE_FORMAT_V1: &str = "rongxin-bundle/1";

/// A provenance bundle, as serialised to JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`] (or [`BUNDLE_FORMAT_V1`] in old bundles).
    pub format: String,
    /// The federation's signature suite (absent in the first format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<Suite>,
    /// Member id of the origin.
    pub origin: String,
    /// Position of the entry in the origin's log (its seq).
    pub leaf_index: u64,
    /// Base64 of the exact signed entry bytes.
    pub entry: String,
    /// Base64 of the 64-byte signature over `entry`.
    pub entry_signature: String,
    /// Base64 of the origin's public key that signs position `leaf_index`.
    pub origin_public_key: String,
    /// Base64 32-byte hashes, RFC 6962 audit path from leaf to root.
    pub inclusion_proof: Vec<String>,
    /// The origin's signed checkpoint note the proof leads to.
    pub checkpoint: String,
    /// The root-signed roster note naming the origin's key.
    pub roster: String,
    /// The origin's key handovers that fix the starts of its pending keys
    /// up to the entry and the checkpoint (docs/protocol.md §6.1, §7).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handovers: Vec<BundleHandover>,
}

/// A `KeyHandover` entry of the origin, proven against the bundle's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleHandover {
    /// Its position.
    pub leaf_index: u64,
    /// Base64 of the exact entry bytes.
    pub entry: String,
    /// Base64 of the 64-byte signature over `entry`.
    pub entry_signature: String,
    /// Base64 32-byte hashes, its RFC 6962 audit path in the checkpoint's tree.
    pub inclusion_proof: Vec<String>,
}

impl BundleHandover {
    /// A handover entry with its proof.
    pub fn new(signed: &SignedEntry, leaf_index: u64, proof: &[Hash]) -> BundleHandover {
        BundleHandover {
            leaf_index,
            entry: B64.encode(&signed.bytes),
            entry_signature: B64.encode(signed.signature),
            inclusion_proof: proof.iter().map(|h| B64.encode(h)).collect(),
        }
    }
}

/// Which check of a bundle failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The format field is not [`BUNDLE_FORMAT`] or [`BUNDLE_FORMAT_V1`],
    /// or the suite is missing, unexpected or not the roster's.
    #[error("format: {0}")]
    Format(String),
    /// A field is not valid base64 of the right length.
    #[error("{field}: {problem}")]
    Encoding {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The roster is not signed by the given root or is invalid.
    #[error("roster: {0}")]
    Roster(#[from] RosterError),
    /// The origin is not a member of the roster.
    #[error("origin: '{0}' is not a member of the roster")]
    UnknownOrigin(String),
    /// The bundle's key is not the roster's key for the origin.
    #[error(
        "origin_public_key: not the key the roster (version {version}) lists for {origin} at position {position}"
    )]
    KeyMismatch {
        /// The origin.
        origin: String,
        /// The roster's version.
        version: u64,
        /// The entry's position.
        position: u64,
    },
    /// The entry signature fails, or the entry bytes are malformed.
    #[error("entry: {0}")]
    Entry(#[from] EntryError),
    /// The entry's origin or seq is not what the bundle claims.
    #[error("entry: {0}")]
    EntryMismatch(String),
    /// The origin does not own the record's jurisdiction.
    #[error(
        "ownership: record {key} is in jurisdiction {jurisdiction}, which {owner}, not {origin}"
    )]
    NotOwner {
        /// The record.
        key: RecordKey,
        /// Its jurisdiction.
        jurisdiction: String,
        /// Who owns it instead ("is owned by X" or "no member owns").
        owner: String,
        /// The entry's origin.
        origin: String,
    },
    /// The checkpoint is not signed by the origin or is malformed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("inclusion_proof: {0}")]
    Inclusion(#[from] MerkleError),
}

/// What a verified bundle proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    /// The decoded entry.
    pub entry: Entry,
    /// The checkpoint the entry is included in.
    pub checkpoint: Checkpoint,
    /// Version of the roster that names the origin's key.
    pub roster_version: u64,
    /// Federation name.
    pub federation: String,
}

impl Bundle {
    /// Assembles a bundle.
    pub fn new(
        signed: &SignedEntry,
        leaf_index: u64,
        origin: &str,
        origin_key: &PublicKey,
        proof: &[Hash],
        checkpoint_note: &str,
        roster_note: &str,
    ) -> Bundle {
        Bundle {
            format: BUNDLE_FORMAT.to_owned(),
            suite: Some(origin_key.suite()),
            origin: origin.to_owned(),
            leaf_index,
            entry: B64.encode(&signed.bytes),
            entry_signature: B64.encode(signed.signature),
            origin_public_key: origin_key.to_base64(),
            inclusion_proof: proof.iter().map(|h| B64.encode(h)).collect(),
            checkpoint: checkpoint_note.to_owned(),
            roster: roster_note.to_owned(),
            handovers: Vec::new(),
        }
    }

    /// Checks everything, in order: format; roster signed by `root`; origin
    /// in the roster with exactly this key; entry signature; entry origin and
    /// seq; the origin owns the record's jurisdiction; checkpoint signed by
    /// the origin; inclusion of the entry in the checkpoint's tree.
    pub fn verify(&self, root: &NoteVerifier) -> Result<VerifiedBundle, BundleError> {
        let suite = match (self.format.as_str(), self.suite) {
            (BUNDLE_FORMAT, Some(suite)) => suite,
            (BUNDLE_FORMAT, None) => {
                return Err(BundleError::Format(format!(
                    "a {BUNDLE_FORMAT} bundle names its suite"
                )));
            }
            (BUNDLE_FORMAT_V1, None) => Suite::Ed25519Sha256,
            (BUNDLE_FORMAT_V1, Some(_)) => {
                return Err(BundleError::Format(format!(
                    "a {BUNDLE_FORMAT_V1} bundle has no suite field"
                )));
            }
            (other, _) => {
                return Err(BundleError::Format(format!(
                    "'{other}' is neither {BUNDLE_FORMAT} nor {BUNDLE_FORMAT_V1}"
                )));
            }
        };
        let roster = SignedRoster::open(&self.roster, root)?.roster;
        if roster.suite != suite {
            return Err(BundleError::Format(format!(
                "the bundle says suite {suite}, its roster says {}",
                roster.suite
            )));
        }
        let member = roster
            .member(&self.origin)
            .ok_or_else(|| BundleError::UnknownOrigin(self.origin.clone()))?;
        // The handovers fix the starts of pending keys; each is signed by the
        // key of its position as known so far, and proven below.
        let mut starts = member.key_starts();
        let mut handovers = Vec::with_capacity(self.handovers.len());
        for (n, h) in self.handovers.iter().enumerate() {
            if n > 0 && h.leaf_index <= self.handovers[n - 1].leaf_index {
                return Err(BundleError::EntryMismatch(format!(
                    "handovers are not in increasing positions ({} after {})",
                    h.leaf_index,
                    self.handovers[n - 1].leaf_index
                )));
            }
            let signed = SignedEntry {
                bytes: decode_b64(&h.entry, "handovers.entry", 0)?,
                signature: decode_b64(&h.entry_signature, "handovers.entry_signature", 64)?
                    .try_into()
                    .map_err(|_| enc("handovers.entry_signature", "not 64 bytes"))?,
            };
            roster
                .verify_entries(
                    &self.origin,
                    h.leaf_index,
                    std::slice::from_ref(&signed),
                    &mut starts,
                )
                .map_err(BundleError::Entry)?;
            let entry = Entry::decode(&signed.bytes)?;
            if entry.origin != self.origin
                || entry.seq != h.leaf_index
                || !matches!(entry.op, crate::entry::Op::KeyHandover(_))
            {
                return Err(BundleError::EntryMismatch(format!(
                    "handover {} is not a key handover of {} at that position",
                    h.leaf_index, self.origin
                )));
            }
            handovers.push((h.leaf_index, signed, decode_proof(&h.inclusion_proof)?));
        }
        let key = member.key(suite, starts.index_at(self.leaf_index))?;
        let claimed = decode_b64(
            &self.origin_public_key,
            "origin_public_key",
            suite.public_key_len(),
        )?;
        if claimed != key.as_bytes() {
            return Err(BundleError::KeyMismatch {
                origin: self.origin.clone(),
                version: roster.version,
                position: self.leaf_index,
            });
        }
        let signed = SignedEntry {
            bytes: decode_b64(&self.entry, "entry", 0)?,
            signature: decode_b64(&self.entry_signature, "entry_signature", 64)?
                .try_into()
                .map_err(|_| enc("entry_signature", "not 64 bytes"))?,
        };
        let entry = signed.verify(&key)?;
        if entry.origin != self.origin {
            return Err(BundleError::EntryMismatch(format!(
                "the entry's origin is {}, the bundle says {}",
                entry.origin, self.origin
            )));
        }
        if entry.seq != self.leaf_index {
            return Err(BundleError::EntryMismatch(format!(
                "the entry's seq is {}, the bundle's leaf_index is {}",
                entry.seq, self.leaf_index
            )));
        }
        match entry.record_key().map(|k| (roster.owner_of_key(&k), k)) {
            None => {}
            Some((Some(owner), _)) if owner.id == self.origin => {}
            Some((other, record_key)) => {
                return Err(BundleError::NotOwner {
                    jurisdiction: record_key.jurisdiction.clone(),
                    key: record_key,
                    owner: other.map_or("no member owns".to_owned(), |m| {
                        format!("is owned by {}", m.id)
                    }),
                    origin: self.origin.clone(),
                });
            }
        }
        let size = crate::checkpoint::stated_size(&self.checkpoint);
        let verifier = crate::note::NoteVerifier::new(
            &roster.log_origin(&self.origin),
            member.key(suite, starts.index_at(size.saturating_sub(1)))?,
        )
        .map_err(|e| BundleError::Checkpoint(e.into()))?;
        let checkpoint =
            crate::checkpoint::SignedCheckpoint::open(&self.checkpoint, &verifier)?.checkpoint;
        for (index, signed, proof) in &handovers {
            verify_inclusion(
                suite,
                &signed.leaf_hash(suite),
                *index,
                checkpoint.size,
                proof,
                &checkpoint.root,
            )?;
        }
        let proof = decode_proof(&self.inclusion_proof)?;
        verify_inclusion(
            suite,
            &signed.leaf_hash(suite),
            self.leaf_index,
            checkpoint.size,
            &proof,
            &checkpoint.root,
        )?;
        Ok(VerifiedBundle {
            entry,
            checkpoint,
            roster_version: roster.version,
            federation: roster.federation,
        })
    }
}

fn enc(field: &'static str, problem: &str) -> BundleError {
    BundleError::Encoding {
        field,
        problem: problem.to_owned(),
    }
}

fn decode_proof(hashes: &[String]) -> Result<Vec<Hash>, BundleError> {
    hashes
        .iter()
        .map(|h| {
            decode_b64(h, "inclusion_proof", 32).and_then(|v| {
                v.try_into()
                    .map_err(|_| enc("inclusion_proof", "not 32 bytes"))
            })
        })
        .collect()
}

/// Decodes base64; `len` 0 means any length.
fn decode_b64(s: &str, field: &'static str, len: usize) -> Result<Vec<u8>, BundleError> {
    let v = B64.decode(s).map_err(|_| enc(field, "not valid base64"))?;
    if len != 0 && v.len() != len {
        return Err(enc(field, &format!("{} bytes, expected {len}", v.len())));
    }
    Ok(v)
}
