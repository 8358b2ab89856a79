//! The roster (成员名册): who the members are, which jurisdictions each owns,
//! their signing keys and transport identities, and which catalog they all
//! use — signed by the federation root key.
//!
//! A signed roster is a C2SP signed note (see [`crate::note`]) whose text is
//! the header line `rongxin-roster/v1` followed by the roster in TOML. The
//! root key, held offline by the city credit center, signs it; nodes and
//! auditors verify it with the root's verifier key (`root.pub`). A roster
//! supersedes another only if the same root signed it for the same
//! federation with a higher version.
//!
//! One number, one source: every jurisdiction belongs to at most one member,
//! and [`Roster::owner_of`] names the member that alone may sign records of it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::note::{NoteError, NoteSigner, NoteVerifier};
use crate::record::{RecordKey, is_jurisdiction};
use crate::value::Date;

/// First line of every roster note.
pub const ROSTER_HEADER: &str = "rongxin-roster/v1\n";

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
    /// Ed25519 public key that signs this member's entries and checkpoints, base64.
    pub signing_key: String,
    /// libp2p peer id of the member's transport key.
    pub peer_id: String,
    /// libp2p listen addresses (multiaddrs) other members dial.
    #[serde(default)]
    pub listen: Vec<String>,
    /// HTTP API address, for operators and tools (informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
}

/// The roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    /// Federation name, such as `rongxin.fuzhou`; log origins are `<federation>/<member id>`.
    pub federation: String,
    /// Version; a roster supersedes only lower versions.
    pub version: u64,
    /// First day this roster is in force.
    pub valid_from: Date,
    /// Last day this roster is in force.
    pub valid_until: Date,
    /// SHA-256 of the catalog file every member uses: `sha256:<hex>`.
    pub catalog_digest: String,
    /// The members.
    pub members: Vec<Member>,
}

/// Why a roster was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RosterError {
    /// The signed note is bad or not signed by the root.
    #[error("roster signature: {0}")]
    Note(#[from] NoteError),
    /// The text does not start with [`ROSTER_HEADER`].
    #[error("roster text does not start with '{}'", ROSTER_HEADER.trim_end())]
    Header,
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

/// Decodes a base64 Ed25519 public key, refusing weak (small-order) keys.
pub fn parse_public_key(b64: &str) -> Result<VerifyingKey, String> {
    let raw: [u8; 32] = B64
        .decode(b64)
        .map_err(|_| "not valid base64".to_owned())?
        .try_into()
        .map_err(|_| "not 32 bytes".to_owned())?;
    let key = VerifyingKey::from_bytes(&raw).map_err(|_| "not an Ed25519 public key".to_owned())?;
    if key.is_weak() {
        return Err("a weak (small-order) Ed25519 key".to_owned());
    }
    Ok(key)
}

impl Member {
    /// The member's signing key (validated when the roster was loaded).
    pub fn verifying_key(&self) -> Result<VerifyingKey, RosterError> {
        parse_public_key(&self.signing_key).map_err(|why| {
            RosterError::Invalid(format!("member {}: signing_key is {why}", self.id))
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
        let digest_ok = self
            .catalog_digest
            .strip_prefix("sha256:")
            .is_some_and(|h| {
                h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
            });
        if !digest_ok {
            return bad("catalog_digest must be 'sha256:' and 64 lower-case hex digits (rongxinctl roster new --catalog computes it)".into());
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
            m.verifying_key()?;
            if !keys.insert(m.signing_key.as_str()) {
                return bad(format!(
                    "member {} reuses another member's signing_key",
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

    /// The note verifier of a member's checkpoints.
    pub fn checkpoint_verifier(&self, member_id: &str) -> Result<NoteVerifier, RosterError> {
        let m = self.member(member_id).ok_or_else(|| {
            RosterError::Invalid(format!("no member '{member_id}' in the roster"))
        })?;
        Ok(NoteVerifier::new(
            &self.log_origin(member_id),
            m.verifying_key()?,
        )?)
    }

    /// Whether `day` lies within the validity period.
    pub fn valid_on(&self, day: Date) -> bool {
        self.valid_from <= day && day <= self.valid_until
    }

    /// Signs the roster with the root key.
    pub fn sign(&self, root: &NoteSigner) -> Result<SignedRoster, RosterError> {
        self.validate()?;
        let text = format!("{ROSTER_HEADER}{}", self.to_toml()?);
        Ok(SignedRoster {
            roster: self.clone(),
            note: root.sign(&text)?,
        })
    }
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
    /// Verifies the root's signature, then parses and validates the roster.
    pub fn open(note: &str, root: &NoteVerifier) -> Result<SignedRoster, RosterError> {
        let text = root.open(note)?;
        let toml = text
            .strip_prefix(ROSTER_HEADER)
            .ok_or(RosterError::Header)?;
        Ok(SignedRoster {
            roster: Roster::from_toml(toml)?,
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
