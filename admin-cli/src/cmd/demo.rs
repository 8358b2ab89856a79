//! `rongxinctl demo`: a local federation on loopback.
//!
//! Copies `config-examples/` into a private working directory (the demo keys,
//! tokens and certificate keys become mode 0600 there, as the node requires),
//! starts one `rongxin-node` process per member on its example ports, each
//! serving HTTPS with the demo node certificate (`[tls]` in its config),
//! loads sample records into each node through the HTTP API, shows
//! replication converging until every node holds every origin's log with the
//! same checkpoint, prints each node's URL and commands to try (runnable as
//! printed from the directory the demo was started in), and keeps running
//! until Ctrl-C, when it stops every node with SIGTERM (a clean shutdown) and
//! removes the working directory. Its own requests verify the nodes against
//! the demo CA and read the status with the example's monitor token.
//! With the city in the federation it also runs the example provincial
//! platform (`rongxin-province`), which the city forwards every entry to.
//!
//! `--suite sm2-sm3` runs the same federation (members, ports, certificates,
//! tokens, catalog, province) on SM2 signatures and SM3 hashes: at start it
//! generates, into `sm2-sm3/` of the working directory, a new SM2 root key
//! and an SM2 signing key for every member of the example roster, and an
//! `sm2-sm3` roster signed by that root key with the example's members,
//! addresses and peer ids (the libp2p transport keys stay the example's:
//! they are Ed25519 in every suite), then points every config at them. A
//! working directory given with `--dir` that already holds them keeps them,
//! so the nodes' logs stay signed by the keys in the roster.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use serde_json::Value;

use rongxin_protocol::note::{NoteSigner, NoteVerifier};
use rongxin_protocol::roster::{MemberKey, Roster, SignedRoster};
use rongxin_protocol::suite::Suite;

use crate::client::{Node, read_token};
use crate::cmd::demo_cases;
use crate::cmd::keygen::write_signing_key;
use crate::cmd::roster::{calendar_digest, catalog_digest, save_draft, sign_draft};
use crate::cmd::sample::Sampler;
use crate::files::{read_signer, read_text, read_verifier};
use crate::local;
use crate::shell::{program, shown};

mod setup;

/// Sample records loaded into each member by default.
pub const DEFAULT_RECORDS: usize = 2000;

/// Arguments of `rongxinctl demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Members to run (at least the city, the FTZ node and two districts make
    /// a meaningful federation).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "city,ftz,gulou,taijiang,cangshan"
    )]
    members: Vec<String>,
    /// Sample records loaded into each member's own log.
    #[arg(long, default_value_t = DEFAULT_RECORDS)]
    records: usize,
    /// The example federation to copy.
    #[arg(long, default_value = "config-examples")]
    examples: PathBuf,
    /// Working directory (kept afterwards); by default a temporary one, removed at the end.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seconds to wait for replication to converge.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    /// Signature suite: ed25519-sha256 runs the example's keys and roster;
    /// sm2-sm3 generates SM2 keys and an sm2-sm3 roster for the same
    /// federation into the working directory.
    #[arg(long, default_value = "ed25519-sha256")]
    suite: Suite,
    /// The lowest port the demo uses: the example's ports (7100… for
    /// replication, 8100… for the HTTPS APIs, 9443/9444 for the province)
    /// all move by this minus 7100, so a second demo can run beside one on
    /// the example's ports.
    #[arg(long, default_value_t = setup::EXAMPLE_BASE)]
    base_port: u16,
}

struct Running {
    member: String,
    url: String,
    child: Child,
    log: PathBuf,
    /// Path that answers 200 once the process is ready.
    health: &'static str,
}

/// Stops every node cleanly when dropped (also on errors).
struct Federation(Vec<Running>);

impl Drop for Federation {
    fn drop(&mut self) {
        for r in &self.0 {
            let pid = rustix::process::Pid::from_raw(r.child.id() as i32);
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for r in &mut self.0 {
            loop {
                match r.child.try_wait() {
                    Ok(Some(status)) => {
                        if !status.success() {
                            eprintln!(
                                "{} exited with {status}; its log: {}",
                                r.member,
                                r.log.display()
                            );
                        }
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => {
                        let _ = r.child.kill();
                        break;
                    }
                }
            }
        }
    }
}

/// Runs `rongxinctl demo`.
pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let node_bin = node_binary()?;
    let examples = &args.examples;
    if !examples.join("roster.signed").is_file() {
        bail!(
            "{} is not the example federation (no roster.signed): run the demo from the repository root or pass --examples",
            examples.display()
        );
    }
    let (_temp, work) = match &args.dir {
        Some(d) => {
            fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            (None, d.clone())
        }
        None => {
            let t = tempdir()?;
            let p = t.path.clone();
            (Some(t), p)
        }
    };
    copy_examples(examples, &work)?;
    let offset = setup::offset(args.base_port)?;
    let mut roster = local::roster(&work.join("roster.signed"), &work.join("root.pub"))?;
    if offset != 0 {
        // The roster names every member's addresses: the demo root key
        // (the example's, in demo-keys/) signs the moved ones.
        let mut configs: Vec<String> = roster
            .roster
            .members
            .iter()
            .map(|m| format!("{}.toml", m.id))
            .collect();
        configs.push("province.toml".into());
        setup::shift_configs(&work, &configs, offset)?;
        let mut draft = roster.roster.clone();
        setup::shift_roster(&mut draft, offset);
        let root = read_signer(&work.join("demo-keys").join("root.key"))?;
        roster = sign_draft(&draft, &root, &work.join("roster.signed"))?;
    }
    // The root key the printed `audit verify` names.
    let mut root_pub = examples.join("root.pub");
    if args.suite != roster.roster.suite {
        let trust = other_suite(&work, &roster.roster, args.suite, args.base_port)?;
        roster = trust.roster;
        root_pub = trust.root_pub;
        println!(
            "Suite {}: root key, members' signing keys and roster {} in {}",
            args.suite,
            if trust.kept {
                "kept from an earlier run"
            } else {
                "generated"
            },
            shown(&trust.dir)
        );
    }
    let (catalog, _) = local::catalog(&work.join("catalog.toml"))?;
    for m in &args.members {
        if roster.roster.member(m).is_none() {
            bail!("--members: '{m}' is not in the example roster");
        }
    }
    let not_run: Vec<String> = roster
        .roster
        .members
        .iter()
        .map(|m| m.id.clone())
        .filter(|m| !args.members.contains(m))
        .collect();
    for m in &args.members {
        setup::narrow_peers(&work.join(format!("{m}.toml")), m, &args.members)?;
    }
    let with_province = args.members.iter().any(|m| m == "city");
    let province_admin = province_admin(&work.join("province.toml"))?;
    let mut ports = Vec::new();
    for m in &args.members {
        let member = roster.roster.member(m).context("member vanished")?;
        for (addr, what) in member
            .listen
            .iter()
            .map(|a| (a.as_str(), "replication"))
            .chain(member.http.as_deref().map(|h| (h, "HTTPS API")))
        {
            if let Some(port) = setup::port_of(addr) {
                ports.push((port, format!("{m}'s {what}")));
            }
        }
    }
    if with_province {
        for (port, what) in [
            (province_admin.0, "the province's mutual-TLS receiver"),
            (province_admin.1, "the province's admin API"),
        ] {
            ports.push((port, what.to_owned()));
        }
    }
    setup::check_free(&ports, args.base_port)?;

    // The demo's own client trusts exactly what the printed commands do.
    let ca = work.join("demo-certs").join("ca.pem");
    let client =
        |url: &str, timeout: u64| Node::with_ca(url, Duration::from_secs(timeout), Some(&ca));
    let monitor_token = work.join("tokens").join("monitor.token");
    let monitor = read_token(&monitor_token)?;

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("cannot install the Ctrl-C handler")?;

    println!(
        "Starting {} nodes in {} …",
        args.members.len(),
        work.display()
    );
    let mut fed = Federation(Vec::new());
    if with_province {
        let bin = node_bin.with_file_name("rongxin-province");
        if !bin.is_file() {
            bail!(
                "rongxin-province is not next to rongxinctl ({}): build with `cargo build --release`",
                bin.display()
            );
        }
        let log = work.join("logs").join("province.log");
        let out =
            fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        // Each server in its own process group: a Ctrl-C at the terminal
        // reaches the demo only, which stops them in order (SIGTERM).
        let child = Command::new(&bin)
            .process_group(0)
            .arg("--config")
            .arg(work.join("province.toml"))
            .arg("--data-dir")
            .arg(work.join("data").join("province"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        fed.0.push(Running {
            member: "province".into(),
            url: format!("http://127.0.0.1:{}", province_admin.1),
            child,
            log,
            health: "/v1/origins",
        });
    }
    for m in &args.members {
        let config = work.join(format!("{m}.toml"));
        let log = work.join("logs").join(format!("{m}.log"));
        let out =
            fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(&node_bin)
            .process_group(0)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(work.join("data").join(m))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", node_bin.display()))?;
        let http = roster
            .roster
            .member(m)
            .and_then(|x| x.http.clone())
            .unwrap_or_default();
        fed.0.push(Running {
            member: m.clone(),
            url: format!("{}://{http}", scheme(&config)?),
            child,
            log,
            health: "/healthz",
        });
    }
    for i in 0..fed.0.len() {
        let r = &mut fed.0[i];
        let node = client(&r.url, 2)?;
        if !wait_healthy(r, &node, &stop)? {
            return stopped(fed);
        }
        println!("  {:<9} {}", r.member, r.url);
    }
    if !not_run.is_empty() {
        println!(
            "  Not running in this demo (left out of every node's peers): {}",
            not_run.join(", ")
        );
    }

    println!("Loading {} sample records into each node …", args.records);
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut example_subject = String::new();
    let targets: Vec<(String, String)> = fed
        .0
        .iter()
        .filter(|r| r.member != "province")
        .map(|r| (r.member.clone(), r.url.clone()))
        .collect();
    for (member, url) in &targets {
        let me = roster.roster.member(member).context("member vanished")?;
        let token = fs::read_to_string(work.join("tokens").join(format!("{member}.token")))?
            .trim()
            .to_owned();
        let node = client(url, 120)?;
        let seed = setup::seed_of(&roster.roster, member);
        let records: Vec<Value> = Sampler::new(&catalog, &me.jurisdictions, seed, args.records)
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .collect();
        if example_subject.is_empty() {
            example_subject = busiest_subject(&records);
        }
        let mut accepted = 0u64;
        for chunk in records.chunks(1000) {
            if stop.load(Ordering::SeqCst) {
                return stopped(fed);
            }
            let body: String = chunk.iter().map(|v| format!("{v}\n")).collect();
            let answer: Value = node
                .post(
                    "/v1/records",
                    "application/x-ndjson",
                    body.as_bytes(),
                    &token,
                )?
                .json()?;
            accepted += answer["accepted"].as_u64().unwrap_or(0)
                + answer["duplicates"].as_u64().unwrap_or(0);
            print!("\r  {member:<9} {accepted}/{}", records.len());
            std::io::stdout().flush().ok();
        }
        println!();
        if stop.load(Ordering::SeqCst) {
            return stopped(fed);
        }
        let status: Value = node.get("/v1/admin/status", &[], Some(&monitor))?.json()?;
        expected.insert(
            member.clone(),
            status["own_log"]["size"].as_u64().unwrap_or(accepted),
        );
    }

    println!("Replicating …");
    let total: u64 = expected.values().sum();
    let started = Instant::now();
    loop {
        if stop.load(Ordering::SeqCst) {
            return stopped(fed);
        }
        let mut line = String::new();
        let mut done = true;
        let mut roots: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let nodes: Vec<&Running> = fed.0.iter().filter(|r| r.member != "province").collect();
        for r in &nodes {
            let node = client(&r.url, 10)?;
            let status: Value = node.get("/v1/admin/status", &[], Some(&monitor))?.json()?;
            let mut held = 0;
            for o in status["origins"].as_array().cloned().unwrap_or_default() {
                let origin = o["origin"].as_str().unwrap_or("").to_owned();
                if expected.contains_key(&origin) {
                    held += o["size"].as_u64().unwrap_or(0);
                    roots
                        .entry(origin)
                        .or_default()
                        .push(o["root"].as_str().unwrap_or("").to_owned());
                }
            }
            done &= held >= total;
            line.push_str(&format!("  {} {held}/{total}", r.member));
        }
        if let Some(p) = fed.0.iter().find(|r| r.member == "province") {
            let node = client(&p.url, 10)?;
            let origins: Value = node.get("/v1/origins", &[], None)?.json()?;
            let at_province: u64 = origins
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|o| expected.contains_key(o["origin"].as_str().unwrap_or("")))
                        .map(|o| o["count"].as_u64().unwrap_or(0))
                        .sum()
                })
                .unwrap_or(0);
            done &= at_province >= total;
            line.push_str(&format!("  province {at_province}/{total}"));
        }
        let agree = roots
            .values()
            .all(|v| v.len() == nodes.len() && v.windows(2).all(|w| w[0] == w[1]));
        print!("\r{line}   ");
        std::io::stdout().flush().ok();
        if done && agree {
            println!(
                "\nConverged in {:.1} s: every node holds all {total} entries of {} origins with identical roots{}.",
                started.elapsed().as_secs_f64(),
                expected.len(),
                if with_province {
                    ", and the province received them all"
                } else {
                    ""
                }
            );
            break;
        }
        if started.elapsed() > Duration::from_secs(args.timeout) {
            println!();
            bail!(
                "replication did not converge within {} s; node logs are in {}",
                args.timeout,
                work.join("logs").display()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    let nodes: Vec<&Running> = fed.0.iter().filter(|r| r.member != "province").collect();
    let cases = lifecycle(&work, &nodes, &roster, &catalog, &client, &stop)?;
    let first = &nodes[0].url;
    let last = nodes.last().map_or(&nodes[0], |r| r);
    let ctl = program();
    // The CA and root key of the examples (they stay after the demo); the
    // tokens of the working directory (there they are mode 0600, as
    // rongxinctl requires of a token file).
    let ca_arg = format!(
        "--ca {}",
        shown(&examples.join("demo-certs").join("ca.pem"))
    );
    let monitor_arg = format!("--token-file {}", shown(&monitor_token));
    let auditor_arg = format!(
        "--token-file {}",
        shown(&work.join("tokens").join("auditor.token"))
    );
    println!();
    println!("The federation is running. Try:");
    println!("  {ctl} query --node {first} {ca_arg} {example_subject}");
    println!("  {ctl} replication --node {first} {ca_arg} {monitor_arg}");
    println!("  {ctl} status --node {} {ca_arg} {monitor_arg}", last.url);
    println!("  {ctl} federation --node {first} {ca_arg} {monitor_arg}");
    println!(
        "  {ctl} bundle --node {first} {ca_arg} {auditor_arg} {} 0 --out bundle.json",
        last.member
    );
    println!(
        "  {ctl} audit verify bundle.json --root {}",
        shown(&root_pub)
    );
    if with_province {
        println!("  {ctl} forward --node {first} {ca_arg} {monitor_arg}");
        println!(
            "  curl http://127.0.0.1:{}/v1/origins   # what the province received",
            province_admin.1
        );
    }
    println!(
        "  curl --cacert {} -H \"Authorization: Bearer $(cat {})\" {first}/metrics",
        shown(&examples.join("demo-certs").join("ca.pem")),
        shown(&monitor_token)
    );
    if let Some((filed, origin, window)) = &cases {
        let token = |n: &demo_cases::DemoNode| {
            format!(
                "--token-file {}",
                shown(std::path::Path::new(&n.token_file))
            )
        };
        println!(
            "  {ctl} objection list --node {} {ca_arg} {}",
            origin.url,
            token(origin)
        );
        println!(
            "  {ctl} objection resolve {} --outcome rejected --explanation 经核实，公示金额与决定书一致 --node {} {ca_arg} {}",
            filed.objection,
            origin.url,
            token(origin)
        );
        println!(
            "  {ctl} repair decide {} --outcome granted --explanation 符合信用修复条件 --node {} {ca_arg} {}",
            filed.repair,
            origin.url,
            token(origin)
        );
        println!(
            "  {ctl} objection show {} --node {} {ca_arg} {}   # the decision reaches the window",
            filed.objection,
            window.url,
            token(window)
        );
    }
    println!(
        "The console: open {first}/ in a browser (trust {} or accept the demo certificate) and give it the monitor token in {}.",
        shown(&examples.join("demo-certs").join("ca.pem")),
        shown(&monitor_token)
    );
    println!(
        "Tokens are in {}; node logs in {}.",
        shown(&work.join("tokens")),
        shown(&work.join("logs"))
    );
    println!("Press Ctrl-C to stop.");
    while !stop.load(Ordering::SeqCst) {
        for r in &mut fed.0 {
            if let Ok(Some(status)) = r.child.try_wait() {
                bail!(
                    "{} stopped unexpectedly ({status}); its log: {}",
                    r.member,
                    r.log.display()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stopped(fed)
}

/// Ctrl-C: stops every node and the province (SIGTERM, a clean shutdown),
/// saying so.
fn stopped(fed: Federation) -> Result<ExitCode> {
    println!("\nStopping the nodes …");
    drop(fed);
    println!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

/// The subject code with the most records in `records` (the first such in
/// order): the printed example query shows a real profile.
fn busiest_subject(records: &[Value]) -> String {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, v) in records.iter().enumerate() {
        if let Some(code) = v["subject"]["code"].as_str() {
            counts.entry(code).or_insert((0, i)).0 += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, (n, first))| (*n, std::cmp::Reverse(*first)))
        .map(|(code, _)| code.to_owned())
        .unwrap_or_default()
}

/// The ports of the province's receiver and admin API in its config
/// (`listen`, `admin_listen`).
fn province_admin(path: &Path) -> Result<(u16, u16)> {
    let text = read_text(path)?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
    let port = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .and_then(setup::port_of)
            .with_context(|| format!("{}: no {key} = \"HOST:PORT\"", path.display()))
    };
    Ok((port("listen")?, port("admin_listen")?))
}

/// The keys and roster of the demo federation in a suite other than the
/// example's.
struct Trust {
    /// Where they are (`<work>/<suite>`).
    dir: PathBuf,
    /// The root verifier key file.
    root_pub: PathBuf,
    /// The signed roster.
    roster: SignedRoster,
    /// They were there already (`--dir` of an earlier run).
    kept: bool,
}

/// Makes (or, when an earlier run left them in `work`, reuses) a root key,
/// a signing key per member of `example` and a roster of `suite` with the
/// example's members, addresses and peer ids, in `<work>/<suite>/`; points
/// the node and province configs in `work` at them. `example` carries the
/// ports of this run (`--base-port`).
fn other_suite(work: &Path, example: &Roster, suite: Suite, base_port: u16) -> Result<Trust> {
    let dir = work.join(suite.name());
    let (root_pub, signed_path) = (dir.join("root.pub"), dir.join("roster.signed"));
    let kept = root_pub.is_file() && signed_path.is_file();
    let roster = if kept {
        let kept = local::roster(&signed_path, &root_pub)?;
        let addresses = |r: &Roster| -> Vec<(Vec<String>, Option<String>)> {
            r.members
                .iter()
                .map(|m| (m.listen.clone(), m.http.clone()))
                .collect()
        };
        if addresses(&kept.roster) != addresses(example) {
            bail!(
                "{} was made for other ports than --base-port {base_port}: pass the --base-port of that run, or remove {}",
                signed_path.display(),
                dir.display()
            );
        }
        kept
    } else {
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let root = write_signing_key(&dir, "root", &format!("{}/root", example.federation), suite)?;
        let mut draft = example.clone();
        draft.suite = suite;
        draft.catalog_digest = catalog_digest(suite, &work.join("catalog.toml"))?;
        draft.calendar_digest = Some(calendar_digest(suite, None)?);
        for m in &mut draft.members {
            let keys = dir.join(&m.id);
            fs::create_dir_all(&keys)
                .with_context(|| format!("cannot create {}", keys.display()))?;
            let signer = write_signing_key(
                &keys,
                "signing",
                &format!("{}/{}", example.federation, m.id),
                suite,
            )?;
            m.keys = vec![MemberKey {
                key: signer.verifier().key().to_base64(),
                from: Some(0),
                compromised: false,
            }];
        }
        save_draft(&dir.join("roster.toml"), &draft)?;
        sign_draft(&draft, &root, &signed_path)?
    };
    // Every member's signing key must be the one the roster lists.
    for m in &roster.roster.members {
        let path = dir.join(&m.id).join("signing.key");
        let signer: NoteSigner = read_signer(&path)?;
        if m.keys.last().map(|k| k.key.as_str()) != Some(&signer.verifier().key().to_base64()) {
            bail!(
                "{} is not the key {} lists for {}: remove {} to generate new ones",
                path.display(),
                signed_path.display(),
                m.id,
                dir.display()
            );
        }
    }
    let rel = |p: &Path| -> String {
        p.strip_prefix(work)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    for m in &roster.roster.members {
        let signing = dir.join(&m.id).join("signing.key");
        point_config(
            &work.join(format!("{}.toml", m.id)),
            &[
                ("roster", rel(&signed_path)),
                ("root_key", rel(&root_pub)),
                ("signing_key", rel(&signing)),
            ],
        )?;
    }
    point_config(
        &work.join("province.toml"),
        &[("roster", rel(&signed_path)), ("root_key", rel(&root_pub))],
    )?;
    let root: NoteVerifier = read_verifier(&root_pub)?;
    if root.suite() != suite {
        bail!("{} is not an {suite} key", root_pub.display());
    }
    Ok(Trust {
        dir,
        root_pub,
        roster,
        kept,
    })
}

/// Sets top-level string `keys` of the TOML config at `path` (a line
/// `key = "..."` each; comments and the rest stay as they are). A config
/// that is missing is left alone; one without a line for a key is an error.
fn point_config(path: &Path, keys: &[(&str, String)]) -> Result<()> {
    if !path.is_file() {
        return Ok(());
    }
    let text = read_text(path)?;
    let mut out = String::with_capacity(text.len());
    let mut found = vec![false; keys.len()];
    for line in text.lines() {
        let name = line.split('=').next().unwrap_or("").trim();
        match keys.iter().position(|(k, _)| *k == name) {
            Some(i) if line.contains('=') && !line.trim_start().starts_with('#') => {
                out.push_str(&format!(
                    "{name} = {}\n",
                    toml::Value::from(keys[i].1.as_str())
                ));
                found[i] = true;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if let Some(i) = found.iter().position(|f| !f) {
        bail!("{} has no line `{} = ...`", path.display(), keys[i].0);
    }
    fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

/// `rongxin-node` next to this binary (as `cargo build` places them).
fn node_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let candidate = exe.with_file_name("rongxin-node");
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!(
        "rongxin-node is not next to rongxinctl ({}): build both with `cargo build --release`",
        candidate.display()
    )
}

/// Waits until `r` answers; `false` when Ctrl-C came first.
fn wait_healthy(r: &mut Running, node: &Node, stop: &AtomicBool) -> Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(false);
        }
        if node.get(r.health, &[], None).is_ok() {
            return Ok(true);
        }
        if let Some(status) = r.child.try_wait()? {
            let log = fs::read_to_string(&r.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(8).collect();
            bail!(
                "{} exited ({status}) before it was ready:\n{}",
                r.member,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not become ready at {}; its log: {}",
                r.member,
                r.url,
                r.log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `https` when the member's config has a `[tls]` table (as the examples
/// do), else `http`: the demo talks to each node the way it serves.
fn scheme(config: &Path) -> Result<&'static str> {
    let text =
        fs::read_to_string(config).with_context(|| format!("cannot read {}", config.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", config.display()))?;
    Ok(if value.contains_key("tls") {
        "https"
    } else {
        "http"
    })
}

/// Copies the example federation, making key and token files private.
fn copy_examples(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to.join("logs"))?;
    copy_dir(from, to)?;
    for dir in [
        to.join("demo-keys"),
        to.join("tokens"),
        to.join("demo-certs"),
    ] {
        private(&dir)?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn private(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            private(&entry.path())?;
        } else {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".key") || name.ends_with(".token") {
                fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}

/// A temporary directory removed on drop.
struct TempDir {
    path: PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn tempdir() -> Result<TempDir> {
    let base = std::env::temp_dir();
    for n in 0..1000u32 {
        let path = base.join(format!("rongxin-demo-{}-{n}", std::process::id()));
        if fs::create_dir(&path).is_ok() {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o700))?;
            return Ok(TempDir { path });
        }
    }
    bail!("cannot create a temporary directory in {}", base.display())
}

/// The demo's credit-lifecycle step: with gulou and taijiang running, an
/// objection and a repair application filed at taijiang about gulou's
/// records (docs/operations.md §12). Returns what was filed and the two
/// nodes, for the commands printed afterwards.
fn lifecycle(
    work: &Path,
    nodes: &[&Running],
    roster: &rongxin_protocol::roster::SignedRoster,
    catalog: &rongxin_protocol::catalog::Catalog,
    client: &dyn Fn(&str, u64) -> Result<Node>,
    stop: &AtomicBool,
) -> Result<
    Option<(
        demo_cases::Filed,
        demo_cases::DemoNode,
        demo_cases::DemoNode,
    )>,
> {
    let demo_node = |r: &Running| -> Result<demo_cases::DemoNode> {
        let token_file = work.join("tokens").join(format!("{}.token", r.member));
        Ok(demo_cases::DemoNode {
            member: r.member.clone(),
            url: r.url.clone(),
            token: read_token(&token_file)?,
            token_file: token_file.display().to_string(),
        })
    };
    let find = |m: &str| nodes.iter().find(|r| r.member == m);
    let (Some(origin), Some(window)) = (find("gulou"), find("taijiang")) else {
        return Ok(None);
    };
    let (origin, window) = (demo_node(origin)?, demo_node(window)?);
    let watch = nodes
        .iter()
        .map(|r| demo_node(r))
        .collect::<Result<Vec<_>>>()?;
    let jurisdictions = roster
        .roster
        .member("gulou")
        .map(|m| m.jurisdictions.clone())
        .unwrap_or_default();
    let filed = demo_cases::file(
        &origin,
        &window,
        &watch,
        catalog,
        &jurisdictions,
        &|url| client(url, 30),
        stop,
    )?;
    Ok(Some((filed, origin, window)))
}
