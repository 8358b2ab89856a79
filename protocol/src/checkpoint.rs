//! Checkpoints: "origin's log has N entries with Merkle root R", as C2SP
//! tlog-checkpoint bodies (<https://c2sp.org/tlog-checkpoint>) inside signed
//! notes (see [`crate::note`]).
//!
//! Body: `<origin>\n<size>\n<base64(root)>\n`. The origin line is
//! `<federation>/<member id>`, for example `rongxin.fuzhou/gulou`, and is also
//! the name of the member's note key. Size is decimal without leading zeros.
//! Rongxin writes no extension lines; when reading, extension lines are
//! accepted and ignored, as the format asks.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::merkle::Hash;
use crate::note::{NoteError, NoteSigner, NoteVerifier};

/// A checkpoint's content (what the signature vouches for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, `<federation>/<member id>`.
    pub origin: String,
    /// Number of entries in the log.
    pub size: u64,
    /// RFC 6962 root hash of those entries.
    pub root: Hash,
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note itself is bad or unsigned by the expected key.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The body does not have the checkpoint form.
    #[error("checkpoint body is malformed: {0}")]
    Body(String),
    /// The checkpoint is for another log.
    #[error("checkpoint is for log '{found}', expected '{expected}'")]
    Origin {
        /// The origin line expected.
        expected: String,
        /// The origin line found.
        found: String,
    },
}

/// A checkpoint with the exact signed note that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What the note says.
    pub checkpoint: Checkpoint,
    /// The whole signed note text, byte for byte as signed.
    pub note: String,
}

impl Checkpoint {
    /// The checkpoint body text.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body (the text of the note, unverified).
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |why: &str| CheckpointError::Body(why.to_owned());
        let mut lines = text.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size = lines.next().ok_or_else(|| bad("no size line"))?;
        let root = lines.next().ok_or_else(|| bad("no root hash line"))?;
        if origin.is_empty() {
            return Err(bad("the origin line is empty"));
        }
        let size_ok = !size.is_empty()
            && size.bytes().all(|c| c.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| size_ok)
            .ok_or_else(|| bad(&format!("size '{size}' is not a decimal number")))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the root line is not the base64 of 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Signs this checkpoint with the log's key; the key's name must be the
    /// origin line.
    pub fn sign(&self, signer: &NoteSigner) -> Result<SignedCheckpoint, CheckpointError> {
        if signer.name() != self.origin {
            return Err(CheckpointError::Origin {
                expected: self.origin.clone(),
                found: signer.name().to_owned(),
            });
        }
        Ok(SignedCheckpoint {
            checkpoint: self.clone(),
            note: signer.sign(&self.body())?,
        })
    }
}

/// The size an unverified checkpoint note states (0 if it cannot be read):
/// what chooses the key that must have signed it (docs/protocol.md §6.1).
pub fn stated_size(note: &str) -> u64 {
    crate::note::parse_note(note)
        .ok()
        .and_then(|n| Checkpoint::parse_body(n.text).ok())
        .map_or(0, |c| c.size)
}

impl SignedCheckpoint {
    /// Opens a checkpoint note: verifies the signature by `verifier` (whose
    /// name is the origin line) and parses the body.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<SignedCheckpoint, CheckpointError> {
        let text = verifier.open(note)?;
        let checkpoint = Checkpoint::parse_body(text)?;
        if checkpoint.origin != verifier.name() {
            return Err(CheckpointError::Origin {
                expected: verifier.name().to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(SignedCheckpoint {
            checkpoint,
            note: note.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> NoteSigner {
        NoteSigner::new(
            "rongxin.fuzhou/gulou",
            crate::suite::SecretKey::from_bytes(crate::suite::Suite::Ed25519Sha256, &[42; 32])
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn checkpoint_text_is_pinned() {
        let cp = Checkpoint {
            origin: "rongxin.fuzhou/gulou".into(),
            size: 8,
            root: hex_root("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
        };
        assert_eq!(
            cp.body(),
            "rongxin.fuzhou/gulou\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
        );
        let s = signer();
        let signed = cp.sign(&s).unwrap();
        let vkey = s.verifier().to_string();
        // Known answer: deterministic Ed25519 over the body with seed [42; 32].
        assert_eq!(vkey, EXPECTED_VKEY);
        assert_eq!(signed.note, EXPECTED_NOTE);
        let opened = SignedCheckpoint::open(&signed.note, s.verifier()).unwrap();
        assert_eq!(opened.checkpoint, cp);
    }

    const EXPECTED_VKEY: &str =
        "rongxin.fuzhou/gulou+cee863f6+ARl/ayPhbIUyxqvIOPrNXqeJvgx2spIDNAOb+os9No1h";
    const EXPECTED_NOTE: &str = "rongxin.fuzhou/gulou\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\u{2014} rongxin.fuzhou/gulou zuhj9u81Vfxcj/tc56eZUR4vYsQamtiGxUhWmV3BsXYeA6u+hwPrtdPMrpyyAN7y3FhKjTXoeRgxhAQvsGml/Mtnfw4=\n";

    fn hex_root(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn bodies_are_strict() {
        let ok = "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
        assert_eq!(Checkpoint::parse_body(ok).unwrap().size, 0);
        let with_ext = "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nextension\n";
        assert_eq!(Checkpoint::parse_body(with_ext).unwrap().size, 1);
        for bad in [
            "",
            "o\n",
            "o\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n1\nAAAA\n",
            "o\n18446744073709551616\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        ] {
            assert!(Checkpoint::parse_body(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_checkpoint_signed_for_another_origin_is_refused() {
        let other = NoteSigner::new(
            "rongxin.fuzhou/taijiang",
            crate::suite::SecretKey::from_bytes(crate::suite::Suite::Ed25519Sha256, &[42; 32])
                .unwrap(),
        )
        .unwrap();
        let cp = Checkpoint {
            origin: "rongxin.fuzhou/gulou".into(),
            size: 0,
            root: crate::merkle::empty_root(crate::suite::Suite::Ed25519Sha256),
        };
        assert!(matches!(
            cp.sign(&other),
            Err(CheckpointError::Origin { .. })
        ));
        // A note whose body names gulou but is signed under taijiang's name.
        let note = other.sign(&cp.body()).unwrap();
        assert!(matches!(
            SignedCheckpoint::open(&note, other.verifier()),
            Err(CheckpointError::Origin { .. })
        ));
    }
}
