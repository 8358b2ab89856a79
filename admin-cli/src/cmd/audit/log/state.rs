//! The resume state of `audit log`: how far an origin's log has been
//! verified, enough to go on from there without fetching the verified
//! entries again — the tree's size, root and frontier, the last leaf hash
//! (the next entry's `prev_hash`), the key starts learned from handovers,
//! the entries withheld so far and the newest checkpoint seen.
//!
//! JSON with a version field, written atomically (a temporary file in the
//! same directory, synced, then renamed over the old one), so that a crash
//! or Ctrl-C leaves either the old state or the new one. Nothing in it is
//! trusted on its own: [`AuditState::check`] recomputes the root from the
//! frontier, and the caller checks the node's checkpoint against it with a
//! consistency proof before going on.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::merkle::{CompactTree, Hash, Suite};
use serde::{Deserialize, Serialize};

/// The only version written and read.
pub const STATE_VERSION: u32 = 1;

/// One origin's verified prefix, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The roster's federation.
    pub federation: String,
    /// The origin (member id).
    pub origin: String,
    /// The federation's suite (the hash of the tree).
    pub suite: Suite,
    /// Entries verified: positions `0..size`.
    pub size: u64,
    /// The tree root of those entries, base64.
    pub root: String,
    /// The leaf hash of entry `size - 1`, base64 (zero for the empty log).
    pub last_leaf: String,
    /// The compact tree's frontier (one hash per set bit of `size`, largest
    /// subtree first), base64.
    pub frontier: Vec<String>,
    /// Key starts learned from handovers: (key index, first position).
    pub key_starts: Vec<(usize, u64)>,
    /// Entries withheld from the reader, as inclusive ranges `[first, last]`.
    pub withheld: Vec<(u64, u64)>,
    /// The newest checkpoint note seen (its signature verified).
    pub checkpoint: String,
}

/// The verified prefix, decoded and checked.
#[derive(Debug, Clone)]
pub struct Resumed {
    /// The tree of the verified entries.
    pub tree: CompactTree,
    /// The leaf hash of the last verified entry.
    pub last_leaf: Hash,
}

impl AuditState {
    /// Reads the state at `path`; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<AuditState>> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the state file {}", path.display()));
            }
        };
        let state: AuditState = serde_json::from_str(&text).with_context(|| {
            format!(
                "the state file {} is not an audit state (damaged or edited?); \
                 pass --restart to verify from the start",
                path.display()
            )
        })?;
        if state.version != STATE_VERSION {
            bail!(
                "the state file {} has version {}, this rongxinctl reads version {STATE_VERSION}; \
                 pass --restart to verify from the start",
                path.display(),
                state.version
            );
        }
        Ok(Some(state))
    }

    /// Decodes the tree and checks that the state is one whole: for the
    /// federation, origin and suite given, and its root is its frontier's.
    pub fn check(&self, federation: &str, origin: &str, suite: Suite) -> Result<Resumed, String> {
        if self.federation != federation || self.origin != origin {
            return Err(format!(
                "it is the state of {}/{}, not of {federation}/{origin}",
                self.federation, self.origin
            ));
        }
        if self.suite != suite {
            return Err(format!(
                "it is for suite {}, the roster's is {suite}",
                self.suite
            ));
        }
        let hash = |what: &str, text: &str| -> Result<Hash, String> {
            B64.decode(text)
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| format!("its {what} is not base64 of 32 bytes"))
        };
        let root = hash("root", &self.root)?;
        let last_leaf = hash("last leaf hash", &self.last_leaf)?;
        let frontier = self
            .frontier
            .iter()
            .map(|h| hash("frontier", h))
            .collect::<Result<Vec<_>, _>>()?;
        let tree =
            CompactTree::from_parts(suite, self.size, frontier).map_err(|e| e.to_string())?;
        if tree.root() != root {
            return Err(format!(
                "its frontier gives the root {}, but it says {}",
                B64.encode(tree.root()),
                self.root
            ));
        }
        if (self.size == 0) != (last_leaf == [0; 32]) {
            return Err("its last leaf hash does not fit its size".to_owned());
        }
        let withheld_ok = self.withheld.iter().all(|&(a, b)| a <= b && b < self.size);
        if !withheld_ok {
            return Err("its withheld ranges lie outside the entries verified".to_owned());
        }
        Ok(Resumed { tree, last_leaf })
    }

    /// Writes the state to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut text =
            serde_json::to_string_pretty(self).context("cannot serialise the audit state")?;
        text.push('\n');
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        };
        write().with_context(|| format!("cannot write the state file {}", path.display()))
    }
}

/// The default state file of `origin` in `federation`:
/// `$XDG_CACHE_HOME/rongxin/audit/<federation>/<origin>.state`, else under
/// `~/.cache`, else `./rongxin-audit-<origin>.state`.
pub fn default_path(federation: &str, origin: &str) -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        });
    match cache {
        Some(c) => c
            .join("rongxin")
            .join("audit")
            .join(federation)
            .join(format!("{origin}.state")),
        None => PathBuf::from(format!("rongxin-audit-{origin}.state")),
    }
}
