//! The roster (成员名册): who the members are, which jurisdictions each owns,
//! their signing keys and transport identities, and which catalog they all
//! use — signed by the federation root key.
//!
//! A signed roster is a C2SP signed note (see [`crate::note`]) whose text is
//! the header line `rongxin-roster/v2` followed by the roster in TOML. The
//! root key, held offline by the city credit center, signs it; nodes and
//! auditors verify it with the root's verifier key (`root.pub`). A roster
//! supersedes another only if the same root signed it for the same
//! federation with a higher version.
//!
//! The roster names the federation's signature [`Suite`] once; every key in
//! it is of that suite. Each member's signing keys are a history
//! ([`MemberKey`]): a key signs the member's own log positions from its
//! `from` until the next key's `from`, so an entry or checkpoint of any age
//! verifies against the current roster. Version 1 rosters (one
//! `signing_key` per member, Ed25519) are still read.
//!
//! One number, one source: every jurisdiction belongs to at most one member,
//! and [`Roster::owner_of`] names the member that alone may sign records of it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::entry::{Entry, EntryError, SignedEntry};
use crate::note::{NoteError, NoteSigner, NoteVerifier};
use crate::record::{RecordKey, is_jurisdiction};
use crate::suite::{PublicKey, Suite};
use crate::value::Date;

/// First line of every roster note Rongxin writes.
pub const ROSTER_HEADER: &str = "rongxin-roster/v2\n";
/// First line of the first roster format (still read).
pub const ROSTER_HEADER_V1: &str = "rongxin-roster/v1\n";

/// A member's role. Behaviour differs by role only through data (the city
/// aggregates and forwards); every member runs the same binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A district, county or county-level city.
    District,
    /// The Free Trade Zone's Fuzhou Area.
    Ftz,
    /// The city credit center.
    City,
}

impl Role {
    /// The role as the roster spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::District => "district",
            Role::Ftz => "ftz",
            Role::City => "city",
        }
    }
}

/// One node of the federation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Member id, such as `gulou`: lower-case letters, digits and '-'.
    pub id: String,
    /// Display name, such as 鼓楼区.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Jurisdictions this member alone signs records for.
    pub jurisdictions: Vec<String>,
    /// libp2p peer id of the member's transport key.
    pub peer_id: String,
    /// libp2p listen addresses (multiaddrs) other members dial.
    #[serde(default)]
    pub listen: Vec<String>,
    /// HTTP API address, for operators and tools (informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// The keys that sign this member's entries and checkpoints, oldest
    /// first; the first signs from position 0.
    pub keys: Vec<MemberKey>,
}

/// One key of a member's key history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberKey {
    /// The public key of the roster's suite, base64.
    pub key: String,
    /// First position of the member's own log this key signs; it signs every
    /// position up to the next key's start. None: a pending key, which starts
    /// after the member's `KeyHandover` entry that names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// The key is known or suspected to be compromised: its signatures at
    /// and after the next key's `from` are evidence, not just errors.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compromised: bool,
}

/// A member as the first roster format wrote it: one Ed25519 key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberV1 {
    id: String,
    name: String,
    role: Role,
    jurisdictions: Vec<String>,
    signing_key: String,
    peer_id: String,
    #[serde(default)]
    listen: Vec<String>,
    #[serde(default)]
    http: Option<String>,
}

/// The first roster format (`rongxin-roster/v1`): no suite (Ed25519/SHA-256).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterV1 {
    federation: String,
    version: u64,
    valid_from: Date,
    valid_until: Date,
    catalog_digest: String,
    members: Vec<MemberV1>,
}

impl From<RosterV1> for Roster {
    fn from(r: RosterV1) -> Roster {
        Roster {
            federation: r.federation,
            version: r.version,
            suite: Suite::Ed25519Sha256,
            valid_from: r.valid_from,
            valid_until: r.valid_until,
            catalog_digest: r.catalog_digest,
            calendar_digest: None,
            deadlines: Deadlines::default(),
            members: r
                .members
                .into_iter()
                .map(|m| Member {
                    id: m.id,
                    name: m.name,
                    role: m.role,
                    jurisdictions: m.jurisdictions,
                    peer_id: m.peer_id,
                    listen: m.listen,
                    http: m.http,
                    keys: vec![MemberKey {
                        key: m.signing_key,
                        from: Some(0),
                        compromised: false,
                    }],
                })
                .collect(),
        }
    }
}

/// The roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    /// Federation name, such as `rongxin.fuzhou`; log origins are `<federation>/<member id>`.
    pub federation: String,
    /// Version; a roster supersedes only lower versions.
    pub version: u64,
    /// The signature suite of every key, signature and hash of the federation.
    pub suite: Suite,
    /// First day this roster is in force.
    pub valid_from: Date,
    /// Last day this roster is in force.
    pub valid_until: Date,
    /// The suite's hash of the catalog file every member uses:
    /// `sha256:<hex>` or `sm3:<hex>`.
    pub catalog_digest: String,
    /// The suite's hash of the working-day calendar every member uses
    /// ([`Calendar::digest_of`](crate::calendar::Calendar::digest_of)), so
    /// that every node computes the same due dates. Absent in rosters made
    /// before calendars were pinned: nodes then use their own calendar and
    /// say so at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_digest: Option<String>,
    /// The federation's deadlines, in working days.
    #[serde(default)]
    pub deadlines: Deadlines,
    /// The members.
    pub members: Vec<Member>,
}

/// The federation's deadlines, in working days on the calendar
/// (docs/calendar.md cites each default's source). Part of the signed
/// roster, so every node computes the same due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deadlines {
    /// To accept or refuse an objection (信用广州 procedure: 2).
    pub objection_accept: u32,
    /// To verify an objection and resolve it (信用广州 procedure: 10).
    pub objection_verify: u32,
    /// To decide a credit-repair application (国办发〔2025〕22号: 3).
    pub repair_decide: u32,
    /// To publish a licensing or penalty decision (双公示, 国办发〔2015〕51号
    /// §18: 7).
    pub publication: u32,
}

impl Default for Deadlines {
    fn default() -> Deadlines {
        Deadlines {
            objection_accept: 2,
            objection_verify: 10,
            repair_decide: 3,
            publication: 7,
        }
    }
}

/// Longest deadline a roster may set: a longer one is a typing error.
const MAX_DEADLINE_DAYS: u32 = 250;

/// Why a roster was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RosterError {
    /// The signed note is bad or not signed by the root.
    #[error("roster signature: {0}")]
    Note(#[from] NoteError),
    /// The text does not start with a known roster header.
    #[error("roster text starts with neither '{}' nor '{}'", ROSTER_HEADER.trim_end(), ROSTER_HEADER_V1.trim_end())]
    Header,
    /// A member's checkpoint does not verify.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// The TOML does not parse.
    #[error("roster TOML: {0}")]
    Toml(String),
    /// The roster breaks a rule.
    #[error("roster: {0}")]
    Invalid(String),
}

/// Whether `id` can be a member id: 2..=32 of lower-case ASCII letters,
/// digits and '-', starting with a letter, and not `root` (whose log origin
/// `<federation>/root` would be the root key's name).
pub fn is_member_id(id: &str) -> bool {
    id != "root"
        && (2..=32).contains(&id.len())
        && id.as_bytes()[0].is_ascii_lowercase()
        && id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// Whether `name` can be a federation name: 2..=64 of lower-case ASCII
/// letters, digits, '.' and '-', starting with a letter.
pub fn is_federation_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
}

/// Where each of a member's keys starts signing its log: the roster's
/// `from`, or learned from the log's `KeyHandover` entries (docs/protocol.md
/// §6.1). `None`: a pending key, not started (as far as is known).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyStarts(Vec<Option<u64>>);

impl KeyStarts {
    /// Index of the key that signs `position`: the last key whose start is
    /// known and at most `position`.
    pub fn index_at(&self, position: u64) -> usize {
        self.0
            .iter()
            .rposition(|s| s.is_some_and(|s| s <= position))
            .unwrap_or(0)
    }

    /// The start of key `index`, if known.
    pub fn start(&self, index: usize) -> Option<u64> {
        self.0.get(index).copied().flatten()
    }

    /// The first position key `index` no longer signs, if known.
    pub fn end(&self, index: usize) -> Option<u64> {
        self.start(index + 1)
    }

    /// Indexes of the keys not yet started.
    pub fn pending(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(i, _)| i)
    }

    /// The starts as (key index, start) pairs, for storing.
    pub fn known(&self) -> Vec<(usize, u64)> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .collect()
    }

    /// Takes in the handover at `position` that names `key`: it must name
    /// the key that follows the key of `position`, and when that key has a
    /// start already, the start must be `position + 1`. Returns the index
    /// of the key that starts.
    pub fn learn(&mut self, member: &Member, position: u64, key: &[u8]) -> Result<usize, String> {
        let current = self.index_at(position);
        let next = current + 1;
        let Some(named) = member.keys.get(next) else {
            return Err(format!(
                "entry {position} hands over to a key, but {} has no key after key {} in the roster",
                member.id,
                current + 1
            ));
        };
        if B64.encode(key) != named.key {
            return Err(format!(
                "entry {position} hands over to a key that is not {}'s key {} in the roster",
                member.id,
                next + 1
            ));
        }
        match self.start(next) {
            Some(s) if s == position + 1 => {}
            Some(s) => {
                return Err(format!(
                    "entry {position} hands over to {}'s key {}, which the roster starts at {s}",
                    member.id,
                    next + 1
                ));
            }
            None => {
                if let Some(slot) = self.0.get_mut(next) {
                    *slot = Some(position + 1);
                }
            }
        }
        Ok(next)
    }
}

impl Member {
    /// Where each key starts, as far as the roster alone says.
    pub fn key_starts(&self) -> KeyStarts {
        KeyStarts(self.keys.iter().map(|k| k.from).collect())
    }

    /// Where each key starts, with starts learned from handovers (key index,
    /// start), as a store keeps them; pairs the roster contradicts or does
    /// not know are ignored.
    pub fn key_starts_with(&self, learned: &[(usize, u64)]) -> KeyStarts {
        let mut starts = self.key_starts();
        for &(i, s) in learned {
            let after_previous = i > 0 && starts.start(i - 1).is_some_and(|prev| prev < s);
            if let Some(slot) = starts.0.get_mut(i)
                && slot.is_none()
                && after_previous
            {
                *slot = Some(s);
            }
        }
        starts
    }

    /// Index in [`keys`](Self::keys) of the key that signs `position` of
    /// this member's log, as far as the roster alone says.
    pub fn key_index_at(&self, position: u64) -> usize {
        self.key_starts().index_at(position)
    }

    /// The key that signs `position` of this member's log, as far as the
    /// roster alone says (a pending key's start is in the log).
    pub fn key_at(&self, suite: Suite, position: u64) -> Result<PublicKey, RosterError> {
        self.parse_key(suite, self.key_index_at(position))
    }

    /// The key that signs a checkpoint of `size` entries: the key of its last
    /// entry (of position 0 for the empty log).
    pub fn checkpoint_key(&self, suite: Suite, size: u64) -> Result<PublicKey, RosterError> {
        self.key_at(suite, size.saturating_sub(1))
    }

    /// The newest key.
    pub fn current_key(&self, suite: Suite) -> Result<PublicKey, RosterError> {
        self.parse_key(suite, self.keys.len().saturating_sub(1))
    }

    /// The positions `[from, until)` key `index` signs as far as the roster
    /// alone says (`until` none: no end known).
    pub fn key_range(&self, index: usize) -> Option<(Option<u64>, Option<u64>)> {
        let k = self.keys.get(index)?;
        Some((k.from, self.keys.get(index + 1).and_then(|n| n.from)))
    }

    /// The key at `index` of the history.
    pub fn key(&self, suite: Suite, index: usize) -> Result<PublicKey, RosterError> {
        self.parse_key(suite, index)
    }

    /// Index of `key` in the history, if it is one of the member's keys.
    pub fn key_index(&self, key: &PublicKey) -> Option<usize> {
        let b64 = key.to_base64();
        self.keys.iter().position(|k| k.key == b64)
    }

    fn parse_key(&self, suite: Suite, index: usize) -> Result<PublicKey, RosterError> {
        let k = self.keys.get(index).ok_or_else(|| {
            RosterError::Invalid(format!("member {} has no signing key", self.id))
        })?;
        PublicKey::from_base64(suite, &k.key).map_err(|e| {
            RosterError::Invalid(format!("member {}: key {}: {e}", self.id, index + 1))
        })
    }
}

impl Roster {
    /// Parses and validates the TOML of a roster (without signature).
    pub fn from_toml(text: &str) -> Result<Roster, RosterError> {
        let roster: Roster = toml::from_str(text).map_err(|e| RosterError::Toml(e.to_string()))?;
        roster.validate()?;
        Ok(roster)
    }

    /// Parses and validates the TOML of a first-format roster (one Ed25519
    /// `signing_key` per member, no suite).
    pub fn from_toml_v1(text: &str) -> Result<Roster, RosterError> {
        let roster: RosterV1 =
            toml::from_str(text).map_err(|e| RosterError::Toml(e.to_string()))?;
        let roster = Roster::from(roster);
        roster.validate()?;
        Ok(roster)
    }

    /// The roster as TOML, without blank lines (a signed note's text may
    /// hold none).
    pub fn to_toml(&self) -> Result<String, RosterError> {
        let text = toml::to_string(self).map_err(|e| RosterError::Toml(e.to_string()))?;
        Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("{l}\n"))
            .collect())
    }

    /// Checks every rule: names and ids well formed, one city, ids, keys, peer
    /// ids and jurisdictions unique, keys valid, validity ordered.
    pub fn validate(&self) -> Result<(), RosterError> {
        let bad = |s: String| Err(RosterError::Invalid(s));
        if !is_federation_name(&self.federation) {
            return bad(format!(
                "federation '{}' must be lower-case letters, digits, '.' and '-'",
                self.federation
            ));
        }
        if self.valid_until < self.valid_from {
            return bad(format!(
                "valid_until {} is before valid_from {}",
                self.valid_until, self.valid_from
            ));
        }
        let prefix = format!("{}:", self.suite.hash_name());
        let digest_ok = self.catalog_digest.strip_prefix(&prefix).is_some_and(|h| {
            h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        });
        if !digest_ok {
            return bad(format!(
                "catalog_digest must be '{prefix}' and 64 lower-case hex digits, the {} suite's hash (rongxinctl roster new --catalog computes it)",
                self.suite
            ));
        }
        if let Some(d) = &self.calendar_digest {
            let ok = d.strip_prefix(&prefix).is_some_and(|h| {
                h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
            });
            if !ok {
                return bad(format!(
                    "calendar_digest must be '{prefix}' and 64 lower-case hex digits (rongxinctl roster new --calendar computes it)"
                ));
            }
        }
        let dl = &self.deadlines;
        for (name, days) in [
            ("objection_accept", dl.objection_accept),
            ("objection_verify", dl.objection_verify),
            ("repair_decide", dl.repair_decide),
            ("publication", dl.publication),
        ] {
            if days == 0 || days > MAX_DEADLINE_DAYS {
                return bad(format!(
                    "deadlines.{name} = {days}: a deadline is 1 to {MAX_DEADLINE_DAYS} working days"
                ));
            }
        }
        if self.members.iter().filter(|m| m.role == Role::City).count() != 1 {
            return bad("exactly one member must have role = \"city\"".into());
        }
        let mut ids = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        let mut peers = std::collections::HashSet::new();
        let mut owned = std::collections::HashMap::new();
        for m in &self.members {
            if !is_member_id(&m.id) {
                return bad(format!(
                    "member id '{}' must be 2-32 lower-case letters, digits or '-', starting with a letter, and not 'root'",
                    m.id
                ));
            }
            if !ids.insert(m.id.as_str()) {
                return bad(format!("member id '{}' appears twice", m.id));
            }
            if m.name.trim().is_empty() {
                return bad(format!("member {} has no name", m.id));
            }
            if m.keys.is_empty() {
                return bad(format!("member {} has no signing key", m.id));
            }
            if m.keys[0].from != Some(0) {
                return bad(format!(
                    "member {}: the first key must sign from position 0 (from = 0), not {}",
                    m.id,
                    m.keys[0]
                        .from
                        .map_or("no from".to_owned(), |f| f.to_string())
                ));
            }
            for (i, k) in m.keys.iter().enumerate() {
                m.parse_key(self.suite, i)?;
                let prev = i.checked_sub(1).and_then(|p| m.keys.get(p));
                match (prev.map(|p| p.from), k.from) {
                    (Some(Some(p)), Some(f)) if f <= p => {
                        return bad(format!(
                            "member {}: key {} starts at position {f}, not after key {i}'s {p}",
                            m.id,
                            i + 1,
                        ));
                    }
                    (Some(None), Some(_)) => {
                        return bad(format!(
                            "member {}: key {} has a from, but key {i} before it is pending (only the newest keys may be pending)",
                            m.id,
                            i + 1,
                        ));
                    }
                    _ => {}
                }
                if k.compromised && m.keys.get(i + 1).is_some_and(|n| n.from.is_none()) {
                    return bad(format!(
                        "member {}: key {} is marked compromised, so the key after it needs a from (a compromise never waits for a handover)",
                        m.id,
                        i + 1
                    ));
                }
                if !keys.insert(k.key.as_str()) {
                    return bad(format!(
                        "member {}: key {} is used twice in the roster (keys are never reused)",
                        m.id,
                        i + 1
                    ));
                }
            }
            if m.keys.last().is_some_and(|k| k.compromised) {
                return bad(format!(
                    "member {}: its newest key is marked compromised; add the key it continues with, from the position the compromise starts",
                    m.id
                ));
            }
            let peer_ok = (10..=128).contains(&m.peer_id.len())
                && m.peer_id
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() && !b"0OIl".contains(&c));
            if !peer_ok {
                return bad(format!(
                    "member {}: peer_id '{}' is not a base58 libp2p peer id",
                    m.id, m.peer_id
                ));
            }
            if !peers.insert(m.peer_id.as_str()) {
                return bad(format!("member {} reuses another member's peer_id", m.id));
            }
            if let Some(a) = m.listen.iter().find(|a| !a.starts_with('/')) {
                return bad(format!(
                    "member {}: listen address '{a}' is not a multiaddr",
                    m.id
                ));
            }
            for j in &m.jurisdictions {
                if !is_jurisdiction(j) {
                    return bad(format!(
                        "member {}: jurisdiction '{j}' is neither a six-digit division code nor a zone id",
                        m.id
                    ));
                }
                if let Some(other) = owned.insert(j.as_str(), m.id.as_str()) {
                    return bad(format!(
                        "jurisdiction {j} is owned by both {other} and {} (one number, one source)",
                        m.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// The member with this id.
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// The member with this libp2p peer id.
    pub fn member_by_peer(&self, peer_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.peer_id == peer_id)
    }

    /// The city member.
    pub fn city(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.role == Role::City)
    }

    /// The one member that may sign records of `jurisdiction`.
    pub fn owner_of(&self, jurisdiction: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.jurisdictions.iter().any(|j| j == jurisdiction))
    }

    /// The one member that may sign entries about the record `key`.
    pub fn owner_of_key(&self, key: &RecordKey) -> Option<&Member> {
        self.owner_of(&key.jurisdiction)
    }

    /// The checkpoint origin line (and note key name) of a member's log.
    pub fn log_origin(&self, member_id: &str) -> String {
        format!("{}/{member_id}", self.federation)
    }

    fn member_or_err(&self, member_id: &str) -> Result<&Member, RosterError> {
        self.member(member_id)
            .ok_or_else(|| RosterError::Invalid(format!("no member '{member_id}' in the roster")))
    }

    /// The key that signs `position` of a member's log.
    pub fn key_at(&self, member_id: &str, position: u64) -> Result<PublicKey, RosterError> {
        self.member_or_err(member_id)?.key_at(self.suite, position)
    }

    /// The note verifier of a member's checkpoints of `size` entries.
    pub fn checkpoint_verifier(
        &self,
        member_id: &str,
        size: u64,
    ) -> Result<NoteVerifier, RosterError> {
        let m = self.member_or_err(member_id)?;
        Ok(NoteVerifier::new(
            &self.log_origin(member_id),
            m.checkpoint_key(self.suite, size)?,
        )?)
    }

    /// Opens a member's checkpoint note: reads its size, then verifies it
    /// with the key that signs checkpoints of that size.
    pub fn open_checkpoint(
        &self,
        member_id: &str,
        note: &str,
    ) -> Result<SignedCheckpoint, RosterError> {
        let size = crate::checkpoint::stated_size(note);
        let verifier = self.checkpoint_verifier(member_id, size)?;
        Ok(SignedCheckpoint::open(note, &verifier)?)
    }

    /// Opens a member's checkpoint note with the key `starts` gives its size.
    /// When that fails and keys are pending, each pending key is tried: the
    /// checkpoint may lie past a handover this verifier has not seen yet
    /// (docs/protocol.md §6.1), so the caller must check again, with the key
    /// the entries prove, once its log reaches the checkpoint's size.
    /// Returns the checkpoint and the index of the key that signed it.
    pub fn open_checkpoint_at(
        &self,
        member_id: &str,
        note: &str,
        starts: &KeyStarts,
    ) -> Result<(SignedCheckpoint, usize), RosterError> {
        let m = self.member_or_err(member_id)?;
        let size = crate::checkpoint::stated_size(note);
        let name = self.log_origin(member_id);
        let index = starts.index_at(size.saturating_sub(1));
        let open = |i: usize| -> Result<SignedCheckpoint, RosterError> {
            let verifier = NoteVerifier::new(&name, m.parse_key(self.suite, i)?)?;
            Ok(SignedCheckpoint::open(note, &verifier)?)
        };
        let first = match open(index) {
            Ok(cp) => return Ok((cp, index)),
            Err(e) => e,
        };
        for i in starts.pending().filter(|&i| i > index) {
            if let Ok(cp) = open(i) {
                return Ok((cp, i));
            }
        }
        Err(first)
    }

    /// Verifies consecutive entries of a member's log that start at
    /// `position`, each with the key that signs its position (a batch may
    /// cross a key change), then decodes them. `starts` says where each key
    /// starts as known before `position`; the handovers in the batch are
    /// checked and learned into it (docs/protocol.md §6.1). A failed
    /// signature is [`EntryError::BatchSignature`] with its index in
    /// `entries`; a handover that breaks the rules is a field error.
    pub fn verify_entries(
        &self,
        member_id: &str,
        position: u64,
        entries: &[SignedEntry],
        starts: &mut KeyStarts,
    ) -> Result<Vec<Entry>, EntryError> {
        let member = self.member(member_id).ok_or_else(|| EntryError::Field {
            field: "origin",
            problem: format!("'{member_id}' is not a member of the roster"),
        })?;
        let mut out = Vec::with_capacity(entries.len());
        let mut done = 0usize;
        while done < entries.len() {
            let at = position.saturating_add(done as u64);
            let index = starts.index_at(at);
            let key = member
                .parse_key(self.suite, index)
                .map_err(|e| EntryError::Field {
                    field: "origin",
                    problem: e.to_string(),
                })?;
            // This key signs up to the next key's start.
            let end = starts.end(index).map_or(entries.len(), |until| {
                usize::try_from(until.saturating_sub(position))
                    .unwrap_or(usize::MAX)
                    .min(entries.len())
            });
            let group = &entries[done..end.max(done + 1)];
            let (decoded, failed) = match crate::entry::verify_batch(group, &key) {
                Ok(d) => (d, None),
                // The entries before the bad one verified: a handover among
                // them may explain it.
                Err(EntryError::BatchSignature { index }) => (
                    crate::entry::verify_batch(&group[..index], &key)?,
                    Some(index),
                ),
                Err(e) => return Err(e),
            };
            // Up to and including the first handover: the entries after it
            // are checked again with the key it hands over to.
            let handover = decoded
                .iter()
                .position(|e| matches!(e.op, crate::entry::Op::KeyHandover(_)));
            if let Some(k) = handover
                && let crate::entry::Op::KeyHandover(h) = &decoded[k].op
            {
                starts
                    .learn(member, at + k as u64, &h.key)
                    .map_err(|problem| EntryError::Field {
                        field: "op",
                        problem,
                    })?;
            } else if let Some(j) = failed {
                return Err(EntryError::BatchSignature { index: done + j });
            }
            let take = handover.map_or(decoded.len(), |k| k + 1);
            done += take;
            out.extend(decoded.into_iter().take(take));
        }
        Ok(out)
    }

    /// The digest of catalog file bytes in this roster's suite, the form of
    /// [`catalog_digest`](Self::catalog_digest).
    pub fn catalog_digest_of(&self, catalog_bytes: &[u8]) -> String {
        self.suite.file_digest(catalog_bytes)
    }

    /// Whether `day` lies within the validity period.
    pub fn valid_on(&self, day: Date) -> bool {
        self.valid_from <= day && day <= self.valid_until
    }

    /// Signs the roster with the root key, which must be of the roster's suite.
    pub fn sign(&self, root: &NoteSigner) -> Result<SignedRoster, RosterError> {
        self.validate()?;
        if root.suite() != self.suite {
            return Err(RosterError::Invalid(format!(
                "the root key is {}, the roster's suite is {}",
                root.suite(),
                self.suite
            )));
        }
        let text = format!("{ROSTER_HEADER}{}", self.to_toml()?);
        Ok(SignedRoster {
            roster: self.clone(),
            note: root.sign(&text)?,
        })
    }
}

/// The answer of `POST /v1/admin/roster` (a node given a newer signed
/// roster puts it in force and its peers take it from there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterPushed {
    /// The pushed roster's version.
    pub version: u64,
    /// Whether it replaced the roster in force (false: not newer).
    pub adopted: bool,
    /// The version in force after the push.
    pub in_force: u64,
}

/// A verified roster with the exact note that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRoster {
    /// The roster.
    pub roster: Roster,
    /// The signed note, byte for byte.
    pub note: String,
}

impl SignedRoster {
    /// Verifies the root's signature, then parses and validates the roster
    /// (either format), whose suite must be the root key's.
    pub fn open(note: &str, root: &NoteVerifier) -> Result<SignedRoster, RosterError> {
        let text = root.open(note)?;
        let roster = if let Some(toml) = text.strip_prefix(ROSTER_HEADER) {
            Roster::from_toml(toml)?
        } else if let Some(toml) = text.strip_prefix(ROSTER_HEADER_V1) {
            Roster::from_toml_v1(toml)?
        } else {
            return Err(RosterError::Header);
        };
        if roster.suite != root.suite() {
            return Err(RosterError::Invalid(format!(
                "the roster's suite is {}, but the root key is {}",
                roster.suite,
                root.suite()
            )));
        }
        Ok(SignedRoster {
            roster,
            note: note.to_owned(),
        })
    }

    /// Whether this roster replaces `current`: same federation, higher version.
    /// Both must have been opened with the same root key.
    pub fn supersedes(&self, current: &SignedRoster) -> bool {
        self.roster.federation == current.roster.federation
            && self.roster.version > current.roster.version
    }
}
