//! Signature suites: which signature algorithm and which hash a federation
//! uses, named once in its roster and followed by every signature and hash of
//! that federation (entries, checkpoints, rosters, Merkle trees, key ids).
//!
//! | suite | signatures | hash | public key | entry tag byte | note signature type |
//! | --- | --- | --- | --- | --- | --- |
//! | `ed25519-sha256` | Ed25519 (RFC 8032, strict) | SHA-256 | 32 bytes | `0x01` | `0x01` |
//! | `sm2-sm3` | SM2 (GB/T 32918.2), ZA with [`SM2_DISTID`] | SM3 (GB/T 32905) | 65 bytes, SEC1 uncompressed | `0x02` | `0xff` + `rongxin-sm2` |
//!
//! Signatures are 64 bytes in both suites (SM2: `r || s`, 32 bytes each,
//! big endian), and hashes 32 bytes. The primitives are RustCrypto's
//! `ed25519-dalek`, `sha2`, `sm2` and `sm3`; this module only chooses between
//! them.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::merkle::Hash;

/// The distinguishing identifier of SM2 signatures: the default of
/// GM/T 0009-2012 §10 (`1234567812345678`), which OpenSSL and GmSSL also use.
pub const SM2_DISTID: &str = "1234567812345678";

/// The signed-note signature type of SM2 keys: C2SP assigns no byte to SM2,
/// and reserves `0xff` for types "followed by a longer identifier".
pub const SM2_NOTE_TYPE: &[u8] = b"\xffrongxin-sm2";

/// The signed-note signature type of Ed25519 keys (C2SP signed-note).
pub const ED25519_NOTE_TYPE: &[u8] = &[0x01];

/// A federation's signature suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Suite {
    /// Ed25519 signatures, SHA-256 hashes (the original suite).
    #[default]
    #[serde(rename = "ed25519-sha256")]
    Ed25519Sha256,
    /// SM2 signatures, SM3 hashes (the national commercial cryptography
    /// algorithms of GB/T 39786-2021).
    #[serde(rename = "sm2-sm3")]
    Sm2Sm3,
}

/// Why a suite name, key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An unknown suite name.
    #[error("unknown signature suite '{0}': expected ed25519-sha256 or sm2-sm3")]
    UnknownSuite(String),
    /// Key bytes that are not a key of the suite.
    #[error("not an {suite} {what} key: {why}")]
    Invalid {
        /// The suite.
        suite: Suite,
        /// "public" or "secret".
        what: &'static str,
        /// What is wrong.
        why: String,
    },
}

impl Suite {
    /// Both suites.
    pub const ALL: [Suite; 2] = [Suite::Ed25519Sha256, Suite::Sm2Sm3];

    /// The suite's name, as the roster writes it.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Ed25519Sha256 => "ed25519-sha256",
            Suite::Sm2Sm3 => "sm2-sm3",
        }
    }

    /// The hash's name, as digests of files are written (`sha256:<hex>`, `sm3:<hex>`).
    pub fn hash_name(self) -> &'static str {
        match self {
            Suite::Ed25519Sha256 => "sha256",
            Suite::Sm2Sm3 => "sm3",
        }
    }

    /// The hash of the concatenation of `parts`.
    pub fn hash(self, parts: &[&[u8]]) -> Hash {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Hash {
            let mut h = D::new();
            for p in parts {
                h.update(p);
            }
            let mut out = [0u8; 32];
            out.copy_from_slice(&h.finalize());
            out
        }
        match self {
            Suite::Ed25519Sha256 => run::<sha2::Sha256>(parts),
            Suite::Sm2Sm3 => run::<sm3::Sm3>(parts),
        }
    }

    /// `<hash name>:<hex of the hash of bytes>`, the form of file digests.
    pub fn file_digest(self, bytes: &[u8]) -> String {
        format!("{}:{}", self.hash_name(), hex::encode(self.hash(&[bytes])))
    }

    /// The last byte of the tag that opens this suite's entries.
    pub fn entry_version(self) -> u8 {
        match self {
            Suite::Ed25519Sha256 => 0x01,
            Suite::Sm2Sm3 => 0x02,
        }
    }

    /// The suite whose entries open with tag byte `v`.
    pub fn from_entry_version(v: u8) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.entry_version() == v)
    }

    /// The signature-type identifier of this suite's keys in signed notes.
    pub fn note_type(self) -> &'static [u8] {
        match self {
            Suite::Ed25519Sha256 => ED25519_NOTE_TYPE,
            Suite::Sm2Sm3 => SM2_NOTE_TYPE,
        }
    }

    /// Splits `type || key bytes` (a note key's base64 payload) into the suite
    /// and the key bytes.
    pub fn split_note_key(raw: &[u8]) -> Option<(Suite, &[u8])> {
        // SM2's type starts with 0xff, Ed25519's is 0x01: no prefix of the other.
        Suite::ALL
            .into_iter()
            .find_map(|s| raw.strip_prefix(s.note_type()).map(|rest| (s, rest)))
    }

    /// Length of a public key of this suite, in bytes.
    pub fn public_key_len(self) -> usize {
        match self {
            Suite::Ed25519Sha256 => 32,
            Suite::Sm2Sm3 => 65,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Suite {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Suite, KeyError> {
        Suite::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| KeyError::UnknownSuite(s.to_owned()))
    }
}

#[derive(Clone)]
enum Public {
    Ed25519(ed25519_dalek::VerifyingKey),
    Sm2(Box<sm2::dsa::VerifyingKey>),
}

/// A public (verifying) key of either suite.
#[derive(Clone)]
pub struct PublicKey {
    key: Public,
    bytes: Vec<u8>,
}

impl PublicKey {
    /// Parses key bytes: 32 for Ed25519 (refusing weak, small-order keys),
    /// 65 for SM2 (an uncompressed point on the curve).
    pub fn from_bytes(suite: Suite, bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let bad = |why: &str| KeyError::Invalid {
            suite,
            what: "public",
            why: why.to_owned(),
        };
        if bytes.len() != suite.public_key_len() {
            return Err(bad(&format!(
                "{} bytes, expected {}",
                bytes.len(),
                suite.public_key_len()
            )));
        }
        let key = match suite {
            Suite::Ed25519Sha256 => {
                let raw: [u8; 32] = bytes.try_into().map_err(|_| bad("not 32 bytes"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
                    .map_err(|_| bad("not a point of the curve"))?;
                if key.is_weak() {
                    return Err(bad("a weak (small-order) key"));
                }
                Public::Ed25519(key)
            }
            Suite::Sm2Sm3 => {
                if bytes[0] != 0x04 {
                    return Err(bad("not an uncompressed point (0x04 || x || y)"));
                }
                let key = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DISTID, bytes)
                    .map_err(|_| bad("not a point of the SM2 curve"))?;
                Public::Sm2(Box::new(key))
            }
        };
        Ok(PublicKey {
            key,
            bytes: bytes.to_vec(),
        })
    }

    /// Parses the base64 of the key bytes.
    pub fn from_base64(suite: Suite, b64: &str) -> Result<PublicKey, KeyError> {
        let raw = B64.decode(b64).map_err(|_| KeyError::Invalid {
            suite,
            what: "public",
            why: "not valid base64".to_owned(),
        })?;
        PublicKey::from_bytes(suite, &raw)
    }

    /// The suite of this key.
    pub fn suite(&self) -> Suite {
        match self.key {
            Public::Ed25519(_) => Suite::Ed25519Sha256,
            Public::Sm2(_) => Suite::Sm2Sm3,
        }
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The base64 of the key bytes, as the roster lists keys.
    pub fn to_base64(&self) -> String {
        B64.encode(&self.bytes)
    }

    /// Whether `signature` is this key's signature over `message` (Ed25519:
    /// strict verification; SM2: with [`SM2_DISTID`]).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        match &self.key {
            Public::Ed25519(k) => k
                .verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
                .is_ok(),
            Public::Sm2(k) => {
                use sm2::dsa::signature::Verifier as _;
                sm2::dsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
        }
    }

    /// Verifies many signatures by this key; on failure, the index of the
    /// first bad one. Ed25519 uses batch verification (about twice as fast),
    /// then checks each alone to name the bad one.
    pub fn verify_many(&self, messages: &[&[u8]], signatures: &[[u8; 64]]) -> Result<(), usize> {
        if messages.len() != signatures.len() {
            return Err(messages.len().min(signatures.len()));
        }
        if let Public::Ed25519(k) = &self.key {
            let sigs: Vec<ed25519_dalek::Signature> = signatures
                .iter()
                .map(ed25519_dalek::Signature::from_bytes)
                .collect();
            let keys = vec![*k; messages.len()];
            if ed25519_dalek::verify_batch(messages, &sigs, &keys).is_ok() {
                return Ok(());
            }
        }
        match messages
            .iter()
            .zip(signatures)
            .position(|(m, s)| !self.verify(m, s))
        {
            Some(i) => Err(i),
            None => Ok(()),
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.suite() == other.suite() && self.bytes == other.bytes
    }
}
impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.suite(), self.to_base64())
    }
}

#[derive(Clone)]
enum Secret {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    Sm2(Box<sm2::dsa::SigningKey>),
}

/// A secret (signing) key of either suite. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretKey {
    key: Secret,
    public: PublicKey,
}

/// n-1 for SM2's group order n (GB/T 32918.5), big endian.
const SM2_N_MINUS_1: [u8; 32] = [
    0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x72, 0x03, 0xdf, 0x6b, 0x21, 0xc6, 0x05, 0x2b, 0x53, 0xbb, 0xf4, 0x09, 0x39, 0xd5, 0x41, 0x22,
];

impl SecretKey {
    /// A new random key.
    pub fn generate(suite: Suite, rng: &mut impl rand_core::CryptoRng) -> SecretKey {
        match suite {
            Suite::Ed25519Sha256 => Self::from_ed25519(ed25519_dalek::SigningKey::generate(rng)),
            Suite::Sm2Sm3 => loop {
                use sm2::elliptic_curve::Generate as _;
                // A random scalar below n; if it is 0, which is no key
                // (probability 2^-256), a new one is drawn.
                let secret = sm2::SecretKey::generate_from_rng(rng);
                if let Ok(k) = Self::from_bytes(suite, &secret.to_bytes()) {
                    return k;
                }
            },
        }
    }

    /// Parses the secret bytes: a 32-byte Ed25519 seed, or a 32-byte SM2
    /// scalar (big endian, in 1..n-2).
    pub fn from_bytes(suite: Suite, bytes: &[u8]) -> Result<SecretKey, KeyError> {
        let bad = |why: &str| KeyError::Invalid {
            suite,
            what: "secret",
            why: why.to_owned(),
        };
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad(&format!("{} bytes, expected 32", bytes.len())))?;
        match suite {
            Suite::Ed25519Sha256 => Ok(Self::from_ed25519(ed25519_dalek::SigningKey::from_bytes(
                &raw,
            ))),
            Suite::Sm2Sm3 => {
                // GB/T 32918.1 §6.1: d in [1, n-2]. Signing inverts 1 + d,
                // so n-1 would load here and fail at the first signature.
                if raw == SM2_N_MINUS_1 {
                    return Err(bad(
                        "n-1 is not an SM2 secret key (GB/T 32918.1: d in 1..n-2)",
                    ));
                }
                let key = sm2::dsa::SigningKey::from_bytes(SM2_DISTID, &raw.into())
                    .map_err(|_| bad("not a scalar in 1..n-2"))?;
                let public = PublicKey::from_bytes(
                    suite,
                    sm2::elliptic_curve::sec1::ToSec1Point::to_sec1_point(
                        key.verifying_key(),
                        false,
                    )
                    .as_bytes(),
                )?;
                Ok(SecretKey {
                    key: Secret::Sm2(Box::new(key)),
                    public,
                })
            }
        }
    }

    fn from_ed25519(key: ed25519_dalek::SigningKey) -> SecretKey {
        let public = PublicKey {
            key: Public::Ed25519(key.verifying_key()),
            bytes: key.verifying_key().as_bytes().to_vec(),
        };
        SecretKey {
            key: Secret::Ed25519(Box::new(key)),
            public,
        }
    }

    /// The suite of this key.
    pub fn suite(&self) -> Suite {
        self.public.suite()
    }

    /// The secret bytes (seed or scalar). Secret: write them only to a file
    /// that the owner alone can read.
    pub fn to_bytes(&self) -> [u8; 32] {
        match &self.key {
            Secret::Ed25519(k) => k.to_bytes(),
            Secret::Sm2(k) => k.to_bytes().into(),
        }
    }

    /// The matching public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` (SM2: deterministically, RFC 6979 nonces).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        match &self.key {
            Secret::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(message).to_bytes()
            }
            Secret::Sm2(k) => {
                use sm2::dsa::signature::Signer as _;
                let sig: sm2::dsa::Signature = k.sign(message);
                sig.to_bytes().into()
            }
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({:?}, <secret>)", self.public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_the_published_values() {
        assert_eq!(
            hex::encode(Suite::Ed25519Sha256.hash(&[b"ab", b"c"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // GB/T 32905-2016 Appendix A, example 1.
        assert_eq!(
            hex::encode(Suite::Sm2Sm3.hash(&[b"abc"])),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn keys_sign_and_verify_in_both_suites() {
        for suite in Suite::ALL {
            let key = SecretKey::from_bytes(suite, &[7; 32]).unwrap();
            let sig = key.sign(b"hello");
            assert!(key.public().verify(b"hello", &sig));
            assert!(!key.public().verify(b"hellO", &sig));
            let again = SecretKey::from_bytes(suite, &key.to_bytes()).unwrap();
            assert_eq!(again.public(), key.public());
            let pk = PublicKey::from_base64(suite, &key.public().to_base64()).unwrap();
            assert_eq!(&pk, key.public());
            assert_eq!(pk.as_bytes().len(), suite.public_key_len());
            assert_eq!(pk.verify_many(&[b"hello", b"x"], &[sig, sig]), Err(1));
            assert_eq!(pk.verify_many(&[b"hello"], &[sig]), Ok(()));
        }
    }

    /// SM2 secret keys are 1..n-2: n-1 would load and then fail to sign,
    /// n-2 is the largest key and signs.
    #[test]
    fn the_sm2_secret_key_n_minus_1_is_refused() {
        let e = SecretKey::from_bytes(Suite::Sm2Sm3, &SM2_N_MINUS_1).unwrap_err();
        assert!(e.to_string().contains("n-1"), "{e}");
        let mut n_minus_2 = SM2_N_MINUS_1;
        n_minus_2[31] -= 1;
        let key = SecretKey::from_bytes(Suite::Sm2Sm3, &n_minus_2).unwrap();
        assert!(key.public().verify(b"m", &key.sign(b"m")));
        let mut n = SM2_N_MINUS_1;
        n[31] += 1;
        assert!(SecretKey::from_bytes(Suite::Sm2Sm3, &n).is_err());
    }

    #[test]
    fn suites_and_keys_do_not_mix() {
        let ed = SecretKey::from_bytes(Suite::Ed25519Sha256, &[7; 32]).unwrap();
        assert!(PublicKey::from_bytes(Suite::Sm2Sm3, ed.public().as_bytes()).is_err());
        assert!(SecretKey::from_bytes(Suite::Sm2Sm3, &[0; 32]).is_err());
        assert_eq!("sm2-sm3".parse::<Suite>(), Ok(Suite::Sm2Sm3));
        assert!("sm2".parse::<Suite>().is_err());
        assert_eq!(
            Suite::split_note_key(b"\x01abc"),
            Some((Suite::Ed25519Sha256, &b"abc"[..]))
        );
        assert_eq!(
            Suite::split_note_key(b"\xffrongxin-sm2\x04"),
            Some((Suite::Sm2Sm3, &b"\x04"[..]))
        );
        assert_eq!(Suite::split_note_key(b"\x02abc"), None);
    }
}
