//! Shared fixtures of the protocol integration tests: deterministic keys, the
//! sample catalog, a three-member roster signed by a root key, realistic
//! records, a small signed log with its Merkle tree and checkpoint, and
//! provenance bundles over it.
//!
//! Every key is `SigningKey::from_bytes(&[n; 32])`, so every byte the fixtures
//! produce is the same on every run (Ed25519 signatures are deterministic).
#![allow(
    dead_code,
    reason = "each test file uses its own subset of the fixtures"
)]

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::bundle::Bundle;
use rongxin_protocol::catalog::{Catalog, SubjectClass};
use rongxin_protocol::checkpoint::{Checkpoint, SignedCheckpoint};
use rongxin_protocol::entry::{Entry, Op, Revoke, RevokeReason, SignedEntry};
use rongxin_protocol::merkle::{Hash, MemoryHashes, inclusion_proof, tree_root};
use rongxin_protocol::note::{NoteSigner, NoteVerifier};
use rongxin_protocol::record::{Authority, Record, RecordKey, Subject};
use rongxin_protocol::roster::{Member, MemberKey, Role, Roster, SignedRoster};
use rongxin_protocol::suite::{SecretKey, Suite};
use rongxin_protocol::value::{Date, FieldValue};

/// The sample catalog, byte for byte.
pub const CATALOG_TOML: &str = include_str!("../../../config-examples/catalog.toml");

pub const FEDERATION: &str = "rongxin.fuzhou";
/// Seeds of the deterministic keys.
pub const GULOU_SEED: u8 = 1;
pub const FTZ_SEED: u8 = 2;
pub const CITY_SEED: u8 = 3;
pub const ROOT_SEED: u8 = 9;
/// 2026-03-02T01:30:00Z in milliseconds.
pub const TIME_MS: i64 = 1_772_415_000_000;
/// 2000-01-01T00:00:00Z in milliseconds: the earliest time an entry may carry.
pub const Y2000_MS: i64 = 946_684_800_000;

/// 福州市鼓楼区市场监督管理局 (a made-up but valid organ code: `11` organ, division
/// 350102, organisation code 00358012-7, check character H).
pub const AUTHORITY_CODE: &str = "11350102003580127H";
pub const AUTHORITY_NAME: &str = "福州市鼓楼区市场监督管理局";
/// A made-up limited company in 鼓楼区 (valid check characters).
pub const SUBJECT_CODE: &str = "91350102MA2XK7T38X";
pub const SUBJECT_NAME: &str = "福州榕树餐饮管理有限公司";
/// A valid resident ID number (from GB 11643's worked example).
pub const PERSON_ID: &str = "11010519491231002X";

/// The suite of the fixtures.
pub const SUITE: Suite = Suite::Ed25519Sha256;

pub fn key(seed: u8) -> SecretKey {
    SecretKey::from_bytes(SUITE, &[seed; 32]).unwrap()
}

pub fn public_b64(seed: u8) -> String {
    key(seed).public().to_base64()
}

/// A one-key history: `seed`'s key signs from position 0.
pub fn keys(seed: u8) -> Vec<MemberKey> {
    vec![MemberKey {
        key: public_b64(seed),
        from: Some(0),
        compromised: false,
    }]
}

pub fn catalog() -> Catalog {
    Catalog::from_toml_str(CATALOG_TOML).expect("the sample catalog loads")
}

pub fn catalog_digest() -> String {
    SUITE.file_digest(CATALOG_TOML.as_bytes())
}

pub fn root_signer() -> NoteSigner {
    root_signer_with(ROOT_SEED)
}

pub fn root_signer_with(seed: u8) -> NoteSigner {
    NoteSigner::new(&format!("{FEDERATION}/root"), key(seed)).unwrap()
}

pub fn root_verifier() -> NoteVerifier {
    root_signer().verifier().clone()
}

/// The checkpoint signer of a member: its entry key under `<federation>/<id>`.
pub fn log_signer(id: &str, seed: u8) -> NoteSigner {
    NoteSigner::new(&format!("{FEDERATION}/{id}"), key(seed)).unwrap()
}

/// A peer-id-shaped string (base58 alphabet, no 0 O I l).
pub fn peer_id(n: u8) -> String {
    format!("12D3KooWRongxinPeer{n}AbCdEfGhJkMnPqRsTuVwXyZ")
}

pub fn member(
    id: &str,
    name: &str,
    role: Role,
    jurisdictions: &[&str],
    seed: u8,
    port: u16,
) -> Member {
    Member {
        id: id.to_owned(),
        name: name.to_owned(),
        role,
        jurisdictions: jurisdictions.iter().map(|j| (*j).to_owned()).collect(),
        peer_id: peer_id(seed),
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        http: Some(format!("127.0.0.1:{}", port + 1000)),
        keys: keys(seed),
    }
}

/// Three members: 鼓楼区 owns 350102, the FTZ owns ftz-fuzhou, the city owns 350100.
pub fn roster() -> Roster {
    Roster {
        federation: FEDERATION.to_owned(),
        version: 1,
        suite: SUITE,
        valid_from: date("2026-01-01"),
        valid_until: date("2027-12-31"),
        catalog_digest: catalog_digest(),
        calendar_digest: None,
        deadlines: Default::default(),
        members: vec![
            member(
                "gulou",
                "鼓楼区",
                Role::District,
                &["350102"],
                GULOU_SEED,
                7102,
            ),
            member(
                "ftz",
                "自贸区福州片区",
                Role::Ftz,
                &["ftz-fuzhou"],
                FTZ_SEED,
                7190,
            ),
            member("city", "福州市", Role::City, &["350100"], CITY_SEED, 7100),
        ],
    }
}

pub fn signed_roster() -> SignedRoster {
    roster()
        .sign(&root_signer())
        .expect("the fixture roster signs")
}

pub fn date(s: &str) -> Date {
    s.parse().unwrap()
}

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.to_owned())
}

/// A realistic 行政处罚 (kind CF) decision of 鼓楼区's market regulator: a
/// 5,000-yuan fine (0.5 万元) against a restaurant company.
pub fn cf_record(record_no: &str) -> Record {
    let fields: BTreeMap<String, FieldValue> = [
        ("CF_WFXW", text("未按规定公示食品经营许可证")),
        ("CF_SY", text("经营场所未公示食品经营许可证")),
        ("CF_YJ", text("《中华人民共和国食品安全法》第一百二十六条")),
        ("CF_CFLB", text("罚款")),
        ("CF_NR", text("罚款人民币伍仟元整")),
        ("CF_NR_FK", FieldValue::Decimal("0.5".parse().unwrap())),
        ("CF_YXQ", FieldValue::Date(date("2027-03-01"))),
        ("CF_SJLY", text(AUTHORITY_NAME)),
        ("CF_SJLYDM", text(AUTHORITY_CODE)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Record {
        kind: "CF".to_owned(),
        jurisdiction: "350102".to_owned(),
        record_no: record_no.to_owned(),
        subject: Subject {
            class: SubjectClass::LegalPerson,
            code: SUBJECT_CODE.to_owned(),
            name: SUBJECT_NAME.to_owned(),
        },
        authority: Authority {
            name: AUTHORITY_NAME.to_owned(),
            code: AUTHORITY_CODE.to_owned(),
        },
        decision_date: date("2026-03-01"),
        fields,
    }
}

/// The record number of the `n`-th fixture penalty.
pub fn record_no(n: u64) -> String {
    format!("榕鼓市监罚〔2026〕{}号", 12 + n)
}

pub fn revoke(key: RecordKey, basis: &str) -> Op {
    Op::Revoke(Revoke {
        key,
        reason: RevokeReason::Repair,
        basis: basis.to_owned(),
    })
}

/// Entry `seq` of gulou's log with the given previous hash and op.
pub fn entry(origin: &str, seq: u64, prev_hash: Hash, op: Op) -> Entry {
    Entry {
        origin: origin.to_owned(),
        seq,
        prev_hash,
        time_ms: TIME_MS + 1000 * seq as i64,
        op,
    }
}

/// A signed log with its Merkle tree and a checkpoint of its full size.
#[derive(Debug)]
pub struct Log {
    pub origin: String,
    pub entries: Vec<SignedEntry>,
    pub hashes: MemoryHashes,
    pub checkpoint: SignedCheckpoint,
}

impl Log {
    pub fn proof(&self, index: u64) -> Vec<Hash> {
        inclusion_proof(index, self.hashes.size(), &self.hashes).unwrap()
    }

    /// The bundle of entry `index`, with the fixture roster.
    pub fn bundle(&self, index: u64, seed: u8, roster_note: &str) -> Bundle {
        Bundle::new(
            &self.entries[index as usize],
            index,
            &self.origin,
            key(seed).public(),
            &self.proof(index),
            &self.checkpoint.note,
            roster_note,
        )
    }
}

/// Signs a hash-chained log of `ops` for `origin` with the key `seed`, builds
/// its tree and a checkpoint of its full size signed by the same key.
pub fn build_log(origin: &str, seed: u8, ops: Vec<Op>) -> Log {
    let mut entries: Vec<SignedEntry> = Vec::new();
    let mut hashes = MemoryHashes::new(SUITE);
    for (seq, op) in ops.into_iter().enumerate() {
        let prev = entries.last().map_or([0; 32], |e| e.leaf_hash(SUITE));
        let signed = entry(origin, seq as u64, prev, op)
            .sign(&key(seed))
            .unwrap();
        hashes.push_leaf(signed.leaf_hash(SUITE)).unwrap();
        entries.push(signed);
    }
    let size = hashes.size();
    let checkpoint = Checkpoint {
        origin: format!("{FEDERATION}/{origin}"),
        size,
        root: tree_root(size, &hashes).unwrap(),
    }
    .sign(&log_signer(origin, seed))
    .unwrap();
    Log {
        origin: origin.to_owned(),
        entries,
        hashes,
        checkpoint,
    }
}

/// gulou's log of ten entries: eight penalties, a revocation of the second
/// (credit repair) and a ninth penalty.
pub fn gulou_log() -> Log {
    let mut ops: Vec<Op> = (0..8).map(|n| Op::Put(cf_record(&record_no(n)))).collect();
    ops.push(revoke(
        cf_record(&record_no(1)).key(),
        "榕鼓信修〔2026〕3号",
    ));
    ops.push(Op::Put(cf_record(&record_no(8))));
    build_log("gulou", GULOU_SEED, ops)
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    B64.decode(s).unwrap()
}

/// A tiny independent encoder of the layout of docs/protocol.md §3.1, to
/// assemble expected bytes by hand without bincode.
#[derive(Debug, Default)]
pub struct Layout(pub Vec<u8>);

impl Layout {
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn u8(self, v: u8) -> Self {
        self.raw(&[v])
    }
    pub fn u16(self, v: u16) -> Self {
        self.raw(&v.to_be_bytes())
    }
    pub fn u32(self, v: u32) -> Self {
        self.raw(&v.to_be_bytes())
    }
    pub fn u64(self, v: u64) -> Self {
        self.raw(&v.to_be_bytes())
    }
    pub fn i64(self, v: i64) -> Self {
        self.raw(&v.to_be_bytes())
    }
    /// A string or byte string: `u64` length, then the bytes.
    pub fn str(self, s: &str) -> Self {
        self.u64(s.len() as u64).raw(s.as_bytes())
    }
    /// A date: year `u16`, month `u8`, day `u8`.
    pub fn date(self, y: u16, m: u8, d: u8) -> Self {
        self.u16(y).u8(m).u8(d)
    }
}
