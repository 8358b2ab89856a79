//! Node views: a member's signed report of what it holds of every origin,
//! whom it last heard from and which origins it halted, so that any node
//! (the city's console in particular) shows the whole federation without
//! reaching every node's HTTP port (docs/protocol.md §8.1).
//!
//! A view is a signed note (see [`crate::note`]) under the member's
//! checkpoint key name `<federation>/<member id>`, signed by the key that
//! signs the member's checkpoint of its current own log size (§6.1). Its
//! first line, `rongxin/view/v1`, can never be a checkpoint's origin line,
//! so a view is never mistaken for a checkpoint nor a checkpoint for a view:
//!
//! ```text
//! rongxin/view/v1
//! member gulou
//! time 1764316800000
//! version 0.1.0
//! health ok
//! origin city 12 12
//! origin gulou 40 40
//! peer city 1764316799500
//! peer ftz -
//! halted taijiang
//! forward gulou 38
//! ```
//!
//! `version <v>`: the node software's version (1 to 32 of `0-9A-Za-z.+-`).
//! `health ok|unwritable`: whether its store takes writes (as `/healthz`).
//! `origin <id> <held> <checkpoint>`: entries held, and the size of the
//! largest checkpoint of that origin seen from any peer (or held).
//! `peer <id> <ms>`: the last answer from that configured peer (`-`: none
//! yet). `halted <id>`: an origin halted after equivocation. `forward <id>
//! <cursor>`: on a node that forwards to the province (the city), the
//! entries of that origin forwarded. Each kind of line is in strictly ascending order of id, so each id
//! appears once; numbers are decimal without leading zeros.

use crate::note::{NoteError, NoteSigner, NoteVerifier};
use crate::roster::{Roster, is_member_id};

/// The first line of every view.
pub const VIEW_HEADER: &str = "rongxin/view/v1";
/// Largest view note accepted or written, in bytes.
pub const MAX_VIEW_BYTES: usize = 64 * 1024;
/// How far in the future (by the receiver's clock) a view's time may lie.
pub const MAX_FUTURE_MS: u64 = 60_000;

/// What a member holds of one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginHeld {
    /// Member id of the origin.
    pub origin: String,
    /// Entries held.
    pub held: u64,
    /// Size of the largest checkpoint of the origin seen from any peer or held.
    pub checkpoint: u64,
}

/// When a member last heard from one of its configured peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerContact {
    /// Member id of the peer.
    pub member: String,
    /// Milliseconds since the Unix epoch of its last answer, if any.
    pub last_contact_ms: Option<u64>,
}

/// How far a forwarding node (the city) forwarded one origin to the province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardCursor {
    /// Member id of the origin.
    pub origin: String,
    /// Entries of the origin forwarded.
    pub cursor: u64,
}

/// Whether a node's store takes writes, as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// The store takes writes (`/healthz` answers 200).
    Ok,
    /// The store refuses writes (a full or failing disk): the node still
    /// answers reads.
    Unwritable,
}

impl Health {
    /// The word in the view's `health` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Unwritable => "unwritable",
        }
    }
}

/// Longest version text a view carries.
pub const MAX_VERSION_LEN: usize = 32;

/// Whether `v` is a version a view may carry: 1 to [`MAX_VERSION_LEN`] of
/// `0-9A-Za-z.+-`.
pub fn is_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_VERSION_LEN
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-'))
}

/// A member's view of the federation (what the signature vouches for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// Member id of the reporting node.
    pub member: String,
    /// When it made the report, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The node software's version.
    pub version: String,
    /// Whether its store takes writes.
    pub health: Health,
    /// Per origin held, in ascending order of origin.
    pub origins: Vec<OriginHeld>,
    /// Per configured peer, in ascending order of member.
    pub peers: Vec<PeerContact>,
    /// Origins halted after equivocation, ascending.
    pub halted: Vec<String>,
    /// Per origin forwarded to the province, ascending (empty on a node
    /// that does not forward).
    pub forward: Vec<ForwardCursor>,
}

/// A view with the exact signed note that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedView {
    /// What the note says.
    pub view: NodeView,
    /// The whole signed note, byte for byte as signed.
    pub note: String,
}

/// Why a view was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// Larger than [`MAX_VIEW_BYTES`].
    #[error("view is {0} bytes, more than the {MAX_VIEW_BYTES}-byte limit")]
    TooLarge(usize),
    /// The text does not have the view form.
    #[error("view is malformed: {0}")]
    Malformed(String),
    /// The note is bad or not signed by the member's key.
    #[error("view note: {0}")]
    Note(#[from] NoteError),
    /// The reporting member is not in the roster in force.
    #[error("view is by '{0}', who is not a member of the roster")]
    UnknownMember(String),
    /// The view's time lies too far ahead of the receiver's clock.
    #[error(
        "view by '{member}' is dated {time_ms}, more than {MAX_FUTURE_MS} ms after now ({now_ms})"
    )]
    Future {
        /// The reporting member.
        member: String,
        /// The view's time.
        time_ms: u64,
        /// The receiver's clock.
        now_ms: u64,
    },
    /// The signing key's name is not the member's checkpoint key name.
    #[error("view of '{member}' cannot be signed by key '{key}'")]
    Signer {
        /// The reporting member.
        member: String,
        /// The key's name.
        key: String,
    },
}

fn malformed(why: impl Into<String>) -> ViewError {
    ViewError::Malformed(why.into())
}

fn parse_u64(s: &str, what: &str) -> Result<u64, ViewError> {
    let ok =
        !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    s.parse::<u64>()
        .ok()
        .filter(|_| ok)
        .ok_or_else(|| malformed(format!("{what} '{s}' is not a decimal number")))
}

fn member_id(s: &str) -> Result<String, ViewError> {
    if is_member_id(s) {
        Ok(s.to_owned())
    } else {
        Err(malformed(format!("'{s}' is not a member id")))
    }
}

/// Checks that ids are in strictly ascending order and at most `max`.
fn ordered<'a>(
    ids: impl Iterator<Item = &'a str>,
    kind: &str,
    max: usize,
) -> Result<(), ViewError> {
    let mut last: Option<&str> = None;
    let mut n = 0usize;
    for id in ids {
        n += 1;
        if last.is_some_and(|l| l >= id) {
            return Err(malformed(format!(
                "{kind} lines are not in strictly ascending order at '{id}'"
            )));
        }
        last = Some(id);
    }
    if n > max {
        return Err(malformed(format!(
            "{n} {kind} lines, more than the roster's {max} members"
        )));
    }
    Ok(())
}

impl NodeView {
    /// The entries the member holds of its own log (0 if none).
    pub fn own_size(&self) -> u64 {
        self.origin(&self.member).map_or(0, |o| o.held)
    }

    /// What the member holds of `origin`.
    pub fn origin(&self, origin: &str) -> Option<&OriginHeld> {
        self.origins.iter().find(|o| o.origin == origin)
    }

    /// The view's text (items sorted by id; duplicates are the caller's bug
    /// and make the text unreadable to receivers).
    pub fn body(&self) -> String {
        let mut origins: Vec<&OriginHeld> = self.origins.iter().collect();
        origins.sort_by(|a, b| a.origin.cmp(&b.origin));
        let mut peers: Vec<&PeerContact> = self.peers.iter().collect();
        peers.sort_by(|a, b| a.member.cmp(&b.member));
        let mut halted: Vec<&String> = self.halted.iter().collect();
        halted.sort();
        let mut out = format!(
            "{VIEW_HEADER}\nmember {}\ntime {}\nversion {}\nhealth {}\n",
            self.member,
            self.time_ms,
            self.version,
            self.health.as_str()
        );
        for o in origins {
            out.push_str(&format!(
                "origin {} {} {}\n",
                o.origin, o.held, o.checkpoint
            ));
        }
        for p in peers {
            match p.last_contact_ms {
                Some(t) => out.push_str(&format!("peer {} {t}\n", p.member)),
                None => out.push_str(&format!("peer {} -\n", p.member)),
            }
        }
        for h in halted {
            out.push_str(&format!("halted {h}\n"));
        }
        let mut forward: Vec<&ForwardCursor> = self.forward.iter().collect();
        forward.sort_by(|a, b| a.origin.cmp(&b.origin));
        for f in forward {
            out.push_str(&format!("forward {} {}\n", f.origin, f.cursor));
        }
        out
    }

    /// Parses a view's text (unverified). `max_members` bounds each kind
    /// of line (a view never names more origins or peers than the roster
    /// has members).
    pub fn parse_body(text: &str, max_members: usize) -> Result<NodeView, ViewError> {
        if text.len() > MAX_VIEW_BYTES {
            return Err(ViewError::TooLarge(text.len()));
        }
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("the text does not end in a newline"))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(VIEW_HEADER) {
            return Err(malformed(format!("the first line is not '{VIEW_HEADER}'")));
        }
        let member = lines
            .next()
            .and_then(|l| l.strip_prefix("member "))
            .ok_or_else(|| malformed("the second line is not 'member <id>'"))
            .and_then(member_id)?;
        let time_ms = lines
            .next()
            .and_then(|l| l.strip_prefix("time "))
            .ok_or_else(|| malformed("the third line is not 'time <ms>'"))
            .and_then(|t| parse_u64(t, "time"))?;
        let version = lines
            .next()
            .and_then(|l| l.strip_prefix("version "))
            .ok_or_else(|| malformed("the fourth line is not 'version <v>'"))?;
        if !is_version(version) {
            return Err(malformed(format!(
                "version '{version}' is not 1 to {MAX_VERSION_LEN} of 0-9A-Za-z.+-"
            )));
        }
        let health = match lines.next().and_then(|l| l.strip_prefix("health ")) {
            Some("ok") => Health::Ok,
            Some("unwritable") => Health::Unwritable,
            _ => return Err(malformed("the fifth line is not 'health ok|unwritable'")),
        };
        let mut view = NodeView {
            member,
            time_ms,
            version: version.to_owned(),
            health,
            origins: Vec::new(),
            peers: Vec::new(),
            halted: Vec::new(),
            forward: Vec::new(),
        };
        // Kinds come in this order: origin, peer, halted, forward.
        let mut stage = 0;
        for line in lines {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields[..] {
                ["origin", id, held, checkpoint] if stage <= 0 => {
                    view.origins.push(OriginHeld {
                        origin: member_id(id)?,
                        held: parse_u64(held, "held")?,
                        checkpoint: parse_u64(checkpoint, "checkpoint size")?,
                    });
                }
                ["peer", id, t] if stage <= 1 => {
                    stage = 1;
                    view.peers.push(PeerContact {
                        member: member_id(id)?,
                        last_contact_ms: if t == "-" {
                            None
                        } else {
                            Some(parse_u64(t, "last contact")?)
                        },
                    });
                }
                ["halted", id] if stage <= 2 => {
                    stage = 2;
                    view.halted.push(member_id(id)?);
                }
                ["forward", id, cursor] => {
                    stage = 3;
                    view.forward.push(ForwardCursor {
                        origin: member_id(id)?,
                        cursor: parse_u64(cursor, "forward cursor")?,
                    });
                }
                _ => return Err(malformed(format!("unexpected line '{line}'"))),
            }
            let lines =
                view.origins.len() + view.peers.len() + view.halted.len() + view.forward.len();
            if lines > 4 * max_members {
                return Err(malformed("more lines than the roster allows"));
            }
        }
        ordered(
            view.origins.iter().map(|o| o.origin.as_str()),
            "origin",
            max_members,
        )?;
        ordered(
            view.peers.iter().map(|p| p.member.as_str()),
            "peer",
            max_members,
        )?;
        ordered(
            view.halted.iter().map(String::as_str),
            "halted",
            max_members,
        )?;
        ordered(
            view.forward.iter().map(|f| f.origin.as_str()),
            "forward",
            max_members,
        )?;
        Ok(view)
    }

    /// Signs the view with the member's checkpoint key for its own log's
    /// size; the key's name must be `<federation>/<member>`.
    pub fn sign(&self, federation: &str, signer: &NoteSigner) -> Result<SignedView, ViewError> {
        if signer.name() != format!("{federation}/{}", self.member) {
            return Err(ViewError::Signer {
                member: self.member.clone(),
                key: signer.name().to_owned(),
            });
        }
        let note = signer.sign(&self.body())?;
        if note.len() > MAX_VIEW_BYTES {
            return Err(ViewError::TooLarge(note.len()));
        }
        Ok(SignedView {
            view: self.clone(),
            note,
        })
    }
}

impl SignedView {
    /// Opens a view note by any member of `roster`: reads the member and its
    /// own log size, then verifies the signature with that member's key for
    /// a checkpoint of that size, or a pending key after it (§6.1).
    /// `learned` gives, for the member the view claims, the key starts this
    /// receiver learned from its handovers (as
    /// [`crate::roster::Member::key_starts_with`] takes them). A view dated more than [`MAX_FUTURE_MS`] after `now_ms`
    /// is refused.
    pub fn open(
        note: &str,
        roster: &Roster,
        learned: impl FnOnce(&str) -> Vec<(usize, u64)>,
        now_ms: u64,
    ) -> Result<SignedView, ViewError> {
        if note.len() > MAX_VIEW_BYTES {
            return Err(ViewError::TooLarge(note.len()));
        }
        let parsed = crate::note::parse_note(note)?;
        let view = NodeView::parse_body(parsed.text, roster.members.len())?;
        let member = roster
            .member(&view.member)
            .ok_or_else(|| ViewError::UnknownMember(view.member.clone()))?;
        if view.time_ms > now_ms.saturating_add(MAX_FUTURE_MS) {
            return Err(ViewError::Future {
                member: view.member,
                time_ms: view.time_ms,
                now_ms,
            });
        }
        let name = roster.log_origin(&view.member);
        let starts = member.key_starts_with(&learned(&view.member));
        let index = starts.index_at(view.own_size().saturating_sub(1));
        let open = |i: usize| -> Result<(), ViewError> {
            let key = member
                .key(roster.suite, i)
                .map_err(|e| malformed(e.to_string()))?;
            NoteVerifier::new(&name, key)?.open(note)?;
            Ok(())
        };
        let first = match open(index) {
            Ok(()) => {
                return Ok(SignedView {
                    view,
                    note: note.to_owned(),
                });
            }
            Err(e) => e,
        };
        for i in starts.pending().filter(|&i| i > index) {
            if open(i).is_ok() {
                return Ok(SignedView {
                    view,
                    note: note.to_owned(),
                });
            }
        }
        Err(first)
    }
}

#[cfg(test)]
mod tests;
