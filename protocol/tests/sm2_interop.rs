//! The `sm2-sm3` suite against the standards and against OpenSSL: SM3 and SM2
//! known answers of GB/T 32905 and GM/T 0003.5 (= GB/T 32918.5), then
//! signatures made by Rongxin verified by `openssl`, signatures and keys
//! made by `openssl` used by Rongxin, and signed notes (checkpoints, rosters)
//! checked by `openssl` as plain SM2 signatures over their text.
//!
//! So a regulator, an HSM or an auditor with nothing but OpenSSL 3 can check
//! and make Rongxin's SM2 signatures. The `openssl` invocations (OpenSSL 3.0,
//! as in `tools/sm2_openssl.py`):
//!
//! ```text
//! openssl pkeyutl -verify -rawin -digest sm3 -pubin -inkey pub.pem -in msg -sigfile sig.der -pkeyopt hexdistid:31323334353637383132333435363738
//! openssl pkeyutl -sign -rawin -digest sm3 -inkey key.pem -in msg -out sig.der -pkeyopt hexdistid:31323334353637383132333435363738
//! openssl genpkey -algorithm SM2 -out key.pem
//! openssl pkey -in key.pem -pubout -outform DER
//! openssl pkey -in key.pem -outform DER
//! openssl pkey -in key.pem -text -noout
//! openssl dgst -sm3 -binary file
//! ```
//!
//! `hexdistid` is the hex of [`SM2_DISTID`], `1234567812345678`. Without it
//! OpenSSL 3.0 computes Z_A with an EMPTY identifier, and refuses the
//! suite's signatures (checked below). `pub.pem` is the SubjectPublicKeyInfo
//! `SEQUENCE { SEQUENCE { id-ecPublicKey, sm2 }, BIT STRING 0x00 || point }`
//! of the 65-byte point; `sig.der` the DER ECDSA-Sig-Value of `r || s`.
//!
//! Without an `openssl` that can do SM2 these tests FAIL, naming the fix;
//! set `RONGXIN_OPENSSL` to the path of an OpenSSL 3 binary when the one on
//! PATH is missing or cannot (macOS's `/usr/bin/openssl` is LibreSSL).

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use std::ffi::{OsStr, OsString};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{FEDERATION, GULOU_SEED, ROOT_SEED, cf_record, record_no};
use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::{Entry, Op, SignedEntry};
use rongxin_protocol::merkle::leaf_hash;
use rongxin_protocol::note::NoteSigner;
use rongxin_protocol::roster::{MemberKey, Roster};
use rongxin_protocol::suite::{PublicKey, SM2_DISTID, SM2_NOTE_TYPE, SecretKey, Suite};

const SM: Suite = Suite::Sm2Sm3;

// ---------------------------------------------------------------------------
// Known answers
// ---------------------------------------------------------------------------

// The SM2 recommended curve (GM/T 0003.5-2012 / GB/T 32918.5-2017).
const CURVE_A: &str = "fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc";
const CURVE_B: &str = "28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93";
const CURVE_GX: &str = "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7";
const CURVE_GY: &str = "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0";

// The signature example of GM/T 0003.5-2012 Annex A (= GB/T 32918.5-2017) on
// the recommended curve, as in tools/test_sm2_openssl.py and OpenSSL's
// test/sm2_internal_test.c: private key dA, public key PA, identifier,
// message, the intermediate Z_A and e, and the signature (r, s) made with
// nonce k = 59276E27...EAC1BC21 (which no API here takes: Rongxin's SM2
// nonces are RFC 6979's, so only verification can reproduce the example).
const KAT_PRIVATE_KEY: &str = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8";
const KAT_PUBLIC_KEY: &str = concat!(
    "04",
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020",
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13",
);
/// The example's identifier, GM/T 0009-2012's default, and the suite's. The
/// openssl side of these tests takes it from here, not from [`SM2_DISTID`],
/// so a change of that constant fails them instead of agreeing with itself.
const KAT_ID: &[u8] = b"1234567812345678";
const KAT_MESSAGE: &[u8] = b"message digest";
const KAT_ZA: &str = "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3";
const KAT_E: &str = "f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640";
const KAT_R: &str = "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3";
const KAT_S: &str = "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa";

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn kat_public() -> Vec<u8> {
    unhex(KAT_PUBLIC_KEY)
}

fn kat_signature() -> [u8; 64] {
    [unhex(KAT_R), unhex(KAT_S)].concat().try_into().unwrap()
}

fn flip(data: &[u8], index: usize) -> Vec<u8> {
    let mut b = data.to_vec();
    b[index] ^= 0x01;
    b
}

fn flip64(sig: &[u8; 64], index: usize) -> [u8; 64] {
    flip(sig, index).try_into().unwrap()
}

#[test]
fn sm3_gives_the_examples_of_gbt_32905() {
    // GB/T 32905-2016 Appendix A, examples 1 and 2.
    assert_eq!(
        hex::encode(SM.hash(&[b"abc"])),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    let abcd16 = b"abcd".repeat(16);
    assert_eq!(
        hex::encode(SM.hash(&[&abcd16])),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
    // Parts are concatenated, not hashed one by one.
    assert_eq!(SM.hash(&[b"ab", b"", b"c"]), SM.hash(&[b"abc"]));
    assert_eq!(
        SM.hash(&[&abcd16[..33], &abcd16[33..]]),
        SM.hash(&[&abcd16])
    );
}

#[test]
fn sm3_gives_z_a_and_e_of_the_gmt_0003_5_example() {
    // Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA), e = SM3(Z_A || M).
    let entl = u16::try_from(KAT_ID.len() * 8).unwrap().to_be_bytes();
    let curve: Vec<u8> = [CURVE_A, CURVE_B, CURVE_GX, CURVE_GY]
        .iter()
        .flat_map(|h| unhex(h))
        .collect();
    let public = kat_public();
    let za = SM.hash(&[&entl, KAT_ID, &curve, &public[1..]]);
    assert_eq!(hex::encode(za), KAT_ZA);
    assert_eq!(hex::encode(SM.hash(&[&za, KAT_MESSAGE])), KAT_E);
    // The suite's identifier is the example's.
    assert_eq!(SM2_DISTID.as_bytes(), KAT_ID);
}

#[test]
fn the_signature_example_of_gmt_0003_5_verifies() {
    let key = PublicKey::from_bytes(SM, &kat_public()).unwrap();
    let sig = kat_signature();
    assert!(key.verify(KAT_MESSAGE, &sig));
    assert_eq!(key.verify_many(&[KAT_MESSAGE], &[sig]), Ok(()));
    // Any one byte of the message or of the signature changed: refused.
    for i in 0..KAT_MESSAGE.len() {
        assert!(
            !key.verify(&flip(KAT_MESSAGE, i), &sig),
            "message byte {i} changed"
        );
    }
    for i in 0..64 {
        assert!(
            !key.verify(KAT_MESSAGE, &flip64(&sig, i)),
            "signature byte {i} changed"
        );
    }
    // r and s swapped, a message one byte longer or shorter, another key.
    let swapped: [u8; 64] = [&sig[32..], &sig[..32]].concat().try_into().unwrap();
    assert!(!key.verify(KAT_MESSAGE, &swapped));
    assert!(!key.verify(b"message digest\n", &sig));
    assert!(!key.verify(b"message diges", &sig));
    let other = SecretKey::from_bytes(SM, &[7; 32]).unwrap();
    assert!(!other.public().verify(KAT_MESSAGE, &sig));
}

#[test]
fn the_private_key_of_gmt_0003_5_gives_its_public_key() {
    let secret = SecretKey::from_bytes(SM, &unhex(KAT_PRIVATE_KEY)).unwrap();
    assert_eq!(hex::encode(secret.public().as_bytes()), KAT_PUBLIC_KEY);
    assert_eq!(hex::encode(secret.to_bytes()), KAT_PRIVATE_KEY);
    // Its own signature of the example message verifies with the example's
    // public key (another nonce than the example's, so another (r, s)).
    let sig = secret.sign(KAT_MESSAGE);
    assert_ne!(sig, kat_signature());
    let public = PublicKey::from_bytes(SM, &kat_public()).unwrap();
    assert!(public.verify(KAT_MESSAGE, &sig));
}

// ---------------------------------------------------------------------------
// DER: the two structures openssl reads and writes
// ---------------------------------------------------------------------------

/// `SEQUENCE { SEQUENCE { id-ecPublicKey, sm2 }, BIT STRING 0x00 || ` before the point.
const SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a811ccf5501822d034200";
/// DER of OID 1.2.840.10045.2.1 (id-ecPublicKey).
const OID_EC_PUBLIC_KEY: &str = "06072a8648ce3d0201";
/// DER of OID 1.2.156.10197.1.301 (sm2).
const OID_SM2: &str = "06082a811ccf5501822d";

fn spki_der(point: &[u8]) -> Vec<u8> {
    assert_eq!(point.len(), 65);
    [unhex(SPKI_PREFIX), point.to_vec()].concat()
}

fn spki_pem(point: &[u8]) -> String {
    let b64 = B64.encode(spki_der(point));
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// Splits one DER TLV off `der`: (tag, content, rest), or None if it is
/// truncated. Short and one- or two-byte long lengths only, as these
/// structures need.
fn try_tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (len, start) = match *der.get(1)? {
        n if n < 0x80 => (usize::from(n), 2),
        0x81 => (usize::from(*der.get(2)?), 3),
        0x82 => (
            usize::from(u16::from_be_bytes([*der.get(2)?, *der.get(3)?])),
            4,
        ),
        _ => return None,
    };
    let content = der.get(start..start + len)?;
    Some((der[0], content, &der[start + len..]))
}

fn tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
    try_tlv(der).unwrap_or_else(|| panic!("bad DER: {}", hex::encode(der)))
}

fn der_integer(value: &[u8]) -> Vec<u8> {
    let first = value
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(value.len() - 1);
    let mut v = value[first..].to_vec();
    if v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    [vec![0x02, u8::try_from(v.len()).unwrap()], v].concat()
}

/// The DER ECDSA-Sig-Value `SEQUENCE { INTEGER r, INTEGER s }` of `r || s`.
fn signature_der(sig: &[u8; 64]) -> Vec<u8> {
    let body = [der_integer(&sig[..32]), der_integer(&sig[32..])].concat();
    [vec![0x30, u8::try_from(body.len()).unwrap()], body].concat()
}

/// `r || s` of a strict, minimal DER ECDSA-Sig-Value.
fn signature_raw(der: &[u8]) -> Result<[u8; 64], String> {
    let bad = |why: &str| format!("{why}: {}", hex::encode(der));
    let (tag, body, rest) = try_tlv(der).ok_or_else(|| bad("truncated"))?;
    if tag != 0x30 || !rest.is_empty() {
        return Err(bad("not one DER SEQUENCE"));
    }
    let (tag_r, r, rest) = try_tlv(body).ok_or_else(|| bad("truncated r"))?;
    let (tag_s, s, rest) = try_tlv(rest).ok_or_else(|| bad("truncated s"))?;
    if tag_r != 0x02 || tag_s != 0x02 || !rest.is_empty() {
        return Err(bad("not two INTEGERs"));
    }
    let mut raw = [0u8; 64];
    for (half, int) in raw.chunks_mut(32).zip([r, s]) {
        if int.is_empty() || int[0] & 0x80 != 0 {
            return Err(bad("empty or negative INTEGER"));
        }
        let first = int.iter().position(|&b| b != 0).unwrap_or(int.len());
        let v = &int[first..];
        if v.len() > 32 {
            return Err(bad("r or s longer than 32 bytes"));
        }
        half[32 - v.len()..].copy_from_slice(v);
    }
    if signature_der(&raw) != der {
        return Err(bad("not minimal DER"));
    }
    Ok(raw)
}

/// The private scalar (and public point, if given) of `openssl pkey
/// -outform DER`: a SEC1 ECPrivateKey (RFC 5915, what OpenSSL 3.0 writes
/// for EC keys), or a PKCS#8 PrivateKeyInfo (RFC 5208) around one.
fn private_key_der(der: &[u8]) -> ([u8; 32], Option<Vec<u8>>) {
    let (tag, body, rest) = tlv(der);
    assert!(tag == 0x30 && rest.is_empty(), "not one DER SEQUENCE");
    let (tag, version, body) = tlv(body);
    assert_eq!(tag, 0x02, "no version INTEGER");
    match version {
        [1] => {
            let (tag, scalar, mut rest) = tlv(body);
            assert!(tag == 0x04 && scalar.len() == 32, "no 32-byte privateKey");
            let mut point = None;
            while !rest.is_empty() {
                let (tag, content, next) = tlv(rest);
                match tag {
                    // parameters: the named curve sm2.
                    0xa0 => assert_eq!(hex::encode(content), OID_SM2),
                    // publicKey: BIT STRING 0x00 || point.
                    0xa1 => {
                        let (tag, bits, _) = tlv(content);
                        assert!(tag == 0x03 && bits.first() == Some(&0), "bad publicKey");
                        point = Some(bits[1..].to_vec());
                    }
                    _ => panic!("unexpected ECPrivateKey field {tag:#04x}"),
                }
                rest = next;
            }
            (scalar.try_into().unwrap(), point)
        }
        [0] => {
            let (tag, algorithm, rest) = tlv(body);
            assert_eq!(tag, 0x30);
            assert_eq!(
                hex::encode(algorithm),
                format!("{OID_EC_PUBLIC_KEY}{OID_SM2}"),
                "not an SM2 PrivateKeyInfo"
            );
            let (tag, inner, _) = tlv(rest);
            assert_eq!(tag, 0x04);
            private_key_der(inner)
        }
        v => panic!("unexpected private key version {}", hex::encode(v)),
    }
}

/// The `priv:` scalar printed by `openssl pkey -text -noout`.
fn private_key_text(text: &str) -> [u8; 32] {
    let after = text
        .split_once("priv:")
        .unwrap_or_else(|| panic!("no priv: in\n{text}"))
        .1;
    let digits: String = after
        .split_once("pub:")
        .map_or(after, |(p, _)| p)
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    let bytes = unhex(&digits);
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let v = &bytes[first..];
    assert!(v.len() <= 32, "priv: longer than 32 bytes");
    let mut out = [0u8; 32];
    out[32 - v.len()..].copy_from_slice(v);
    out
}

#[test]
fn der_conversions_are_strict_and_minimal() {
    let raw: [u8; 64] = [[0u8; 31].as_slice(), &[1], &[0x80], &[0; 31]]
        .concat()
        .try_into()
        .unwrap();
    let der = signature_der(&raw);
    assert_eq!(
        hex::encode(&der),
        format!("3026020101022100{}{}", "80", "00".repeat(31))
    );
    assert_eq!(signature_raw(&der), Ok(raw));
    // Both r and s of the example have the high bit set.
    let kat = signature_der(&kat_signature());
    assert_eq!(hex::encode(&kat[..4]), "30460221");
    assert_eq!(signature_raw(&kat), Ok(kat_signature()));
    for bad in [
        "3007020200010201010000", // trailing bytes
        "300702020001020101",     // r with a leading zero
        "3006020101020181",       // negative s
        "300602010102",           // truncated
        "3008020101020101",       // wrong outer length
    ] {
        assert!(signature_raw(&unhex(bad)).is_err(), "{bad} accepted");
    }
}

// ---------------------------------------------------------------------------
// openssl
// ---------------------------------------------------------------------------

const FIX: &str = "install OpenSSL 3.0 or later built with SM2 (e.g. `apt-get install openssl`), \
                   or set RONGXIN_OPENSSL to the path of such an openssl binary";

/// An `openssl` binary.
#[derive(Debug)]
struct Openssl {
    bin: OsString,
}

/// What `openssl pkeyutl -verify` said.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Exit 0, "Signature Verified Successfully".
    Verified,
    /// Exit 1, "Signature Verification Failure".
    Refused,
    /// Anything else (a key it cannot load, a usage error), with stderr.
    Error(String),
}

/// The hex identifier option of pkeyutl.
fn distid_opt(distid: &[u8]) -> String {
    format!("hexdistid:{}", hex::encode(distid))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rongxin-sm2-interop-")
        .tempdir()
        .unwrap()
}

impl Openssl {
    /// Runs `openssl args...` (no shell, no stdin); Err if it cannot be run.
    fn try_run<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Output, String> {
        Command::new(&self.bin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                let bin = self.bin.to_string_lossy();
                if e.kind() == ErrorKind::NotFound {
                    format!("the SM2 interop tests need the openssl command, and '{bin}' was not found: {FIX}")
                } else {
                    format!("'{bin}' could not be run ({e}): {FIX}")
                }
            })
    }

    fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.try_run(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `run`, failing the test unless openssl exits 0; its stdout.
    fn run_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> Vec<u8> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "openssl {:?} failed ({}): {}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// `openssl pkeyutl -verify` of `signature` (r || s) over `message` by
    /// the SM2 `point`, with identifier `distid`, or none (OpenSSL's empty
    /// default) when `None`.
    fn try_verify(
        &self,
        point: &[u8],
        message: &[u8],
        signature: &[u8; 64],
        distid: Option<&[u8]>,
    ) -> Result<Verdict, String> {
        let dir = tempdir();
        let pub_pem = write(dir.path(), "pub.pem", spki_pem(point).as_bytes());
        let msg = write(dir.path(), "msg", message);
        let sig = write(dir.path(), "sig.der", &signature_der(signature));
        let mut args: Vec<OsString> = [
            "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey",
        ]
        .map(OsString::from)
        .to_vec();
        args.push(pub_pem.into());
        args.push("-in".into());
        args.push(msg.into());
        args.push("-sigfile".into());
        args.push(sig.into());
        if let Some(id) = distid {
            args.push("-pkeyopt".into());
            args.push(distid_opt(id).into());
        }
        let out = self.try_run(&args)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        Ok(
            if out.status.success() && stdout.contains("Signature Verified Successfully") {
                Verdict::Verified
            } else if out.status.code() == Some(1)
                && stdout.contains("Signature Verification Failure")
            {
                Verdict::Refused
            } else {
                Verdict::Error(format!(
                    "{}: {stdout} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ))
            },
        )
    }

    fn verify(
        &self,
        point: &[u8],
        message: &[u8],
        signature: &[u8; 64],
        distid: Option<&[u8]>,
    ) -> Verdict {
        self.try_verify(point, message, signature, distid)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `openssl pkeyutl -verify` with the standard identifier `1234567812345678`.
    fn verify_sm2(&self, point: &[u8], message: &[u8], signature: &[u8; 64]) -> Verdict {
        self.verify(point, message, signature, Some(KAT_ID))
    }

    /// `openssl pkeyutl -sign` of `message` by the key in `key_pem`; r || s.
    fn sign(&self, key_pem: &Path, message: &[u8], distid: &[u8]) -> [u8; 64] {
        let dir = tempdir();
        let msg = write(dir.path(), "msg", message);
        let sig = dir.path().join("sig.der");
        self.run_ok(&[
            OsStr::new("pkeyutl"),
            OsStr::new("-sign"),
            OsStr::new("-rawin"),
            OsStr::new("-digest"),
            OsStr::new("sm3"),
            OsStr::new("-inkey"),
            key_pem.as_os_str(),
            OsStr::new("-in"),
            msg.as_os_str(),
            OsStr::new("-out"),
            sig.as_os_str(),
            OsStr::new("-pkeyopt"),
            OsStr::new(&distid_opt(distid)),
        ]);
        signature_raw(&std::fs::read(&sig).unwrap())
            .unwrap_or_else(|e| panic!("openssl wrote a signature that is not DER r, s: {e}"))
    }

    /// `openssl dgst -sm3 -binary` of `data`.
    fn sm3(&self, data: &[u8]) -> Vec<u8> {
        let dir = tempdir();
        let file = write(dir.path(), "data", data);
        self.run_ok(&[
            OsStr::new("dgst"),
            OsStr::new("-sm3"),
            OsStr::new("-binary"),
            file.as_os_str(),
        ])
    }

    /// An SM2 key made by `openssl genpkey` in `dir`: the PEM file, the
    /// 65-byte public point and the 32-byte private scalar, each read back
    /// from openssl's own encodings.
    fn generate(&self, dir: &Path) -> (PathBuf, Vec<u8>, [u8; 32]) {
        let key = dir.join("key.pem");
        self.run_ok(&[
            OsStr::new("genpkey"),
            OsStr::new("-algorithm"),
            OsStr::new("SM2"),
            OsStr::new("-out"),
            key.as_os_str(),
        ]);
        let pkey = |extra: &[&str]| {
            let mut args = vec![OsStr::new("pkey"), OsStr::new("-in"), key.as_os_str()];
            args.extend(extra.iter().map(OsStr::new));
            self.run_ok(&args)
        };
        // The public point: the last 65 bytes of the SubjectPublicKeyInfo,
        // after checking that the rest is the SM2 header.
        let spki = pkey(&["-pubout", "-outform", "DER"]);
        assert!(spki.len() > 65, "short SubjectPublicKeyInfo");
        let (header, point) = spki.split_at(spki.len() - 65);
        assert_eq!(hex::encode(header), SPKI_PREFIX, "not an SM2 SPKI");
        assert_eq!(point[0], 0x04);
        // The scalar, from the DER private key and, independently, from the
        // text dump; the DER key's own copy of the point must match too.
        let (scalar, der_point) = private_key_der(&pkey(&["-outform", "DER"]));
        if let Some(p) = der_point {
            assert_eq!(p, point, "the private key's public point");
        }
        let text = String::from_utf8(pkey(&["-text", "-noout"])).unwrap();
        assert_eq!(private_key_text(&text), scalar, "priv: of -text");
        // genpkey's own file is PKCS#8 PEM: the same scalar again.
        let pem = std::fs::read_to_string(&key).unwrap();
        let b64: String = pem
            .strip_prefix("-----BEGIN PRIVATE KEY-----\n")
            .and_then(|p| p.trim_end().strip_suffix("-----END PRIVATE KEY-----"))
            .unwrap_or_else(|| panic!("genpkey wrote no PKCS#8 PEM:\n{pem}"))
            .split_whitespace()
            .collect();
        let (pkcs8_scalar, _) = private_key_der(&B64.decode(b64).unwrap());
        assert_eq!(pkcs8_scalar, scalar, "the PKCS#8 PEM's scalar");
        (key, point.to_vec(), scalar)
    }
}

/// Checks that `bin` runs and verifies the GM/T 0003.5 example; its version.
fn check_openssl(bin: &OsStr) -> Result<String, String> {
    let o = Openssl { bin: bin.into() };
    let out = o.try_run(&["version"])?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let name = bin.to_string_lossy();
    let verdict = o.try_verify(&kat_public(), KAT_MESSAGE, &kat_signature(), Some(KAT_ID))?;
    if verdict == Verdict::Verified {
        Ok(version)
    } else {
        Err(format!(
            "'{name}' ({}) cannot verify SM2 signatures ({verdict:?}): {FIX}",
            if version.is_empty() {
                "unknown version"
            } else {
                &version
            }
        ))
    }
}

/// The openssl of these tests (`$RONGXIN_OPENSSL`, else `openssl` on PATH),
/// checked once; fails the calling test, naming the fix, if it cannot do SM2.
fn openssl() -> &'static Openssl {
    static CHECKED: OnceLock<Result<Openssl, String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let bin = std::env::var_os("RONGXIN_OPENSSL").unwrap_or_else(|| "openssl".into());
        check_openssl(&bin).map(|_| Openssl { bin })
    });
    match checked {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn an_openssl_that_is_missing_or_cannot_do_sm2_fails_naming_the_fix() {
    let missing = check_openssl(OsStr::new("/nonexistent/openssl")).unwrap_err();
    assert!(missing.contains("was not found"), "{missing}");
    assert!(missing.contains("RONGXIN_OPENSSL"), "{missing}");
    assert!(missing.contains("OpenSSL 3.0"), "{missing}");
    // A command that runs but verifies nothing (`false` exits 1, silently).
    let no_sm2 = check_openssl(OsStr::new("false")).unwrap_err();
    assert!(no_sm2.contains("RONGXIN_OPENSSL"), "{no_sm2}");
}

#[test]
fn openssl_checks_the_gmt_0003_5_example_as_rongxin_does() {
    let o = openssl();
    let public = kat_public();
    let sig = kat_signature();
    assert_eq!(o.verify_sm2(&public, KAT_MESSAGE, &sig), Verdict::Verified);
    assert_eq!(
        o.verify_sm2(&public, b"message digesT", &sig),
        Verdict::Refused
    );
    assert_eq!(
        o.verify_sm2(&public, KAT_MESSAGE, &flip64(&sig, 63)),
        Verdict::Refused
    );
    // OpenSSL 3.0's default identifier is empty, not the standard's.
    assert_eq!(o.verify(&public, KAT_MESSAGE, &sig, None), Verdict::Refused);
    assert_eq!(
        o.verify(&public, KAT_MESSAGE, &sig, Some(b"1234567812345679")),
        Verdict::Refused
    );
}

// ---------------------------------------------------------------------------
// Rongxin <-> OpenSSL
// ---------------------------------------------------------------------------

/// 300 KB of varied bytes.
fn big_message() -> Vec<u8> {
    (0..300 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Entry 0 of gulou's log (a penalty), signed by `key`: the exact bytes an
/// SM2 log signs.
fn signed_entry(key: &SecretKey) -> SignedEntry {
    let e = common::entry("gulou", 0, [0; 32], Op::Put(cf_record(&record_no(0))));
    let signed = e.sign(key).unwrap();
    assert_eq!(&signed.bytes[..15], b"rongxin/entry\n\x02");
    assert_eq!(Entry::suite_of(&signed.bytes), Ok(SM));
    signed
}

/// The messages both directions sign: empty, ASCII, 300 KB, a real entry.
fn messages(key: &SecretKey) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("ascii", b"rongxin sm2-sm3 interop\n".to_vec()),
        ("300 KB", big_message()),
        ("entry", signed_entry(key).bytes),
    ]
}

#[test]
fn rongxin_signatures_verify_in_openssl() {
    let o = openssl();
    let key = SecretKey::generate(SM, &mut UnwrapErr(SysRng));
    let point = key.public().as_bytes();
    assert_eq!(point.len(), 65);
    for (name, msg) in messages(&key) {
        let sig = key.sign(&msg);
        assert!(key.public().verify(&msg, &sig), "{name}");
        assert_eq!(o.verify_sm2(point, &msg, &sig), Verdict::Verified, "{name}");
        // Another identifier, or OpenSSL's empty default: refused.
        assert_eq!(
            o.verify(point, &msg, &sig, Some(b"1234567812345679")),
            Verdict::Refused,
            "{name} with another distid"
        );
        assert_eq!(
            o.verify(point, &msg, &sig, None),
            Verdict::Refused,
            "{name} without a distid"
        );
    }
    // The entry's own signature, as the log stores it.
    let entry = signed_entry(&key);
    assert_eq!(
        o.verify_sm2(point, &entry.bytes, &entry.signature),
        Verdict::Verified
    );
    assert_eq!(
        o.verify_sm2(point, &flip(&entry.bytes, 20), &entry.signature),
        Verdict::Refused
    );
    assert_eq!(
        o.verify_sm2(point, &entry.bytes, &flip64(&entry.signature, 40)),
        Verdict::Refused
    );
}

#[test]
fn openssl_signatures_verify_in_rongxin() {
    let o = openssl();
    let dir = tempdir();
    let (key_pem, point, scalar) = o.generate(dir.path());
    let public = PublicKey::from_bytes(SM, &point).unwrap();
    // The scalar openssl wrote is the secret key of its point.
    let secret = SecretKey::from_bytes(SM, &scalar).unwrap();
    assert_eq!(secret.public(), &public);
    for (name, msg) in messages(&secret) {
        let sig = o.sign(&key_pem, &msg, KAT_ID);
        assert!(public.verify(&msg, &sig), "{name}");
        assert!(!public.verify(&msg, &flip64(&sig, 5)), "{name} changed sig");
        if !msg.is_empty() {
            assert!(!public.verify(&flip(&msg, 0), &sig), "{name} changed msg");
        }
    }
    // An entry signed by openssl (an HSM, say) is an entry Rongxin accepts.
    let entry = signed_entry(&secret);
    let by_openssl = SignedEntry {
        bytes: entry.bytes.clone(),
        signature: o.sign(&key_pem, &entry.bytes, KAT_ID),
    };
    assert_eq!(by_openssl.verify(&public).unwrap().seq, 0);
    // Signed with another identifier: refused.
    let other_id = o.sign(&key_pem, b"rongxin", b"other-id");
    assert!(!public.verify(b"rongxin", &other_id));
    let other_id = o.sign(&key_pem, b"rongxin", b"");
    assert!(!public.verify(b"rongxin", &other_id));
}

#[test]
fn an_openssl_key_signs_in_rongxin_and_verifies_in_openssl() {
    let o = openssl();
    let dir = tempdir();
    let (_, point, scalar) = o.generate(dir.path());
    let secret = SecretKey::from_bytes(SM, &scalar).unwrap();
    assert_eq!(secret.public().as_bytes(), point.as_slice());
    for (name, msg) in messages(&secret) {
        let sig = secret.sign(&msg);
        assert_eq!(
            o.verify_sm2(&point, &msg, &sig),
            Verdict::Verified,
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------
// Signed notes
// ---------------------------------------------------------------------------

fn sm_key(seed: u8) -> SecretKey {
    SecretKey::from_bytes(SM, &[seed; 32]).unwrap()
}

/// The fixture roster in the sm2-sm3 suite (as in sm2_suite.rs).
fn sm_roster() -> Roster {
    let mut r = common::roster();
    r.suite = SM;
    r.catalog_digest = SM.file_digest(common::CATALOG_TOML.as_bytes());
    for (m, seed) in r.members.iter_mut().zip([GULOU_SEED, 2, 3]) {
        m.keys = vec![MemberKey {
            key: sm_key(seed).public().to_base64(),
            from: Some(0),
            compromised: false,
        }];
    }
    r
}

/// Checks, with openssl alone, the one signature of `note` by `signer`: the
/// text is everything up to the blank line, the signature line is
/// `— <name> base64(key id || r || s)`, the key id the first four bytes of
/// SM3(name || "\n" || 0xff "rongxin-sm2" || point).
fn check_note_with_openssl(o: &Openssl, note: &str, signer: &NoteSigner) {
    let point = signer.verifier().key().as_bytes();
    let split = note.rfind("\n\n").unwrap();
    let text = &note[..=split];
    let line = note[split + 2..].strip_suffix('\n').unwrap();
    assert!(!line.contains('\n'), "one signature line: {line}");
    let (name, b64) = line
        .strip_prefix("\u{2014} ")
        .unwrap()
        .split_once(' ')
        .unwrap();
    assert_eq!(name, signer.name());
    let blob = B64.decode(b64).unwrap();
    assert_eq!(blob.len(), 68, "4-byte key id and 64-byte signature");
    let (id, sig) = blob.split_at(4);
    let sig: [u8; 64] = sig.try_into().unwrap();
    let id_hash = o.sm3(&[name.as_bytes(), b"\n", SM2_NOTE_TYPE, point].concat());
    assert_eq!(id, &id_hash[..4], "key id");
    assert_eq!(
        u32::from_be_bytes(id.try_into().unwrap()),
        signer.verifier().id()
    );
    assert_eq!(
        o.verify_sm2(point, text.as_bytes(), &sig),
        Verdict::Verified,
        "{note}"
    );
    // The signature covers the text only, and all of it.
    assert_eq!(o.verify_sm2(point, note.as_bytes(), &sig), Verdict::Refused);
    assert_eq!(
        o.verify_sm2(point, &flip(text.as_bytes(), 0), &sig),
        Verdict::Refused
    );
}

#[test]
fn signed_notes_are_sm2_signatures_over_their_text() {
    let o = openssl();
    // A text, signed by the root.
    let root = NoteSigner::new(
        &format!("{FEDERATION}/root"),
        SecretKey::generate(SM, &mut UnwrapErr(SysRng)),
    )
    .unwrap();
    assert_eq!(root.name(), "rongxin.fuzhou/root");
    let note = root
        .sign("rongxin.fuzhou\n榕信 sm2-sm3 note\n42\n")
        .unwrap();
    check_note_with_openssl(o, &note, &root);

    // A checkpoint, signed by gulou's entry key.
    let gulou = NoteSigner::new(&format!("{FEDERATION}/gulou"), sm_key(GULOU_SEED)).unwrap();
    let entry = signed_entry(gulou.secret());
    let checkpoint = Checkpoint {
        origin: format!("{FEDERATION}/gulou"),
        size: 1,
        root: leaf_hash(SM, &entry.bytes),
    }
    .sign(&gulou)
    .unwrap();
    check_note_with_openssl(o, &checkpoint.note, &gulou);

    // The roster, signed by the federation root key.
    let root = NoteSigner::new(&format!("{FEDERATION}/root"), sm_key(ROOT_SEED)).unwrap();
    let roster = sm_roster().sign(&root).unwrap();
    check_note_with_openssl(o, &roster.note, &root);
}
