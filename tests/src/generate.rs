//! Generated private federations for multi-node tests.
//!
//! [`GenFed::builder`] makes a federation from scratch in a temporary
//! directory with the real tools: a root key and every member's keys
//! (`rongxinctl keygen`), a roster draft (`rongxinctl roster new` and
//! `add-member`) signed with `rongxinctl roster sign`, the example catalog
//! (the roster pins its digest), a department token per member and one node
//! config per member. Members, names and jurisdictions are those of the
//! example roster, so [`Records`] makes valid records for them.
//!
//! Every member's roster `listen` address is a [`Proxy`] the test owns,
//! forwarding to the member's node wherever it listens now: the test
//! controls every replication connection. A link `(dialer, target)` gets
//! its own proxy: the dialer runs with a roster of the same version whose
//! entry for the target lists that proxy instead, so connections the dialer
//! opens to the target can be cut without touching anyone else's.
//!
//! Topology (`peers`) defaults to the design's: districts peer with the city
//! and the FTZ node, the FTZ with the city, the city with every node.
//!
//! The signature suite ([`FedBuilder::suite`]) defaults to the environment
//! variable `RONGXIN_TEST_SUITE` (`ed25519-sha256` or `sm2-sm3`) if set,
//! else `ed25519-sha256`: `RONGXIN_TEST_SUITE=sm2-sm3 cargo test -p
//! rongxin-tests --test federation` runs every generated federation on
//! SM2/SM3.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::note::{NoteSigner, NoteVerifier};
use rongxin_protocol::roster::{Role, Roster, SignedRoster};
use rongxin_protocol::suite::Suite;

use crate::bins;
use crate::federation::{Federation, examples_dir};
use crate::fednode::FedNode;
use crate::proxy::Proxy;
use crate::records::Records;
use crate::verify::{VerifiedLog, verify_log};

/// The admin token of every generated federation (tests only).
pub const ADMIN_TOKEN: &str = "admin-token-of-the-generated-federation";
/// Validity of the generated rosters (the node does not check it; the
/// example roster uses the same range).
const VALID_FROM: &str = "2026-01-01";
const VALID_UNTIL: &str = "2028-12-31";

/// The environment variable naming the suite of generated federations.
pub const SUITE_ENV: &str = "RONGXIN_TEST_SUITE";

/// The suite named by `RONGXIN_TEST_SUITE`, else `ed25519-sha256`; panics
/// on a name that is not a suite (a typo must not quietly test the default).
pub fn test_suite() -> Suite {
    match std::env::var(SUITE_ENV) {
        Ok(name) if !name.is_empty() => name
            .parse()
            .unwrap_or_else(|e| panic!("{SUITE_ENV}={name}: {e}")),
        _ => Suite::default(),
    }
}

/// A member's generated keys and department token.
#[derive(Debug)]
pub struct MemberKeys {
    /// Its key directory (`signing.key`, `signing.pub`, `transport.key`, `peer_id`).
    pub dir: PathBuf,
    /// Its signing key (entries and checkpoints).
    pub signer: NoteSigner,
    /// Its libp2p transport key, protobuf encoding.
    pub transport: Vec<u8>,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// The token of its department system (may submit every kind for every
    /// jurisdiction the member owns).
    pub token: String,
}

/// What to generate.
#[derive(Debug, Default)]
pub struct FedBuilder {
    nodes: Vec<String>,
    others: Vec<String>,
    later: Vec<String>,
    links: Vec<(String, String)>,
    peers: BTreeMap<String, Vec<String>>,
    suite: Option<Suite>,
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl FedBuilder {
    /// Roster members that are not run as nodes by default (their keys are
    /// held, e.g. for a fake peer or forged entries).
    pub fn others(mut self, members: &[&str]) -> Self {
        self.others.extend(ids(members));
        self
    }

    /// Members whose keys and proxies exist but who are not in roster v1
    /// (for a later roster version).
    pub fn later(mut self, members: &[&str]) -> Self {
        self.later.extend(ids(members));
        self
    }

    /// Gives the connections `dialer` opens to `target` their own proxy.
    pub fn link(mut self, dialer: &str, target: &str) -> Self {
        self.links.push((dialer.to_owned(), target.to_owned()));
        self
    }

    /// Sets `member`'s peers instead of the default topology.
    pub fn peers(mut self, member: &str, peers: &[&str]) -> Self {
        self.peers.insert(member.to_owned(), ids(peers));
        self
    }

    /// Generates the federation in `suite` instead of [`test_suite`]'s.
    pub fn suite(mut self, suite: Suite) -> Self {
        self.suite = Some(suite);
        self
    }

    /// Generates the federation.
    pub fn build(self) -> GenFed {
        GenFed::generate(self)
    }
}

/// A generated federation. Nodes started from it ([`GenFed::start`]) keep
/// its directory alive.
#[derive(Debug)]
pub struct GenFed {
    dir: Arc<tempfile::TempDir>,
    example: Federation,
    records: Records,
    root: NoteVerifier,
    suite: Suite,
    catalog: Catalog,
    nodes: Vec<String>,
    keys: BTreeMap<String, MemberKeys>,
    inbound: BTreeMap<String, Arc<Proxy>>,
    links: BTreeMap<(String, String), Arc<Proxy>>,
    /// Roster v1 as drafted (common addresses).
    draft: Roster,
    roster: SignedRoster,
    /// The v1 roster file each member runs with.
    roster_files: BTreeMap<String, PathBuf>,
    peers: BTreeMap<String, Vec<String>>,
    admin_token: String,
    auditor_token: String,
    files: AtomicU32,
}

/// Runs `rongxinctl` with `args`; panics unless it exits 0.
pub fn ctl(args: &[&str]) -> Output {
    let out = Command::new(bins::ctl())
        .args(args)
        .output()
        .expect("run rongxinctl");
    assert!(
        out.status.success(),
        "rongxinctl {} failed ({}): {}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl GenFed {
    /// A builder for a federation whose `nodes` run (default topology).
    pub fn builder(nodes: &[&str]) -> FedBuilder {
        FedBuilder {
            nodes: ids(nodes),
            ..FedBuilder::default()
        }
    }

    fn generate(b: FedBuilder) -> GenFed {
        // RONGXIN_TESTS_KEEP=1 keeps the directory (keys, configs, node
        // logs) for a post-mortem.
        let dir = tempfile::Builder::new()
            .prefix("rongxin-gen-")
            .disable_cleanup(std::env::var_os("RONGXIN_TESTS_KEEP").is_some())
            .tempdir()
            .expect("create a temporary directory");
        let d = dir.path().to_owned();
        let example = Federation::new();
        let records = Records::new(&example);
        fs::copy(examples_dir().join("catalog.toml"), d.join("catalog.toml"))
            .expect("copy the example catalog");
        let catalog = example.catalog().clone();
        let suite = b.suite.unwrap_or_else(test_suite);
        ctl(&[
            "keygen",
            "--root",
            "--suite",
            suite.name(),
            "--out",
            path_str(&d.join("root")),
        ]);
        let root = NoteVerifier::parse(
            fs::read_to_string(d.join("root/root.pub"))
                .expect("read root.pub")
                .trim(),
        )
        .expect("root.pub parses");

        let in_roster: Vec<String> = b.nodes.iter().chain(&b.others).cloned().collect();
        let all: Vec<String> = in_roster.iter().chain(&b.later).cloned().collect();
        let mut keys = BTreeMap::new();
        let mut inbound = BTreeMap::new();
        for id in &all {
            let kd = d.join("keys").join(id);
            ctl(&[
                "keygen",
                "--member",
                id,
                "--suite",
                suite.name(),
                "--out",
                path_str(&kd),
            ]);
            let read = |f: &str| fs::read_to_string(kd.join(f)).expect("read a key file");
            let signer = NoteSigner::parse(read("signing.key").trim()).expect("signing.key");
            let transport = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                read("transport.key").trim(),
            )
            .expect("transport.key is base64");
            let token = format!(
                "dept-{id}-{}",
                hex(&signer.verifier().key().as_bytes()[..8])
            );
            keys.insert(
                id.clone(),
                MemberKeys {
                    dir: kd.clone(),
                    signer,
                    transport,
                    peer_id: read("peer_id").trim().to_owned(),
                    token,
                },
            );
            inbound.insert(id.clone(), Arc::new(Proxy::new(&format!("to-{id}"))));
        }
        let links: BTreeMap<(String, String), Arc<Proxy>> = b
            .links
            .iter()
            .map(|(a, t)| {
                // A link forwards to the target's own proxy, which follows
                // the target's node wherever it listens.
                let p = Proxy::new(&format!("{a}-to-{t}"));
                let to = inbound
                    .get(t)
                    .unwrap_or_else(|| panic!("link target {t} has no keys"));
                p.set_target(Some(to.addr()));
                ((a.clone(), t.clone()), Arc::new(p))
            })
            .collect();

        // Roster v1 through the CLI.
        let draft_path = d.join("roster-v1.toml");
        ctl(&[
            "roster",
            "new",
            "--out",
            path_str(&draft_path),
            "--version",
            "1",
            "--valid-from",
            VALID_FROM,
            "--valid-until",
            VALID_UNTIL,
            "--catalog",
            path_str(&d.join("catalog.toml")),
            "--suite",
            suite.name(),
        ]);
        for id in &in_roster {
            let m = example
                .roster()
                .roster
                .member(id)
                .unwrap_or_else(|| panic!("{id} is not in the example roster"))
                .clone();
            let mut args = vec![
                "roster".to_owned(),
                "add-member".to_owned(),
                path_str(&draft_path).to_owned(),
                "--id".to_owned(),
                id.clone(),
                "--name".to_owned(),
                m.name.clone(),
                "--role".to_owned(),
                role_arg(m.role).to_owned(),
                "--keys".to_owned(),
                path_str(&keys[id].dir).to_owned(),
                "--listen".to_owned(),
                inbound[id].multiaddr(),
            ];
            for j in &m.jurisdictions {
                args.push("--jurisdiction".to_owned());
                args.push(j.clone());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ctl(&args);
        }
        let signed_path = d.join("roster-v1.signed");
        ctl(&[
            "roster",
            "sign",
            path_str(&draft_path),
            "--root-key",
            path_str(&d.join("root/root.key")),
            "--out",
            path_str(&signed_path),
        ]);
        let roster = SignedRoster::open(
            &fs::read_to_string(&signed_path).expect("read the signed roster"),
            &root,
        )
        .expect("the generated roster verifies");
        assert_eq!(roster.roster.suite, suite, "the roster's suite");
        let draft = roster.roster.clone();

        let mut fed = GenFed {
            dir: Arc::new(dir),
            example,
            records,
            root,
            suite,
            catalog,
            nodes: b.nodes.clone(),
            keys,
            inbound,
            links,
            draft,
            roster,
            roster_files: BTreeMap::new(),
            peers: BTreeMap::new(),
            admin_token: ADMIN_TOKEN.to_owned(),
            auditor_token: "auditor-token-of-the-generated-federation".to_owned(),
            files: AtomicU32::new(0),
        };
        // Every node takes the federation's auditor token from a tokens
        // file, as a real federation would; tests read whole logs with it.
        fs::write(
            d.join("tokens.toml"),
            format!(
                "[[token]]\nid = \"auditor\"\nrole = \"auditor\"\nname = \"test auditor\"\nsha256 = \"{}\"\n",
                hex(&rongxin_node::tokens::token_digest(&fed.auditor_token))
            ),
        )
        .expect("write the tokens file");
        // Dialers with their own links run with a roster of the same version
        // that lists the link proxies for their targets.
        for id in &in_roster {
            let mine: Vec<(&String, &Arc<Proxy>)> = fed
                .links
                .iter()
                .filter(|((a, _), _)| a == id)
                .map(|((_, t), p)| (t, p))
                .collect();
            let path = if mine.is_empty() {
                signed_path.clone()
            } else {
                let mut r = fed.draft.clone();
                for (t, p) in mine {
                    let m = r
                        .members
                        .iter_mut()
                        .find(|m| m.id == *t)
                        .unwrap_or_else(|| panic!("link target {t} is not in the roster"));
                    m.listen = vec![p.multiaddr()];
                }
                fed.sign(&r, &format!("roster-v1-{id}"))
            };
            fed.roster_files.insert(id.clone(), path);
        }
        for id in &b.nodes {
            let peers = b
                .peers
                .get(id)
                .cloned()
                .unwrap_or_else(|| fed.default_peers(id));
            fed.peers.insert(id.clone(), peers);
        }
        fed
    }

    /// The design's default peers of `member` among the running nodes.
    fn default_peers(&self, member: &str) -> Vec<String> {
        let role = self.example.roster().roster.member(member).map(|m| m.role);
        let others = self.nodes.iter().filter(|n| *n != member);
        match role {
            Some(Role::City) => others.cloned().collect(),
            Some(Role::Ftz) => others.filter(|n| *n == "city").cloned().collect(),
            _ => others
                .filter(|n| *n == "city" || *n == "ftz")
                .cloned()
                .collect(),
        }
    }

    /// Writes `roster` as a draft named `name`, signs it with
    /// `rongxinctl roster sign` and returns the signed file.
    fn sign(&self, roster: &Roster, name: &str) -> PathBuf {
        let draft = self.dir().join(format!("{name}.toml"));
        fs::write(&draft, roster.to_toml().expect("roster to TOML")).expect("write a draft");
        let signed = self.dir().join(format!("{name}.signed"));
        ctl(&[
            "roster",
            "sign",
            path_str(&draft),
            "--root-key",
            path_str(&self.dir().join("root/root.key")),
            "--out",
            path_str(&signed),
        ]);
        signed
    }

    /// Signs roster `version` whose members are `members` (any generated
    /// member, listed at its own proxy); returns the signed file and roster.
    pub fn sign_roster(&self, version: u64, members: &[&str]) -> (PathBuf, SignedRoster) {
        self.sign_roster_with(version, members, |_| {})
    }

    /// A new signing key pair for `member` (a key rotation), made with
    /// `rongxinctl keygen --signing-only` in the member's key directory as
    /// `<name>.key` and `<name>.pub`; returns the secret key's path and the key.
    pub fn new_signing_key(&self, member: &str, name: &str) -> (PathBuf, NoteSigner) {
        let dir = &self.keys(member).dir;
        let federation = self.draft.federation.clone();
        let suite = self.draft.suite.name();
        ctl(&[
            "keygen",
            "--member",
            member,
            "--federation",
            &federation,
            "--suite",
            suite,
            "--signing-only",
            "--name",
            name,
            "--out",
            path_str(dir),
        ]);
        let path = dir.join(format!("{name}.key"));
        let text = fs::read_to_string(&path).expect("read the new key");
        let signer = NoteSigner::parse(text.trim()).expect("a signer key");
        (path, signer)
    }

    /// [`sign_roster`](Self::sign_roster), with `edit` applied to the roster
    /// before it is signed (key histories, say).
    pub fn sign_roster_with(
        &self,
        version: u64,
        members: &[&str],
        edit: impl FnOnce(&mut Roster),
    ) -> (PathBuf, SignedRoster) {
        let mut r = self.draft.clone();
        r.version = version;
        r.members.clear();
        for id in members {
            let m = self
                .example
                .roster()
                .roster
                .member(id)
                .unwrap_or_else(|| panic!("{id} is not in the example roster"));
            let k = self.keys(id);
            let mut m = m.clone();
            m.keys = vec![rongxin_protocol::roster::MemberKey {
                key: k.signer.verifier().key().to_base64(),
                from: Some(0),
                compromised: false,
            }];
            m.peer_id = k.peer_id.clone();
            m.listen = vec![self.inbound(id).multiaddr()];
            m.http = None;
            r.members.push(m);
        }
        edit(&mut r);
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        let path = self.sign(&r, &format!("roster-v{version}-{n}"));
        let signed = SignedRoster::open(
            &fs::read_to_string(&path).expect("read the signed roster"),
            &self.root,
        )
        .expect("the signed roster verifies");
        (path, signed)
    }

    /// The federation's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Root verifier key file.
    pub fn root_pub(&self) -> PathBuf {
        self.dir().join("root/root.pub")
    }

    /// The root verifier key.
    pub fn root(&self) -> &NoteVerifier {
        &self.root
    }

    /// The federation's signature suite (every key, signature and hash).
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Roster v1 (with the common addresses).
    pub fn roster(&self) -> &Roster {
        &self.roster.roster
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// A record maker (jurisdictions of the example roster, which the
    /// generated roster shares).
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// A member's keys.
    pub fn keys(&self, member: &str) -> &MemberKeys {
        self.keys
            .get(member)
            .unwrap_or_else(|| panic!("no keys were generated for {member}"))
    }

    /// A member's department token.
    pub fn token(&self, member: &str) -> &str {
        &self.keys(member).token
    }

    /// The admin token of every node.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The auditor token of every node (from the tokens file).
    pub fn auditor_token(&self) -> &str {
        &self.auditor_token
    }

    /// The proxy every connection to `member` crosses (except links).
    pub fn inbound(&self, member: &str) -> &Arc<Proxy> {
        self.inbound
            .get(member)
            .unwrap_or_else(|| panic!("no proxy for {member}"))
    }

    /// The proxy of the connections `dialer` opens to `target`.
    pub fn link(&self, dialer: &str, target: &str) -> &Arc<Proxy> {
        self.links
            .get(&(dialer.to_owned(), target.to_owned()))
            .unwrap_or_else(|| panic!("no link {dialer} -> {target}"))
    }

    /// Every proxy a connection to or from `member` crosses.
    pub fn proxies_of(&self, member: &str) -> Vec<&Arc<Proxy>> {
        let mut out = vec![self.inbound(member)];
        out.extend(
            self.links
                .iter()
                .filter(|((a, t), _)| a == member || t == member)
                .map(|(_, p)| p),
        );
        out
    }

    /// The config `member` starts with: roster v1, default (or built) peers.
    pub fn config(&self, member: &str) -> toml::Table {
        let k = self.keys(member);
        let m = self
            .example
            .roster()
            .roster
            .member(member)
            .unwrap_or_else(|| panic!("{member} is not in the example roster"));
        let digest = |t: &str| hex(&rongxin_node::tokens::token_digest(t));
        let roster = self
            .roster_files
            .get(member)
            .cloned()
            .unwrap_or_else(|| self.dir().join("roster-v1.signed"));
        let peers = self.peers.get(member).cloned().unwrap_or_default();
        let mut dept = toml::Table::new();
        dept.insert("name".into(), format!("{} 测试归集系统", m.name).into());
        dept.insert("token_sha256".into(), digest(&k.token).into());
        dept.insert("jurisdictions".into(), m.jurisdictions.clone().into());
        dept.insert("kinds".into(), vec!["*".to_owned()].into());
        let mut t = toml::Table::new();
        t.insert("member".into(), member.into());
        t.insert("peers".into(), peers.into());
        t.insert("roster".into(), path_str(&roster).into());
        t.insert("root_key".into(), path_str(&self.root_pub()).into());
        t.insert(
            "catalog".into(),
            path_str(&self.dir().join("catalog.toml")).into(),
        );
        t.insert(
            "signing_key".into(),
            path_str(&k.dir.join("signing.key")).into(),
        );
        t.insert(
            "transport_key".into(),
            path_str(&k.dir.join("transport.key")).into(),
        );
        t.insert(
            "admin_token_sha256".into(),
            digest(&self.admin_token).into(),
        );
        t.insert(
            "tokens_file".into(),
            path_str(&self.dir().join("tokens.toml")).into(),
        );
        t.insert("restore_timeout".into(), "3s".into());
        // Tests poll and query without tokens far faster than a public
        // client may; the defaults are tested on their own (node/limits.rs).
        let mut limits = toml::Table::new();
        limits.insert("anonymous_rate".into(), 100_000.0.into());
        limits.insert("anonymous_burst".into(), 100_000.0.into());
        t.insert("limits".into(), limits.into());
        t.insert(
            "departments".into(),
            toml::Value::Array(vec![toml::Value::Table(dept)]),
        );
        t
    }

    /// A node for `member` with `config`, not started.
    pub fn node_with(&self, member: &str, config: toml::Table) -> FedNode {
        FedNode::new(
            member,
            self.dir.clone(),
            self.dir().join("nodes").join(member),
            config,
            self.inbound(member).clone(),
            &self.auditor_token,
        )
    }

    /// Starts `member`'s node with its default config and waits until healthy.
    pub fn start(&self, member: &str) -> FedNode {
        let mut n = self.node_with(member, self.config(member));
        n.start();
        n
    }

    /// Starts the nodes of `members` at once (so their restore protection
    /// finds each other) and waits until all are healthy.
    pub fn start_all(&self, members: &[&str]) -> Vec<FedNode> {
        let mut nodes: Vec<FedNode> = members
            .iter()
            .map(|m| self.node_with(m, self.config(m)))
            .collect();
        FedNode::start_together(&mut nodes);
        nodes
    }

    /// Verifies `origin`'s whole log as `node` holds it, end to end.
    pub fn verify_log(&self, node: &FedNode, origin: &str) -> VerifiedLog {
        verify_log(node.client(), self.roster(), &self.catalog, origin).unwrap_or_else(|e| {
            panic!(
                "{origin}'s log as held by {} does not verify: {e}",
                node.member()
            )
        })
    }

    /// Fetches the bundle of `origin`/`seq` from `node`, writes it to a file
    /// and runs `rongxinctl audit verify` on it with the root key; returns
    /// the tool's report (panics unless it says OK).
    pub fn audit_verify(&self, node: &FedNode, origin: &str, seq: u64) -> String {
        let r = node.client().bundle(origin, seq);
        assert_eq!(r.status, 200, "bundle {origin}/{seq}: {}", r.body);
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        let path = self.dir().join(format!("bundle-{origin}-{seq}-{n}.json"));
        fs::write(&path, &r.body).expect("write the bundle");
        let out = Command::new(bins::ctl())
            .arg("audit")
            .arg("verify")
            .arg(&path)
            .arg("--root")
            .arg(self.root_pub())
            .output()
            .expect("run rongxinctl audit verify");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.starts_with("OK "),
            "audit verify of {origin}/{seq} from {}: {text}{}",
            node.member(),
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }
}
