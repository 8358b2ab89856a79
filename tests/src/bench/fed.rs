//! The benchmark's federation: [`BenchFed`] generates a private
//! federation with the real tools, like [`crate::generate::GenFed`], but
//! every member's roster `listen` address is the loopback port its node
//! really listens on: replication runs node to node, with no test proxy
//! copying bytes in between (on a two-core machine such a proxy would take
//! CPU from the nodes being measured).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::note::{NoteSigner, NoteVerifier};
use rongxin_protocol::roster::{Role, SignedRoster};
use rongxin_protocol::suite::Suite;

use super::node::BenchNode;
use crate::bins;
use crate::federation::{Federation, examples_dir, free_port};
use crate::generate::ctl;

/// One generated member.
#[derive(Debug)]
struct MemberInfo {
    keys: PathBuf,
    p2p: u16,
    token: String,
    jurisdictions: Vec<String>,
    name: String,
}

/// A generated federation whose roster lists each member's real p2p port.
#[derive(Debug)]
pub struct BenchFed {
    dir: tempfile::TempDir,
    members: BTreeMap<String, MemberInfo>,
    roster: SignedRoster,
    root: NoteVerifier,
    suite: Suite,
    catalog: Catalog,
    admin_token: String,
    ports: Ports,
}

/// Ports handed out in this run (roster p2p ports included): a port chosen
/// for one node is never chosen again for another that may not have bound
/// it yet.
pub(super) type Ports = Arc<Mutex<HashSet<u16>>>;

/// A loopback port that was free a moment ago and not handed out before.
pub(super) fn unique_port(ports: &Ports) -> u16 {
    loop {
        let p = free_port();
        if ports.lock().expect("ports lock").insert(p) {
            return p;
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn role_arg(role: Role) -> &'static str {
    match role {
        Role::District => "district",
        Role::Ftz => "ftz",
        Role::City => "city",
    }
}

impl BenchFed {
    /// Generates keys for `members` (ids of the example roster, which
    /// gives them their names, roles and jurisdictions), a roster signed by
    /// a new root key, and a department token per member, every key and
    /// the roster of `suite`.
    /// `RONGXIN_BENCH_KEEP=1` keeps the directory (configs, node logs).
    pub fn generate(members: &[&str], suite: Suite) -> BenchFed {
        let dir = tempfile::Builder::new()
            .prefix("rongxin-bench-")
            .disable_cleanup(std::env::var_os("RONGXIN_BENCH_KEEP").is_some())
            .tempdir()
            .expect("create the benchmark directory");
        let d = dir.path().to_owned();
        let example = Federation::new();
        fs::copy(examples_dir().join("catalog.toml"), d.join("catalog.toml"))
            .expect("copy the example catalog");
        ctl(&[
            "keygen",
            "--root",
            "--suite",
            suite.name(),
            "--out",
            path_str(&d.join("root")),
        ]);
        let draft = d.join("roster.toml");
        ctl(&[
            "roster",
            "new",
            "--out",
            path_str(&draft),
            "--version",
            "1",
            "--valid-from",
            "2026-01-01",
            "--valid-until",
            "2028-12-31",
            "--catalog",
            path_str(&d.join("catalog.toml")),
            "--suite",
            suite.name(),
        ]);
        let mut infos = BTreeMap::new();
        let ports = Ports::default();
        for id in members {
            let m = example
                .roster()
                .roster
                .member(id)
                .unwrap_or_else(|| panic!("{id} is not in the example roster"))
                .clone();
            let keys = d.join("keys").join(id);
            ctl(&[
                "keygen",
                "--member",
                id,
                "--suite",
                suite.name(),
                "--out",
                path_str(&keys),
            ]);
            let p2p = unique_port(&ports);
            let mut args = vec![
                "roster".to_owned(),
                "add-member".to_owned(),
                path_str(&draft).to_owned(),
                "--id".to_owned(),
                (*id).to_owned(),
                "--name".to_owned(),
                m.name.clone(),
                "--role".to_owned(),
                role_arg(m.role).to_owned(),
                "--keys".to_owned(),
                path_str(&keys).to_owned(),
                "--listen".to_owned(),
                format!("/ip4/127.0.0.1/tcp/{p2p}"),
            ];
            for j in &m.jurisdictions {
                args.push("--jurisdiction".to_owned());
                args.push(j.clone());
            }
            ctl(&args.iter().map(String::as_str).collect::<Vec<_>>());
            infos.insert(
                (*id).to_owned(),
                MemberInfo {
                    keys,
                    p2p,
                    token: format!("bench-dept-{id}"),
                    jurisdictions: m.jurisdictions.clone(),
                    name: m.name.clone(),
                },
            );
        }
        ctl(&[
            "roster",
            "sign",
            path_str(&draft),
            "--root-key",
            path_str(&d.join("root/root.key")),
            "--out",
            path_str(&d.join("roster.signed")),
        ]);
        let root = NoteVerifier::parse(
            fs::read_to_string(d.join("root/root.pub"))
                .expect("read root.pub")
                .trim(),
        )
        .expect("root.pub parses");
        let roster = SignedRoster::open(
            &fs::read_to_string(d.join("roster.signed")).expect("read the signed roster"),
            &root,
        )
        .expect("the generated roster verifies");
        assert_eq!(roster.roster.suite, suite, "the roster's suite");
        BenchFed {
            dir,
            members: infos,
            roster,
            root,
            suite,
            catalog: example.catalog().clone(),
            admin_token: crate::generate::ADMIN_TOKEN.to_owned(),
            ports,
        }
    }

    /// The federation's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The signed roster file.
    pub fn roster_path(&self) -> PathBuf {
        self.dir().join("roster.signed")
    }

    /// The root verifier key file.
    pub fn root_pub(&self) -> PathBuf {
        self.dir().join("root/root.pub")
    }

    /// The catalog file.
    pub fn catalog_path(&self) -> PathBuf {
        self.dir().join("catalog.toml")
    }

    /// The verified roster.
    pub fn roster(&self) -> &SignedRoster {
        &self.roster
    }

    /// The root verifier key.
    pub fn root(&self) -> &NoteVerifier {
        &self.root
    }

    /// The federation's signature suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn info(&self, member: &str) -> &MemberInfo {
        self.members
            .get(member)
            .unwrap_or_else(|| panic!("{member} is not a member of the benchmark federation"))
    }

    /// The department token of `member` (every kind, every jurisdiction it owns).
    pub fn token(&self, member: &str) -> &str {
        &self.info(member).token
    }

    /// The admin token of every node.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The signing key of `member`.
    pub fn signer(&self, member: &str) -> NoteSigner {
        let p = self.info(member).keys.join("signing.key");
        NoteSigner::parse(fs::read_to_string(&p).expect("read signing.key").trim())
            .expect("signing.key parses")
    }

    /// The config of `member` pulling from `peers` (restore protection
    /// waits at most 3 s for them).
    pub fn config(&self, member: &str, peers: &[&str]) -> toml::Table {
        let m = self.info(member);
        let digest = |t: &str| -> String {
            rongxin_node::tokens::token_digest(t)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let mut dept = toml::Table::new();
        dept.insert("name".into(), format!("{} 基准测试归集系统", m.name).into());
        dept.insert("token_sha256".into(), digest(&m.token).into());
        dept.insert("jurisdictions".into(), m.jurisdictions.clone().into());
        dept.insert("kinds".into(), vec!["*".to_owned()].into());
        let mut t = toml::Table::new();
        let file = |p: PathBuf| toml::Value::from(path_str(&p).to_owned());
        t.insert("member".into(), member.into());
        t.insert(
            "peers".into(),
            peers
                .iter()
                .map(|p| (*p).to_owned())
                .collect::<Vec<_>>()
                .into(),
        );
        t.insert("roster".into(), file(self.roster_path()));
        t.insert("root_key".into(), file(self.root_pub()));
        t.insert("catalog".into(), file(self.catalog_path()));
        t.insert("signing_key".into(), file(m.keys.join("signing.key")));
        t.insert("transport_key".into(), file(m.keys.join("transport.key")));
        t.insert(
            "admin_token_sha256".into(),
            digest(&self.admin_token).into(),
        );
        t.insert("restore_timeout".into(), "3s".into());
        // The query scenario is an anonymous open-loop load far above what a
        // public client may send, and ingest sends single records as fast as
        // one token can: they measure the node, not the limiter.
        let mut limits = toml::Table::new();
        limits.insert("anonymous_rate".into(), 1_000_000.0.into());
        limits.insert("anonymous_burst".into(), 1_000_000.0.into());
        limits.insert("token_rate".into(), 1_000_000.0.into());
        limits.insert("token_burst".into(), 1_000_000.0.into());
        t.insert("limits".into(), limits.into());
        t.insert(
            "p2p_listen".into(),
            format!("/ip4/127.0.0.1/tcp/{}", m.p2p).into(),
        );
        t.insert(
            "departments".into(),
            toml::Value::Array(vec![toml::Value::Table(dept)]),
        );
        t
    }

    /// A node of `member` with `config`, living in `<dir>/nodes/<name>`; not started.
    pub fn node(&self, member: &str, name: &str, config: toml::Table) -> BenchNode {
        let dir = self.dir().join("nodes").join(name);
        fs::create_dir_all(&dir).expect("create the node directory");
        BenchNode::new(member, dir, config, self.ports.clone())
    }

    /// Writes `count` sample records of `origin` (`rongxinctl sample`,
    /// realistic records of about 500 bytes) as JSON Lines to `out`.
    ///
    /// Generated in runs of at most [`SAMPLE_CHUNK`] records, each with its
    /// own seed (so every record number stays distinct): the sampler's time
    /// grows with the square of a run's length (each record scans the
    /// subject pool, a fifth of the run, for one of its class).
    pub fn sample(&self, origin: &str, count: u64, seed: u64, out: &Path) {
        let file =
            fs::File::create(out).unwrap_or_else(|e| panic!("create {}: {e}", out.display()));
        let mut done = 0;
        let mut chunk = 0;
        while done < count {
            let n = (count - done).min(SAMPLE_CHUNK);
            let status = Command::new(bins::ctl())
                .args(["sample", "--count", &n.to_string(), "--origin", origin])
                .args(["--seed", &(seed * 100_000 + chunk).to_string()])
                .arg("--catalog")
                .arg(self.catalog_path())
                .arg("--roster")
                .arg(self.roster_path())
                .arg("--root")
                .arg(self.root_pub())
                .stdout(file.try_clone().expect("clone the sample file handle"))
                .status()
                .expect("run rongxinctl sample");
            assert!(status.success(), "rongxinctl sample failed ({status})");
            done += n;
            chunk += 1;
        }
    }
}

/// Records per `rongxinctl sample` run (see [`BenchFed::sample`]).
pub const SAMPLE_CHUNK: u64 = 20_000;
