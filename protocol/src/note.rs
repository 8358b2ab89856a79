//! C2SP signed notes (<https://c2sp.org/signed-note>), the format of Go's
//! `golang.org/x/mod/sumdb/note`, with Ed25519 keys or, in the `sm2-sm3`
//! suite, SM2 keys.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one line per
//! signature: `— <key name> <base64(key id || signature)>`. The key id is the
//! first four bytes of H(name || "\n" || type || public key), where H is the
//! suite's hash and `type` the suite's signature type ([`Suite::note_type`]:
//! `0x01` for Ed25519 as C2SP assigns it, `0xff` followed by `rongxin-sm2` for
//! SM2, which C2SP assigns no byte), and the signature covers exactly the
//! text. Keys are written in the same formats as Go's: verifier keys
//! `name+hex8+base64(type || public key)` and signer keys
//! `PRIVATE+KEY+name+hex8+base64(type || secret)`, so an auditor can hand an
//! Ed25519 key to `note.NewVerifier` / `note.NewSigner` unchanged.
//!
//! Rongxin signs two kinds of note: checkpoints (see [`crate::checkpoint`]),
//! signed by a member's key, and the roster (see [`crate::roster`]), signed by
//! the federation root key.

use std::fmt;

use crate::suite::{KeyError, PublicKey, SecretKey, Suite};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// The dash that opens a signature line (U+2014 EM DASH, then a space).
const SIG_PREFIX: &str = "\u{2014} ";
/// Most signature lines a note may carry; more is refused as abuse.
pub const MAX_SIGNATURES: usize = 100;
/// Largest note accepted, in bytes (a roster of a few hundred members fits).
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// Why a key or note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name that signed notes cannot carry.
    #[error("key name '{0}' is invalid: it must be non-empty, without spaces or '+'")]
    KeyName(String),
    /// A verifier or signer key string that does not parse.
    #[error("malformed {what} key: {why}")]
    KeyFormat {
        /// "verifier" or "signer".
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The note text breaks the format (no final newline, control characters, …).
    #[error("malformed note: {0}")]
    Malformed(String),
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("note is {0} bytes, more than the {MAX_NOTE_BYTES}-byte limit")]
    TooLarge(usize),
    /// No signature by the expected key is on the note.
    #[error("note has no signature by key '{name}' (key id {id:08x})")]
    NoSignature {
        /// The expected key's name.
        name: String,
        /// The expected key's id.
        id: u32,
    },
    /// A signature by the expected key is present but does not verify.
    #[error(
        "signature by key '{0}' does not verify: the note was altered or signed by another key"
    )]
    BadSignature(String),
}

/// The key id of a key with this name (C2SP signed-note), with the hash of
/// the key's suite.
pub fn key_id(name: &str, key: &PublicKey) -> u32 {
    let suite = key.suite();
    let d = suite.hash(&[name.as_bytes(), b"\n", suite.note_type(), key.as_bytes()]);
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Whether `name` may name a note key: non-empty, no Unicode white space, no '+'.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// A public key with its name: checks note signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: PublicKey,
    id: u32,
}

impl NoteVerifier {
    /// A verifier for `key` under `name`.
    pub fn new(name: &str, key: PublicKey) -> Result<NoteVerifier, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::KeyName(name.to_owned()));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            id: key_id(name, &key),
            key,
        })
    }

    /// Parses `name+hex8+base64(type || key)`, checking that the id matches.
    pub fn parse(text: &str) -> Result<NoteVerifier, NoteError> {
        let bad = |why: &str| NoteError::KeyFormat {
            what: "verifier",
            why: why.to_owned(),
        };
        let text = text.trim_end_matches(['\n', '\r']);
        // The base64 key may itself hold '+': split off name and id only.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected three '+'-separated parts: name+id+key"));
        };
        let (suite, key) = decode_typed_key(key).map_err(|why| bad(&why))?;
        let key = PublicKey::from_bytes(suite, &key).map_err(|e| bad(&e.to_string()))?;
        let v = NoteVerifier::new(name, key)?;
        if id.len() != 8 || u32::from_str_radix(id, 16).ok() != Some(v.id) {
            return Err(bad(&format!(
                "key id '{id}' does not match the key (expected {:08x})",
                v.id
            )));
        }
        Ok(v)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The key's id.
    pub fn id(&self) -> u32 {
        self.id
    }
    /// The public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The suite of the key.
    pub fn suite(&self) -> Suite {
        self.key.suite()
    }

    /// Opens a signed note: checks the format and this key's signature, and
    /// returns the text (everything before the blank line). Signatures by
    /// other keys are ignored, as the format prescribes.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let parsed = parse_note(note)?;
        let mut found = false;
        for sig in &parsed.signatures {
            if sig.name == self.name && sig.id == self.id {
                found = true;
                if self.key.verify(parsed.text.as_bytes(), &sig.signature) {
                    return Ok(parsed.text);
                }
            }
        }
        if found {
            Err(NoteError::BadSignature(self.name.clone()))
        } else {
            Err(NoteError::NoSignature {
                name: self.name.clone(),
                id: self.id,
            })
        }
    }
}

impl fmt::Display for NoteVerifier {
    /// The Go `note` verifier-key string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = [self.key.suite().note_type(), self.key.as_bytes()].concat();
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({self})")
    }
}

/// A private key with its name: signs notes. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct NoteSigner {
    verifier: NoteVerifier,
    key: SecretKey,
}

impl NoteSigner {
    /// A signer for `key` under `name`.
    pub fn new(name: &str, key: SecretKey) -> Result<NoteSigner, NoteError> {
        Ok(NoteSigner {
            verifier: NoteVerifier::new(name, key.public().clone())?,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+name+hex8+base64(type || secret)`.
    pub fn parse(text: &str) -> Result<NoteSigner, NoteError> {
        let bad = |why: &str| NoteError::KeyFormat {
            what: "signer",
            why: why.to_owned(),
        };
        let text = text.trim_end_matches(['\n', '\r']);
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("expected it to start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected PRIVATE+KEY+name+id+key"));
        };
        let (suite, secret) = decode_typed_key(key).map_err(|why| bad(&why))?;
        let secret = SecretKey::from_bytes(suite, &secret).map_err(|e| bad(&e.to_string()))?;
        let s = NoteSigner::new(name, secret)?;
        if id.len() != 8 || u32::from_str_radix(id, 16).ok() != Some(s.verifier.id) {
            return Err(bad("key id does not match the key"));
        }
        Ok(s)
    }

    /// The Go `note` signer-key string. Secret: write it only to a file
    /// that the owner alone can read.
    pub fn to_secret_string(&self) -> String {
        let raw = [self.key.suite().note_type(), &self.key.to_bytes()[..]].concat();
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.verifier.name,
            self.verifier.id,
            B64.encode(raw)
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.verifier.name
    }
    /// The secret key, for signing entries with the same identity.
    pub fn secret(&self) -> &SecretKey {
        &self.key
    }

    /// The suite of the key.
    pub fn suite(&self) -> Suite {
        self.key.suite()
    }

    /// Signs `text` (which must end in a newline and hold no control
    /// characters but newlines, and no blank-line-then-dash ambiguity) and
    /// returns the whole note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.verifier.id.to_be_bytes());
        blob.extend_from_slice(&sig);
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.verifier.name,
            B64.encode(blob)
        ))
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({}, <secret>)", self.verifier)
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's key name.
    pub name: String,
    /// The signer's key id.
    pub id: u32,
    /// The 64-byte signature (Ed25519, or SM2's `r || s`).
    pub signature: [u8; 64],
}

/// A note split into its text and its signature lines (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedNote<'a> {
    /// The signed text, ending in a newline.
    pub text: &'a str,
    /// The signatures, in order.
    pub signatures: Vec<NoteSignature>,
}

/// Splits a note into text and signatures, checking the format but no
/// signature. Signature lines whose payload is not 68 bytes (other
/// algorithms) are skipped, as the format allows.
pub fn parse_note(note: &str) -> Result<ParsedNote<'_>, NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge(note.len()));
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
    let text = &note[..split + 1];
    let sigs = &note[split + 2..];
    check_text(text)?;
    if !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the last signature line does not end in a newline".into(),
        ));
    }
    let mut signatures = Vec::new();
    for line in sigs[..sigs.len() - 1].split('\n') {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            NoteError::Malformed(format!("signature line '{line}' does not start with '— '"))
        })?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| NoteError::Malformed(format!("signature line '{line}' has no key")))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::Malformed(format!(
                "signature line names an invalid key '{name}'"
            )));
        }
        let blob = B64.decode(b64).map_err(|_| {
            NoteError::Malformed(format!("signature by '{name}' is not valid base64"))
        })?;
        if blob.len() < 4 {
            return Err(NoteError::Malformed(format!(
                "signature by '{name}' is too short"
            )));
        }
        signatures.push((name, blob));
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::Malformed(format!(
                "more than {MAX_SIGNATURES} signatures"
            )));
        }
    }
    if signatures.is_empty() {
        return Err(NoteError::Malformed("the note has no signature".into()));
    }
    let signatures = signatures
        .into_iter()
        .filter_map(|(name, blob)| {
            let id = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
            let sig: [u8; 64] = blob[4..].try_into().ok()?;
            Some(NoteSignature {
                name: name.to_owned(),
                id,
                signature: sig,
            })
        })
        .collect();
    Ok(ParsedNote { text, signatures })
}

/// Checks that `text` can be the text of a note.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the text does not end in a newline".into(),
        ));
    }
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
        return Err(NoteError::Malformed(format!(
            "the text holds the control character U+{:04X}",
            u32::from(c)
        )));
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        return Err(NoteError::Malformed("the text holds a blank line".into()));
    }
    Ok(())
}

/// Decodes `base64(type || key bytes)` into the suite and the key bytes.
fn decode_typed_key(b64: &str) -> Result<(Suite, Vec<u8>), String> {
    let raw = B64
        .decode(b64)
        .map_err(|_| "the key is not valid base64".to_owned())?;
    match Suite::split_note_key(&raw) {
        Some((suite, key)) => Ok((suite, key.to_vec())),
        None => match raw.first() {
            Some(alg) => Err(format!(
                "signature type {alg:#04x} is neither Ed25519 (0x01) nor SM2 (0xff 'rongxin-sm2')"
            )),
            None => Err("the key is empty".to_owned()),
        },
    }
}

impl From<KeyError> for NoteError {
    fn from(e: KeyError) -> NoteError {
        NoteError::KeyFormat {
            what: "public",
            why: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers from Go's golang.org/x/mod/sumdb/note documentation and
    // tests: the key pair "PeterNeumann" and the signed note below.
    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn ed(seed: &[u8; 32]) -> SecretKey {
        SecretKey::from_bytes(Suite::Ed25519Sha256, seed).unwrap()
    }

    #[test]
    fn sm2_keys_round_trip_and_sign_notes() {
        let signer = NoteSigner::new(
            "rongxin.fuzhou/root",
            SecretKey::from_bytes(Suite::Sm2Sm3, &[9; 32]).unwrap(),
        )
        .unwrap();
        let again = NoteSigner::parse(&signer.to_secret_string()).unwrap();
        assert_eq!(again.verifier(), signer.verifier());
        let verifier = NoteVerifier::parse(&signer.verifier().to_string()).unwrap();
        assert_eq!(verifier.suite(), Suite::Sm2Sm3);
        let note = signer.sign("hello\n").unwrap();
        assert_eq!(verifier.open(&note).unwrap(), "hello\n");
        // An Ed25519 key of the same name and bytes-derived id does not open it.
        let other = NoteSigner::new("rongxin.fuzhou/root", ed(&[9; 32])).unwrap();
        assert!(other.verifier().open(&note).is_err());
        let altered = note.replace("hello", "hellO");
        assert!(matches!(
            verifier.open(&altered),
            Err(NoteError::BadSignature(_))
        ));
    }

    #[test]
    fn go_known_answer_keys_and_note() {
        let signer = NoteSigner::parse(GO_SKEY).unwrap();
        let verifier = NoteVerifier::parse(GO_VKEY).unwrap();
        assert_eq!(signer.verifier(), &verifier);
        assert_eq!(signer.to_secret_string(), GO_SKEY);
        assert_eq!(verifier.to_string(), GO_VKEY);
        assert_eq!(verifier.id(), 0xc74f20a3);
        let text = verifier.open(GO_NOTE).unwrap();
        assert!(text.starts_with("If you think"));
        // Ed25519 is deterministic: signing the same text gives Go's note.
        let again = signer.sign(text).unwrap();
        assert_eq!(again, GO_NOTE);
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let verifier = NoteVerifier::parse(GO_VKEY).unwrap();
        let bytes = GO_NOTE.as_bytes();
        for i in 0..bytes.len() {
            for delta in [1u8, 0x20, 0x80] {
                let mut b = bytes.to_vec();
                b[i] ^= delta;
                if let Ok(s) = std::str::from_utf8(&b) {
                    assert!(verifier.open(s).is_err(), "byte {i} ^ {delta:#x} accepted");
                }
            }
        }
    }

    #[test]
    fn wrong_key_and_malformed_notes_are_named() {
        let other = NoteSigner::new("PeterNeumann", ed(&[7; 32])).unwrap();
        assert!(matches!(
            other.verifier().open(GO_NOTE),
            Err(NoteError::NoSignature { .. })
        ));
        let v = NoteVerifier::parse(GO_VKEY).unwrap();
        for bad in [
            "",
            "text\n",
            "text\n\n",
            "text\n\nnot a signature\n",
            "text\n\n\u{2014} PeterNeumann !!!\n",
            "tab\there\n\n\u{2014} PeterNeumann x08go/ZJ\n",
        ] {
            assert!(v.open(bad).is_err(), "{bad:?}");
        }
        assert!(other.sign("no newline").is_err());
        assert!(other.sign("blank\n\nline\n").is_err());
        assert!(NoteSigner::new("bad name", ed(&[1; 32])).is_err());
        assert!(NoteVerifier::parse("a+b").is_err());
        assert!(
            NoteVerifier::parse(
                "PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC*(\n\n\u{2014} [a-z]{1,5} [A-Za-z0-9+/=]{0,100}\n)?") {
            let v = NoteVerifier::parse(GO_VKEY).unwrap();
            let _ = v.open(&s);
            let _ = parse_note(&s);
            let _ = NoteVerifier::parse(&s);
            let _ = NoteSigner::parse(&s);
        }
    }
}
