//! The node's bearer tokens: who holds each one, in which role, until when.
//!
//! Tokens come from the config file (`admin_token_sha256`, `[[departments]]`,
//! `[[agencies]]`) and from the optional tokens file (`tokens_file`, managed
//! with `rongxinctl token`). Only SHA-256 digests are kept; a token itself is
//! never stored or logged, and a request names a token in logs by its id.
//! The table is rebuilt on SIGHUP and swapped in whole.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rongxin_protocol::access::{Access, AgencyAccess, RoleName, TokenSpec};
use sha2::{Digest as _, Sha256};

/// A department system allowed to submit records.
#[derive(Debug, Clone)]
pub struct Department {
    /// Name, for logs and the query log.
    pub name: String,
    /// Jurisdictions it may submit for (all owned by this member).
    pub jurisdictions: BTreeSet<String>,
    /// Kinds it may submit; `None` means every kind.
    pub kinds: Option<BTreeSet<String>>,
}

/// What a token may do.
#[derive(Debug, Clone)]
pub enum Role {
    /// The node's operator.
    Admin,
    /// Read-only monitoring: status, metrics, evidence, no record content.
    Monitor,
    /// A federation auditor: every record, every read registered.
    Auditor,
    /// A department system.
    Department(Department),
    /// An agency reading beyond public records.
    Agency(AgencyAccess),
}

impl Role {
    /// The role's name.
    pub fn name(&self) -> RoleName {
        match self {
            Role::Admin => RoleName::Admin,
            Role::Monitor => RoleName::Monitor,
            Role::Auditor => RoleName::Auditor,
            Role::Department(_) => RoleName::Department,
            Role::Agency(_) => RoleName::Agency,
        }
    }
}

/// One configured token.
#[derive(Debug, Clone)]
pub struct Token {
    /// Its id, named in logs and the query log.
    pub id: String,
    /// Who holds it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it stops working (Unix ms), if ever.
    pub expires_ms: Option<i64>,
}

impl Token {
    /// How much record content the holder may read.
    pub fn read_access(&self) -> Access {
        match &self.role {
            Role::Admin | Role::Auditor => Access::Government,
            Role::Agency(a) => Access::of_agency(*a),
            Role::Monitor | Role::Department(_) => Access::Public,
        }
    }

    /// The holder as the query log names it: `role:name (token id)`.
    pub fn who(&self) -> String {
        format!(
            "{}:{} (token {})",
            self.role.name().as_str(),
            self.name,
            self.id
        )
    }
}

/// Why a presented token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// No configured token has this digest.
    #[error(
        "the token is not known to this node; check the token file, or ask the node's operator to configure it"
    )]
    Unknown,
    /// The token expired.
    #[error("token '{id}' expired; ask the node's operator for a new one (rongxinctl token add)")]
    Expired {
        /// The token's id.
        id: String,
    },
}

/// A token to add: where it came from (for errors), its digest, and who.
#[derive(Debug)]
pub struct TokenSource {
    /// The config key or tokens-file entry it came from.
    pub key: String,
    /// Its digest as written (64 hex digits).
    pub sha256_hex: String,
    /// The token.
    pub token: Token,
}

/// The token table.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], Arc<Token>>,
}

impl Tokens {
    /// Builds the table; the error names the key of a malformed or
    /// repeated digest or a repeated id.
    pub fn build(sources: Vec<TokenSource>) -> Result<Tokens, String> {
        let mut by_digest = HashMap::new();
        let mut ids = BTreeSet::new();
        for s in sources {
            let d: [u8; 32] = hex::decode(s.sha256_hex.trim())
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| {
                    format!(
                        "{}: not 64 hex digits (the SHA-256 of the token; rongxinctl token add prints it)",
                        s.key
                    )
                })?;
            if !ids.insert(s.token.id.clone()) {
                return Err(format!(
                    "{}: token id '{}' is used twice",
                    s.key, s.token.id
                ));
            }
            if by_digest.insert(d, Arc::new(s.token)).is_some() {
                return Err(format!("{}: the same token is configured twice", s.key));
            }
        }
        Ok(Tokens { by_digest })
    }

    /// Who holds `token` at `now_ms`.
    pub fn lookup(&self, token: &str, now_ms: i64) -> Result<Arc<Token>, TokenRefusal> {
        let t = self
            .by_digest
            .get(&token_digest(token))
            .ok_or(TokenRefusal::Unknown)?;
        match t.expires_ms {
            Some(at) if at <= now_ms => Err(TokenRefusal::Expired { id: t.id.clone() }),
            _ => Ok(t.clone()),
        }
    }

    /// How many tokens there are, per role.
    pub fn count_by_role(&self) -> Vec<(RoleName, usize)> {
        let mut counts: std::collections::BTreeMap<RoleName, usize> = Default::default();
        for t in self.by_digest.values() {
            *counts.entry(t.role.name()).or_default() += 1;
        }
        counts.into_iter().collect()
    }

    /// Whether any token has this role.
    pub fn has_role(&self, role: RoleName) -> bool {
        self.by_digest.values().any(|t| t.role.name() == role)
    }
}

/// The token a tokens-file entry describes (its role fields already checked
/// by [`TokenSpec::check`]).
pub fn token_of_spec(spec: &TokenSpec) -> Result<Token, String> {
    let expires_ms = spec.expires_ms().map_err(|e| e.to_string())?;
    let role = match spec.role {
        RoleName::Admin => Role::Admin,
        RoleName::Monitor => Role::Monitor,
        RoleName::Auditor => Role::Auditor,
        RoleName::Department => Role::Department(Department {
            name: spec.name.clone(),
            jurisdictions: spec.jurisdictions.iter().cloned().collect(),
            kinds: spec.kind_set(),
        }),
        RoleName::Agency => Role::Agency(
            spec.access
                .ok_or_else(|| format!("token '{}': an agency token needs access", spec.id))?,
        ),
        other => {
            return Err(format!(
                "token '{}': role {other:?} is not known to this node",
                spec.id
            ));
        }
    };
    Ok(Token {
        id: spec.id.clone(),
        name: spec.name.clone(),
        role,
        expires_ms,
    })
}

/// SHA-256 of a token, as configured.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(id: &str, token: &str, role: Role, expires_ms: Option<i64>) -> TokenSource {
        TokenSource {
            key: format!("test {id}"),
            sha256_hex: hex::encode(token_digest(token)),
            token: Token {
                id: id.into(),
                name: id.into(),
                role,
                expires_ms,
            },
        }
    }

    #[test]
    fn lookup_refuses_unknown_and_expired_tokens() {
        let t = Tokens::build(vec![
            source("a", "secret-a", Role::Admin, None),
            source("m", "secret-m", Role::Monitor, Some(1_000)),
        ])
        .expect("builds");
        assert_eq!(t.lookup("secret-a", 5_000).expect("known").id, "a");
        assert_eq!(t.lookup("secret-m", 999).expect("not yet expired").id, "m");
        assert_eq!(
            t.lookup("secret-m", 1_000).unwrap_err(),
            TokenRefusal::Expired { id: "m".into() }
        );
        assert_eq!(t.lookup("nope", 0).unwrap_err(), TokenRefusal::Unknown);
    }

    #[test]
    fn build_refuses_repeats() {
        let twice = Tokens::build(vec![
            source("a", "s", Role::Admin, None),
            source("b", "s", Role::Monitor, None),
        ]);
        assert!(twice.unwrap_err().contains("configured twice"));
        let same_id = Tokens::build(vec![
            source("a", "s1", Role::Admin, None),
            source("a", "s2", Role::Monitor, None),
        ]);
        assert!(same_id.unwrap_err().contains("used twice"));
    }

    #[test]
    fn read_access_by_role() {
        let tok = |role| Token {
            id: "x".into(),
            name: "x".into(),
            role,
            expires_ms: None,
        };
        assert_eq!(tok(Role::Auditor).read_access(), Access::Government);
        assert_eq!(tok(Role::Monitor).read_access(), Access::Public);
        assert_eq!(
            tok(Role::Agency(AgencyAccess::Conditional)).read_access(),
            Access::Conditional
        );
    }
}
