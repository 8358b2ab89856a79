//! Who may do what at a node: the roles a bearer token carries, the read
//! levels they grant over records' public attributes, and the tokens file
//! in which a node keeps its tokens (as SHA-256 digests, never in clear).
//!
//! The node enforces these rules on every route; `rongxinctl token` writes
//! the tokens file. Both use the types here, so the file has one schema.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::catalog::PublicAttribute;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoleName {
    /// The node's operator: every admin endpoint, and every record.
    Admin,
    /// Read-only monitoring: status, metrics, replication, evidence; no record content.
    Monitor,
    /// The federation's auditors: every record and log entry, each read registered.
    Auditor,
    /// A department system: submits records of its jurisdictions and kinds.
    Department,
    /// An agency: reads 有条件公开 (and with `government`, 不予公开) records.
    Agency,
}

impl RoleName {
    /// The spelling in the tokens file and in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleName::Admin => "admin",
            RoleName::Monitor => "monitor",
            RoleName::Auditor => "auditor",
            RoleName::Department => "department",
            RoleName::Agency => "agency",
        }
    }
}

/// What an agency token unlocks beyond public records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgencyAccess {
    /// 有条件公开 records too.
    Conditional,
    /// 有条件公开 and 不予公开 (government sharing) records.
    Government,
}

/// How much of the record content a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Anyone: 公开 records, personal ID numbers masked.
    Public,
    /// Also 有条件公开 records, unmasked.
    Conditional,
    /// Also 不予公开 (government sharing) records.
    Government,
}

impl Access {
    /// The access an agency token grants.
    pub fn of_agency(a: AgencyAccess) -> Access {
        match a {
            AgencyAccess::Conditional => Access::Conditional,
            AgencyAccess::Government => Access::Government,
        }
    }

    /// Whether a record with public attribute `attr` may be shown.
    pub fn allows(self, attr: PublicAttribute) -> bool {
        match attr {
            PublicAttribute::Public => true,
            PublicAttribute::Conditional => self != Access::Public,
            PublicAttribute::Restricted => self == Access::Government,
        }
    }

    /// Whether personal ID numbers are masked for this reader.
    pub fn masks_ids(self) -> bool {
        self == Access::Public
    }

    /// The label used in answers, the query log and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Conditional => "conditional",
            Access::Government => "government",
        }
    }
}

/// One token in the tokens file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Unique id, named in logs, the query log and `rongxinctl token revoke`.
    pub id: String,
    /// What the token may do.
    pub role: RoleName,
    /// Who holds it (a department system, an agency, a person), for the query log.
    pub name: String,
    /// SHA-256 of the token, 64 lower-case hex digits.
    pub sha256: String,
    /// When the token stops working, RFC 3339 (e.g. `2027-06-30T00:00:00+08:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Department tokens: the jurisdictions (division codes) it submits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jurisdictions: Vec<String>,
    /// Department tokens: the catalog kinds it submits, `["*"]` for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Agency tokens: what it unlocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AgencyAccess>,
}

/// The tokens file: `[[token]]` tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensFile {
    /// The tokens, in the order written.
    #[serde(default)]
    pub token: Vec<TokenSpec>,
}

/// A problem with one token of a tokens file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token '{id}': {problem}")]
pub struct TokenSpecError {
    /// The token's id (or its position when the id is blank).
    pub id: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl TokenSpec {
    /// Checks what can be checked without the node's catalog and roster:
    /// the id, the digest, the expiry and the fields each role needs.
    pub fn check(&self) -> Result<(), TokenSpecError> {
        let fail = |problem: String| TokenSpecError {
            id: self.id.clone(),
            problem,
        };
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(fail(
                "id must be 1-64 characters of A-Z, a-z, 0-9, '-', '_' and '.'".into(),
            ));
        }
        if self.name.trim().is_empty() || self.name.chars().any(char::is_control) {
            return Err(fail(
                "name must be non-blank text without control characters".into(),
            ));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail(
                "sha256 must be 64 hex digits, the SHA-256 of the token (rongxinctl token add prints it)".into(),
            ));
        }
        if let Some(e) = &self.expires {
            parse_expiry(e).map_err(fail)?;
        }
        let dept_fields = !self.jurisdictions.is_empty() || !self.kinds.is_empty();
        match self.role {
            RoleName::Department if self.jurisdictions.is_empty() || self.kinds.is_empty() => {
                return Err(fail(
                    "a department token needs jurisdictions and kinds (kinds = [\"*\"] for every kind)".into(),
                ));
            }
            RoleName::Department => {}
            _ if dept_fields => {
                return Err(fail(format!(
                    "jurisdictions and kinds are for department tokens, not {}",
                    self.role.as_str()
                )));
            }
            _ => {}
        }
        match (self.role, self.access) {
            (RoleName::Agency, None) => Err(fail(
                "an agency token needs access = \"conditional\" or \"government\"".into(),
            )),
            (RoleName::Agency, Some(_)) | (_, None) => Ok(()),
            (other, Some(_)) => Err(fail(format!(
                "access is for agency tokens, not {}",
                other.as_str()
            ))),
        }
    }

    /// The expiry as Unix milliseconds, if any.
    pub fn expires_ms(&self) -> Result<Option<i64>, TokenSpecError> {
        self.expires
            .as_deref()
            .map(parse_expiry)
            .transpose()
            .map_err(|problem| TokenSpecError {
                id: self.id.clone(),
                problem,
            })
    }

    /// The department's kinds, `None` for every kind.
    pub fn kind_set(&self) -> Option<BTreeSet<String>> {
        if self.kinds.iter().any(|k| k == "*") {
            None
        } else {
            Some(self.kinds.iter().cloned().collect())
        }
    }
}

impl TokensFile {
    /// Parses and checks a tokens file: every token well formed, ids and
    /// digests unique.
    pub fn parse(text: &str) -> Result<TokensFile, TokenSpecError> {
        let file: TokensFile = toml::from_str(text).map_err(|e| TokenSpecError {
            id: "-".into(),
            problem: format!("not a tokens file: {e}"),
        })?;
        let mut ids = BTreeSet::new();
        let mut digests = BTreeSet::new();
        for t in &file.token {
            t.check()?;
            if !ids.insert(t.id.as_str()) {
                return Err(TokenSpecError {
                    id: t.id.clone(),
                    problem: "the id is used twice".into(),
                });
            }
            if !digests.insert(t.sha256.to_ascii_lowercase()) {
                return Err(TokenSpecError {
                    id: t.id.clone(),
                    problem: "the same token (sha256) is listed twice".into(),
                });
            }
        }
        Ok(file)
    }

    /// The file's text, as `rongxinctl token` writes it.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Bearer tokens of this node, as SHA-256 digests (never the tokens).\n\
             # Managed with `rongxinctl token add|revoke|list --file <this file>`;\n\
             # the node applies changes on SIGHUP (systemctl reload rongxin-node).\n\
             # Roles: admin, monitor, auditor, department, agency (docs/operations.md).\n",
        );
        for t in &self.token {
            out.push_str("\n[[token]]\n");
            // One token at a time, so each gets its own table header.
            let one = TokensFile {
                token: vec![t.clone()],
            };
            let text = toml::to_string(&one).unwrap_or_default();
            out.push_str(text.trim_start_matches("[[token]]\n"));
        }
        out
    }
}

/// Parses an RFC 3339 expiry into Unix milliseconds.
fn parse_expiry(s: &str) -> Result<i64, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            format!(
                "expires = \"{s}\" is not an RFC 3339 time such as 2027-06-30T00:00:00+08:00: {e}"
            )
        })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("expires = \"{s}\" is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(role: RoleName) -> TokenSpec {
        TokenSpec {
            id: "t1".into(),
            role,
            name: "someone".into(),
            sha256: "ab".repeat(32),
            expires: None,
            jurisdictions: vec![],
            kinds: vec![],
            access: None,
        }
    }

    #[test]
    fn access_levels_follow_public_attributes() {
        use PublicAttribute::*;
        assert!(Access::Public.allows(Public));
        assert!(!Access::Public.allows(Conditional));
        assert!(!Access::Public.allows(Restricted));
        assert!(Access::Conditional.allows(Conditional));
        assert!(!Access::Conditional.allows(Restricted));
        assert!(Access::Government.allows(Restricted));
        assert!(Access::Public.masks_ids() && !Access::Conditional.masks_ids());
    }

    #[test]
    fn role_fields_are_checked() {
        assert!(spec(RoleName::Admin).check().is_ok());
        assert!(spec(RoleName::Department).check().is_err());
        let mut d = spec(RoleName::Department);
        d.jurisdictions = vec!["350102".into()];
        d.kinds = vec!["*".into()];
        assert!(d.check().is_ok());
        assert_eq!(d.kind_set(), None);
        let mut a = spec(RoleName::Agency);
        assert!(a.check().is_err());
        a.access = Some(AgencyAccess::Conditional);
        assert!(a.check().is_ok());
        let mut m = spec(RoleName::Monitor);
        m.access = Some(AgencyAccess::Government);
        assert!(m.check().unwrap_err().problem.contains("agency"));
        let mut bad = spec(RoleName::Auditor);
        bad.id = "has space".into();
        assert!(bad.check().is_err());
        let mut bad = spec(RoleName::Auditor);
        bad.sha256 = "xyz".into();
        assert!(bad.check().unwrap_err().problem.contains("64 hex"));
        let mut bad = spec(RoleName::Auditor);
        bad.expires = Some("next tuesday".into());
        assert!(bad.check().unwrap_err().problem.contains("RFC 3339"));
    }

    #[test]
    fn file_round_trips_and_refuses_duplicates() {
        let mut a = spec(RoleName::Agency);
        a.access = Some(AgencyAccess::Government);
        a.expires = Some("2027-06-30T00:00:00+08:00".into());
        let mut b = spec(RoleName::Monitor);
        b.id = "t2".into();
        b.sha256 = "cd".repeat(32);
        let file = TokensFile { token: vec![a, b] };
        let text = file.to_toml();
        assert_eq!(TokensFile::parse(&text).expect("parses"), file);
        assert_eq!(
            file.token[0].expires_ms().expect("valid"),
            Some(1_814_284_800_000)
        );
        let dup = TokensFile {
            token: vec![file.token[1].clone(), file.token[1].clone()],
        };
        assert!(
            TokensFile::parse(&dup.to_toml())
                .unwrap_err()
                .problem
                .contains("twice")
        );
        assert!(TokensFile::parse("[[token]]\nid = 1\n").is_err());
    }
}
