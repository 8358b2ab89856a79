//! Signed log entries: the one format every origin signs and every copy keeps.
//!
//! An entry's bytes are the 15-byte tag `rongxin/entry\n` + a version byte
//! that names the format and the signature suite (`0x01` Ed25519/SHA-256,
//! `0x02` SM2/SM3; the body is the same in both), followed by the bincode
//! encoding of [`Entry`] in a fixed configuration (big-endian, fixed-width
//! integers; see docs/protocol.md for the byte layout). The origin's
//! signature covers exactly those bytes, and they are the RFC 6962 leaf of
//! the origin's Merkle tree. The tag makes an entry
//! signature impossible to take for a checkpoint or any other signed message.
//!
//! Bytes are decoded only after their signature has been checked
//! ([`SignedEntry::verify`]), decoding reads bounded input, never panics, and
//! refuses any encoding that is not the canonical one, so equal entries
//! always have equal bytes.

use bincode::{Decode, Encode};
use serde::Serialize;

use crate::merkle::{Hash, leaf_hash};
use crate::record::{Record, RecordKey};
use crate::suite::{PublicKey, SecretKey, Suite};
use crate::value::Date;

/// The tag of Ed25519/SHA-256 entries (the first format).
pub const ENTRY_TAG: &[u8; 15] = b"rongxin/entry\n\x01";

/// The domain-separation string that opens every entry, before the version
/// byte ([`Suite::entry_version`]).
pub const ENTRY_TAG_PREFIX: &[u8; 14] = b"rongxin/entry\n";

/// The 15-byte tag that opens the entries of `suite`.
pub fn entry_tag(suite: Suite) -> [u8; 15] {
    let mut tag = [0u8; 15];
    tag[..14].copy_from_slice(ENTRY_TAG_PREFIX);
    tag[14] = suite.entry_version();
    tag
}
/// Largest entry accepted, tag included: 65,535 bytes, the most a C2SP
/// tlog-tiles entry bundle's 16-bit length prefix can state (each log is
/// stored and served as tiles, docs/protocol.md §3.1). Format 2 allowed
/// 256 KiB; no entry written by any node came near it.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;
/// Longest free-text field of an op (reason basis, objection statement …), in characters.
pub const MAX_OP_TEXT_CHARS: usize = 2000;

/// The bincode configuration of entries.
///
/// The limit only bounds what decoding may allocate (input length is checked
/// against [`MAX_ENTRY_BYTES`] separately). bincode counts it in in-memory
/// sizes, claimed up front per container: a `fields` pair claims the size of
/// `(String, FieldValue)` (about 50 bytes) though it may take only 13 encoded,
/// so a limit of `MAX_ENTRY_BYTES` refused some entries that
/// [`Entry::to_bytes`] accepted. Eight times covers every entry.
pub(crate) fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<{ 8 * MAX_ENTRY_BYTES }>()
}

/// One step of an origin's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct Entry {
    /// Member id of the origin, such as `gulou`.
    pub origin: String,
    /// Position in the origin's log, from 0, without gaps.
    pub seq: u64,
    /// RFC 6962 leaf hash of the previous entry's bytes; all zero for seq 0.
    #[serde(serialize_with = "hex_hash")]
    pub prev_hash: Hash,
    /// When the origin signed it: milliseconds since 1970-01-01T00:00:00Z.
    pub time_ms: i64,
    /// What the entry does.
    pub op: Op,
}

/// What an entry does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// A new record, or a new version of a record the origin owns.
    Put(Record),
    /// The record leaves publication (credit repair, objection upheld, …).
    Revoke(Revoke),
    /// A subject objected to the record; it shows as disputed (异议中).
    ObjectionFiled(ObjectionFiled),
    /// The origin decided an objection.
    ObjectionResolved(ObjectionResolved),
    /// The origin's next entries are signed by its next key (roster key
    /// history, docs/protocol.md §6.1). Signed by the key it replaces.
    KeyHandover(KeyHandover),
    /// A credit-repair application (信用修复申请) against the record,
    /// registered by its origin.
    RepairFiled(RepairFiled),
    /// The origin decided a repair application (a grant is signed with
    /// the record's `Revoke { reason: Repair }` before it).
    RepairDecided(RepairDecided),
}

/// A credit-repair application registered by the record's origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct RepairFiled {
    /// Application id, unique within the origin's log.
    pub id: String,
    /// The record to be repaired.
    pub key: RecordKey,
    /// How the conduct was corrected (整改情况).
    pub statement: String,
    /// The subject's public credit commitment (信用承诺): the key of its
    /// XYCN record, or the reference of the commitment document.
    pub commitment: String,
    /// Member id of the node where the application was received.
    pub received_by: String,
    /// Date it was received.
    pub received_on: Date,
    /// Date by which the origin must decide.
    pub due: Date,
}

/// The origin's decision on a repair application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct RepairDecided {
    /// The application decided.
    pub id: String,
    /// The record concerned.
    pub key: RecordKey,
    /// Granted or rejected.
    pub outcome: RepairOutcome,
    /// Why.
    pub explanation: String,
}

/// How a repair application ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum RepairOutcome {
    /// Repaired: the record left publication (revoked with reason `repair`).
    Granted,
    /// The record stays published.
    Rejected,
}

/// A key handover: from the next position on, the origin signs with `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct KeyHandover {
    /// The public key bytes of the next key, of the federation's suite.
    #[serde(serialize_with = "base64_bytes")]
    pub key: Vec<u8>,
}

/// A revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct Revoke {
    /// The record revoked.
    pub key: RecordKey,
    /// Why.
    pub reason: RevokeReason,
    /// The basis: the repair decision's number, the objection id, ….
    pub basis: String,
}

/// Why a record was revoked.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// Credit repair (信用修复) granted.
    Repair,
    /// An objection (异议) was upheld.
    ObjectionUpheld,
    /// The record was published in error.
    Error,
    /// The publicity period ended and the origin withdrew it explicitly.
    Expired,
}

/// Grounds of an objection (domain.md §5).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionGround {
    /// The record is wrong.
    Wrong,
    /// The record is incomplete.
    Incomplete,
    /// The record duplicates another.
    Duplicate,
    /// The record should not be public.
    ShouldNotBePublic,
    /// The record is past its publicity period.
    PastPublicityPeriod,
    /// The record differs from the deciding organ's own record.
    DiffersFromDecision,
    /// The record exposes a trade secret or private information.
    ExposesSecret,
    /// Anything else; the statement explains.
    Other,
}

/// An objection filed against a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct ObjectionFiled {
    /// Objection id, unique within the origin's log.
    pub id: String,
    /// The record objected to.
    pub key: RecordKey,
    /// Grounds.
    pub ground: ObjectionGround,
    /// The objector's statement.
    pub statement: String,
    /// Member id of the node where the objection was received.
    pub received_by: String,
    /// Date it was received.
    pub received_on: Date,
    /// Date by which the origin must decide.
    pub due: Date,
}

/// The origin's decision on an objection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct ObjectionResolved {
    /// The objection decided.
    pub id: String,
    /// The record concerned.
    pub key: RecordKey,
    /// Upheld or rejected.
    pub outcome: ObjectionOutcome,
    /// Why; for an upheld objection, what was amended or revoked.
    pub explanation: String,
}

/// How an objection ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionOutcome {
    /// The objection is right; the record is amended or revoked by later entries.
    Upheld,
    /// The record stands unchanged.
    Rejected,
}

/// Why entry bytes or a signature were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// Larger than [`MAX_ENTRY_BYTES`].
    #[error("entry is {0} bytes, more than the {MAX_ENTRY_BYTES}-byte limit")]
    TooLarge(usize),
    /// Does not start with the entry tag of a known version.
    #[error(
        "bytes do not start with a rongxin entry tag of a known version (0x01 ed25519-sha256, 0x02 sm2-sm3)"
    )]
    Tag,
    /// An entry of another suite than the key that should have signed it.
    #[error("entry is of suite {found}, but its log's key is {expected}")]
    Suite {
        /// The suite of the log.
        expected: Suite,
        /// The suite the entry's tag names.
        found: Suite,
    },
    /// The body does not decode.
    #[error("entry body does not decode: {0}")]
    Decode(String),
    /// Decoding left bytes over.
    #[error("entry has {0} trailing bytes after its body")]
    Trailing(usize),
    /// The bytes decode, but are not the canonical encoding of what they hold.
    #[error("entry bytes are not in canonical form")]
    NotCanonical,
    /// A field breaks the entry rules.
    #[error("entry field {field}: {problem}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The signature does not verify with the origin's key.
    #[error("signature of {origin} entry {seq} does not verify with {origin}'s roster key")]
    Signature {
        /// The claimed origin.
        origin: String,
        /// The claimed seq (from the unverified bytes; informative only).
        seq: u64,
    },
    /// A batch of signatures failed; `index` is the first bad one.
    #[error("signature of entry {index} in the batch does not verify")]
    BatchSignature {
        /// Position in the batch.
        index: usize,
    },
}

impl Entry {
    /// The exact bytes to sign in `suite`: tag and canonical body. Fails only
    /// when the entry is larger than [`MAX_ENTRY_BYTES`].
    pub fn to_bytes(&self, suite: Suite) -> Result<Vec<u8>, EntryError> {
        let mut out = entry_tag(suite).to_vec();
        let body = bincode::encode_to_vec(self, bincode_config())
            .map_err(|e| EntryError::Decode(e.to_string()))?;
        out.extend_from_slice(&body);
        if out.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge(out.len()));
        }
        Ok(out)
    }

    /// The suite named by the tag of entry bytes.
    pub fn suite_of(bytes: &[u8]) -> Result<Suite, EntryError> {
        match bytes.strip_prefix(&ENTRY_TAG_PREFIX[..]) {
            Some([v, ..]) => Suite::from_entry_version(*v).ok_or(EntryError::Tag),
            _ => Err(EntryError::Tag),
        }
    }

    /// Decodes entry bytes of any known suite. Call only on bytes whose
    /// signature verified, or in tools that report what they hold. Never
    /// panics.
    pub fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge(bytes.len()));
        }
        let suite = Entry::suite_of(bytes)?;
        let body = &bytes[ENTRY_TAG_PREFIX.len() + 1..];
        let (entry, read): (Entry, usize) = bincode::decode_from_slice(body, bincode_config())
            .map_err(|e| EntryError::Decode(e.to_string()))?;
        if read != body.len() {
            return Err(EntryError::Trailing(body.len() - read));
        }
        if entry.to_bytes(suite).ok().as_deref() != Some(bytes) {
            return Err(EntryError::NotCanonical);
        }
        entry.check()?;
        if let Op::KeyHandover(h) = &entry.op {
            PublicKey::from_bytes(suite, &h.key).map_err(|e| EntryError::Field {
                field: "op",
                problem: format!("the handover's key: {e}"),
            })?;
        }
        Ok(entry)
    }

    /// Checks the rules that hold for every entry whatever the catalog:
    /// origin id form, bounded texts, time after 2000-01-01.
    pub fn check(&self) -> Result<(), EntryError> {
        let field = |field: &'static str, problem: &str| EntryError::Field {
            field,
            problem: problem.to_owned(),
        };
        if !crate::roster::is_member_id(&self.origin) {
            return Err(field("origin", "not a member id"));
        }
        if self.time_ms < 946_684_800_000 {
            return Err(field("time_ms", "before 2000-01-01"));
        }
        if self.seq == 0 && self.prev_hash != [0; 32] {
            return Err(field(
                "prev_hash",
                "entry 0 must have an all-zero prev_hash",
            ));
        }
        let texts: Vec<&str> = match &self.op {
            Op::Put(_) => Vec::new(),
            Op::Revoke(r) => vec![&r.basis],
            Op::ObjectionFiled(o) => vec![&o.id, &o.statement, &o.received_by],
            Op::ObjectionResolved(o) => vec![&o.id, &o.explanation],
            Op::RepairFiled(r) => vec![&r.id, &r.statement, &r.commitment, &r.received_by],
            Op::RepairDecided(r) => vec![&r.id, &r.explanation],
            Op::KeyHandover(h) => {
                if !Suite::ALL.iter().any(|s| s.public_key_len() == h.key.len()) {
                    return Err(field("op", "a handover names a key of no known length"));
                }
                Vec::new()
            }
        };
        for t in texts {
            if t.trim().is_empty() || t.chars().count() > MAX_OP_TEXT_CHARS {
                return Err(field("op", "a text is empty or too long"));
            }
        }
        Ok(())
    }

    /// The key of the record this entry concerns (none for a key handover).
    pub fn record_key(&self) -> Option<RecordKey> {
        match &self.op {
            Op::Put(r) => Some(r.key()),
            Op::Revoke(r) => Some(r.key.clone()),
            Op::ObjectionFiled(o) => Some(o.key.clone()),
            Op::ObjectionResolved(o) => Some(o.key.clone()),
            Op::RepairFiled(r) => Some(r.key.clone()),
            Op::RepairDecided(r) => Some(r.key.clone()),
            Op::KeyHandover(_) => None,
        }
    }

    /// Checks and signs this entry, in the suite of `key`.
    pub fn sign(&self, key: &SecretKey) -> Result<SignedEntry, EntryError> {
        self.check()?;
        let bytes = self.to_bytes(key.suite())?;
        let signature = key.sign(&bytes);
        Ok(SignedEntry { bytes, signature })
    }
}

/// Entry bytes and the origin's signature over them: what is stored and sent.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SignedEntry {
    /// The exact signed bytes.
    pub bytes: Vec<u8>,
    /// The origin's signature over `bytes` (Ed25519, or SM2's `r || s`).
    pub signature: [u8; 64],
}

impl SignedEntry {
    /// The RFC 6962 leaf hash of this entry, with the hash of `suite`.
    pub fn leaf_hash(&self, suite: Suite) -> Hash {
        leaf_hash(suite, &self.bytes)
    }

    /// Verifies the signature with `key`, then decodes, and checks that the
    /// entry is of the key's suite. The bytes are looked at only after the
    /// signature holds.
    pub fn verify(&self, key: &PublicKey) -> Result<Entry, EntryError> {
        if self.bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge(self.bytes.len()));
        }
        if !key.verify(&self.bytes, &self.signature) {
            let hint = Entry::decode(&self.bytes).ok();
            return Err(EntryError::Signature {
                origin: hint.as_ref().map(|e| e.origin.clone()).unwrap_or_default(),
                seq: hint.map(|e| e.seq).unwrap_or_default(),
            });
        }
        decode_as(&self.bytes, key.suite())
    }
}

/// Decodes entry bytes whose signature verified with a key of `suite`,
/// refusing an entry whose tag names another suite.
fn decode_as(bytes: &[u8], suite: Suite) -> Result<Entry, EntryError> {
    let found = Entry::suite_of(bytes)?;
    if found != suite {
        return Err(EntryError::Suite {
            expected: suite,
            found,
        });
    }
    Entry::decode(bytes)
}

/// Verifies many entries signed by one key at once (Ed25519: batch
/// verification, about twice as fast), then decodes them. When a signature
/// fails, the error names the first bad one.
pub fn verify_batch(entries: &[SignedEntry], key: &PublicKey) -> Result<Vec<Entry>, EntryError> {
    if let Some(e) = entries.iter().find(|e| e.bytes.len() > MAX_ENTRY_BYTES) {
        return Err(EntryError::TooLarge(e.bytes.len()));
    }
    let messages: Vec<&[u8]> = entries.iter().map(|e| e.bytes.as_slice()).collect();
    let signatures: Vec<[u8; 64]> = entries.iter().map(|e| e.signature).collect();
    key.verify_many(&messages, &signatures)
        .map_err(|index| EntryError::BatchSignature { index })?;
    entries
        .iter()
        .map(|e| decode_as(&e.bytes, key.suite()))
        .collect()
}

fn base64_bytes<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine as _;
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
}

fn hex_hash<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}
