//! Test helpers: real signed logs of the example federation, configs in
//! temporary directories, and HTTPS clients with the city's certificate.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::catalog::{Catalog, FieldType};
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::{Entry, Op, SignedEntry};
use rongxin_protocol::merkle::{self, Hash, MemoryHashes};
use rongxin_protocol::note::{NoteSigner, NoteVerifier};
use rongxin_protocol::record::Record;
use rongxin_protocol::roster::{Roster, SignedRoster};
use rongxin_province::config::Config;
use rongxin_province::demo_certs::Pem;
use rongxin_province::{Province, ProvinceHandle};
use serde_json::{Value, json};

/// `config-examples/`.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config-examples")
}

fn read(p: &str) -> String {
    fs::read_to_string(examples().join(p)).expect("example federation file")
}

/// The example roster.
pub fn roster() -> Roster {
    let root = NoteVerifier::parse(read("root.pub").trim()).expect("root.pub");
    SignedRoster::open(&read("roster.signed"), &root)
        .expect("roster.signed")
        .roster
}

/// The example catalog.
pub fn catalog() -> Catalog {
    Catalog::from_toml_str(&read("catalog.toml")).expect("catalog.toml")
}

/// A member's demo signing key (0644 in git: read without permission checks).
pub fn signer(member: &str) -> NoteSigner {
    NoteSigner::parse(read(&format!("demo-keys/{member}/signing.key")).trim()).expect("demo key")
}

/// Kind fields that make a valid XYCN (信用承诺) record.
fn commitment_fields(catalog: &Catalog) -> Value {
    let kind = catalog.kind("XYCN").expect("XYCN in the example catalog");
    let mut map = serde_json::Map::new();
    for f in kind.fields.iter().filter(|f| f.required) {
        let v = match f.field_type {
            FieldType::Enum => json!(f.choices[0]),
            FieldType::Date => json!("2026-03-01"),
            FieldType::Integer => json!(1),
            FieldType::Decimal => json!("1"),
            FieldType::Bool => json!(true),
            FieldType::Uscc => json!("91350100757384472D"),
            FieldType::ResidentId => json!("11010519491231002X"),
            _ => json!("内容"),
        };
        map.insert(f.name.clone(), v);
    }
    Value::Object(map)
}

/// A valid record of `jurisdiction` numbered `n`.
pub fn record(catalog: &Catalog, jurisdiction: &str, n: u64, tag: &str) -> Record {
    Record::from_json(
        &json!({
            "kind": "XYCN",
            "jurisdiction": jurisdiction,
            "record_no": format!("信承〔2026〕{tag}{n}号"),
            "subject": {"class": "legal_person", "code": "91350100757384472D", "name": "福州某某有限公司"},
            "authority": {"name": "示例发展和改革局", "code": "91350100757384472D"},
            "decision_date": "2026-03-01",
            "fields": commitment_fields(catalog),
        }),
        catalog,
    )
    .expect("a valid example record")
}

/// One origin's log, built and signed with the demo keys.
#[derive(Debug)]
pub struct Log {
    /// The origin's member id.
    pub member: String,
    signer: NoteSigner,
    roster: Roster,
    catalog: Catalog,
    /// The signed entries, by seq.
    pub entries: Vec<SignedEntry>,
    hashes: MemoryHashes,
}

impl Log {
    /// An empty log of `member`.
    pub fn new(member: &str) -> Log {
        Log {
            member: member.to_owned(),
            signer: signer(member),
            roster: roster(),
            catalog: catalog(),
            entries: Vec::new(),
            hashes: MemoryHashes::new(rongxin_protocol::suite::Suite::Ed25519Sha256),
        }
    }

    /// The leaf hash of the last entry (zero when empty).
    pub fn prev_hash(&self) -> Hash {
        self.entries.last().map_or([0; 32], |e| {
            e.leaf_hash(rongxin_protocol::merkle::HashReader::suite(&self.hashes))
        })
    }

    /// The member's first jurisdiction.
    pub fn jurisdiction(&self) -> String {
        self.roster
            .member(&self.member)
            .expect("member")
            .jurisdictions[0]
            .clone()
    }

    /// The next entry: a valid Put in the member's own jurisdiction (unsigned).
    pub fn next_entry(&self, tag: &str) -> Entry {
        let seq = self.entries.len() as u64;
        Entry {
            origin: self.member.clone(),
            seq,
            prev_hash: self.prev_hash(),
            time_ms: 1_772_000_000_000 + seq as i64,
            op: Op::Put(record(&self.catalog, &self.jurisdiction(), seq, tag)),
        }
    }

    /// Appends an already signed entry.
    pub fn push_signed(&mut self, e: SignedEntry) {
        self.hashes
            .push_leaf(e.leaf_hash(rongxin_protocol::merkle::HashReader::suite(&self.hashes)))
            .expect("leaf");
        self.entries.push(e);
    }

    /// Appends `entry` signed with the member's key.
    pub fn push(&mut self, entry: &Entry) {
        let e = entry.sign(self.signer.secret()).expect("sign");
        self.push_signed(e);
    }

    /// Appends `n` valid entries.
    pub fn extend(&mut self, n: u64) -> &mut Log {
        for _ in 0..n {
            let e = self.next_entry("");
            self.push(&e);
        }
        self
    }

    /// The member's signed checkpoint for the first `size` entries.
    pub fn checkpoint(&self, size: u64) -> String {
        let root = merkle::tree_root(size, &self.hashes).expect("root");
        self.checkpoint_with_root(size, root)
    }

    /// A checkpoint the member signs for `size` with any root.
    pub fn checkpoint_with_root(&self, size: u64, root: Hash) -> String {
        Checkpoint {
            origin: self.roster.log_origin(&self.member),
            size,
            root,
        }
        .sign(&self.signer)
        .expect("checkpoint")
        .note
    }

    /// A forward request for seqs `from..to` with the checkpoint of the whole log.
    pub fn request(&self, from: u64, to: u64) -> Value {
        self.request_with(from, to, &self.checkpoint(self.entries.len() as u64))
    }

    /// A forward request for seqs `from..to` with `checkpoint`.
    pub fn request_with(&self, from: u64, to: u64, checkpoint: &str) -> Value {
        let entries: Vec<Value> = (from..to)
            .map(|seq| {
                let e = &self.entries[seq as usize];
                json!({"seq": seq, "entry": B64.encode(&e.bytes), "signature": B64.encode(e.signature)})
            })
            .collect();
        json!({
            "format": "rongxin-forward/1",
            "sender": "city",
            "origin": self.member,
            "checkpoint": checkpoint,
            "entries": entries,
        })
    }
}

/// The demo certificates in config-examples/demo-certs.
pub fn demo_certs() -> PathBuf {
    examples().join("demo-certs")
}

/// A test config: every key of a province config as TOML values.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// key → TOML value.
    pub keys: BTreeMap<String, String>,
}

fn toml_str(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

impl TestConfig {
    /// The example federation's province on ephemeral loopback ports,
    /// storing in `dir/data`, with the demo certificates (the key copied
    /// into `dir` with mode 0600).
    pub fn new(dir: &Path) -> TestConfig {
        let key = dir.join("province.key");
        fs::copy(demo_certs().join("province.key"), &key).expect("copy key");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
        let ex = examples();
        let mut keys = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            keys.insert(k.to_owned(), v);
        };
        set("listen", "\"127.0.0.1:0\"".into());
        set("admin_listen", "\"127.0.0.1:0\"".into());
        set("data_dir", toml_str(&dir.join("data")));
        set("roster", toml_str(&ex.join("roster.signed")));
        set("root_key", toml_str(&ex.join("root.pub")));
        set("catalog", toml_str(&ex.join("catalog.toml")));
        set("tls_cert", toml_str(&demo_certs().join("province.pem")));
        set("tls_key", toml_str(&key));
        set("client_ca", toml_str(&demo_certs().join("ca.pem")));
        TestConfig { keys }
    }

    /// Sets a key to a TOML value.
    pub fn set(&mut self, key: &str, value: &str) -> &mut TestConfig {
        self.keys.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Writes the config to `dir/province.toml`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let text: String = self
            .keys
            .iter()
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect();
        let path = dir.join("province.toml");
        fs::write(&path, text).expect("write config");
        path
    }

    /// Writes the config and starts a receiver from it with the library.
    pub async fn start(&self, dir: &Path) -> ProvinceHandle {
        let path = self.write(dir);
        let config = Config::load(&path, None).expect("a valid test config");
        Province::start(config).await.expect("start")
    }
}

/// Writes a PEM pair into `dir` as `name.pem` and `name.key` (0600).
pub fn write_pem(dir: &Path, name: &str, pem: &Pem) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    fs::write(&cert, &pem.cert).expect("write cert");
    fs::write(&key, &pem.key).expect("write key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    (cert, key)
}

/// An HTTPS client of the entries listener.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
}

/// A client builder trusting the demo CA, without a client certificate.
pub fn client_builder() -> reqwest::ClientBuilder {
    let ca = fs::read(demo_certs().join("ca.pem")).expect("ca.pem");
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca"))
        .timeout(Duration::from_secs(20))
}

impl Client {
    /// A client presenting `identity` (cert and key PEM), or none.
    pub fn with_identity(p: &ProvinceHandle, identity: Option<&Pem>) -> Client {
        let mut b = client_builder();
        if let Some(id) = identity {
            let pem = format!("{}{}", id.key, id.cert);
            b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
        }
        Client {
            http: b.build().expect("client"),
            url: format!("https://127.0.0.1:{}/v1/entries", p.addr().port()),
        }
    }

    /// The city's client (demo certificate, CN "city").
    pub fn city(p: &ProvinceHandle) -> Client {
        Client::with_identity(p, Some(&city_pem()))
    }

    /// Posts a body; the transport error if there is no HTTP answer.
    pub async fn try_post(&self, body: &Value) -> Result<(u16, Value), reqwest::Error> {
        let resp = self.http.post(&self.url).json(body).send().await?;
        let status = resp.status().as_u16();
        let v = resp.json().await.unwrap_or(Value::Null);
        Ok((status, v))
    }

    /// Posts a body and returns status and JSON answer.
    pub async fn post(&self, body: &Value) -> (u16, Value) {
        self.try_post(body).await.expect("an HTTP answer")
    }
}

/// The city's demo certificate and key.
pub fn city_pem() -> Pem {
    Pem {
        cert: fs::read_to_string(demo_certs().join("city.pem")).expect("city.pem"),
        key: fs::read_to_string(demo_certs().join("city.key")).expect("city.key"),
    }
}

/// The admin listener.
#[derive(Debug, Clone)]
pub struct Admin {
    http: reqwest::Client,
    base: String,
}

impl Admin {
    /// The admin listener of `p`.
    pub fn of(p: &ProvinceHandle) -> Admin {
        Admin::at(p.admin_addr())
    }

    /// The admin listener at `addr`.
    pub fn at(addr: std::net::SocketAddr) -> Admin {
        Admin {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            base: format!("http://{addr}"),
        }
    }

    /// `GET path` → JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("admin answer");
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// The number of entries held of `origin`.
    pub async fn count(&self, origin: &str) -> u64 {
        let (_, v) = self.get("/v1/origins").await;
        v.as_array()
            .expect("origins list")
            .iter()
            .find(|o| o["origin"] == origin)
            .map_or(0, |o| o["count"].as_u64().expect("count"))
    }

    /// Sets a fault.
    pub async fn fault(&self, body: Value) {
        let resp = self
            .http
            .post(format!("{}/v1/faults", self.base))
            .json(&body)
            .send()
            .await
            .expect("admin answer");
        assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text().await);
    }

    /// Waits until `origin` holds `n` entries (at most 10 s).
    pub async fn wait_count(&self, origin: &str, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(origin).await != n {
            assert!(
                Instant::now() < deadline,
                "{origin} never reached {n} entries"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
