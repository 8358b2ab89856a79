//! How the demo adapts its copy of the example federation before it starts
//! anything: every loopback port moved by `--base-port`, each node's peers
//! narrowed to the members the demo runs, the ports checked free, and the
//! seed each member's sample records are drawn with.

use std::net::TcpListener;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use rongxin_protocol::roster::Roster;

use crate::files::read_text;

/// The lowest port of the example federation (the city's replication
/// port); `--base-port` moves it, and every other port by as much.
pub const EXAMPLE_BASE: u16 = 7100;
/// The highest port of the example federation (the province's admin API).
const EXAMPLE_TOP: u16 = 9444;

/// How far `--base-port` moves every port of the example, checked so that
/// every moved port is a valid unprivileged one.
pub fn offset(base: u16) -> Result<i32> {
    let top = i32::from(base) + i32::from(EXAMPLE_TOP - EXAMPLE_BASE);
    if base < 1024 || top > i32::from(u16::MAX) {
        bail!(
            "--base-port {base}: the demo uses ports {base}…{top}; choose a base from 1024 to {}",
            u16::MAX - (EXAMPLE_TOP - EXAMPLE_BASE)
        );
    }
    Ok(i32::from(base) - i32::from(EXAMPLE_BASE))
}

/// `text` with every loopback port (`127.0.0.1:PORT`, `/ip4/127.0.0.1/tcp/PORT`)
/// moved by `offset`.
pub fn shift_ports(text: &str, offset: i32) -> String {
    if offset == 0 {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1") {
        let after = &rest[at + "127.0.0.1".len()..];
        let sep = [":", "/tcp/"].into_iter().find(|s| after.starts_with(s));
        let Some(sep) = sep else {
            out.push_str(&rest[..at + "127.0.0.1".len()]);
            rest = after;
            continue;
        };
        let digits = &after[sep.len()..];
        let len = digits.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..at + "127.0.0.1".len()]);
        out.push_str(sep);
        match digits[..len].parse::<i32>() {
            Ok(port) => out.push_str(&(port + offset).to_string()),
            Err(_) => out.push_str(&digits[..len]),
        }
        rest = &digits[len..];
    }
    out.push_str(rest);
    out
}

/// Moves the replication and HTTP addresses of every member of `roster`.
pub fn shift_roster(roster: &mut Roster, offset: i32) {
    for m in &mut roster.members {
        for a in &mut m.listen {
            *a = shift_ports(a, offset);
        }
        if let Some(h) = &mut m.http {
            *h = shift_ports(h, offset);
        }
    }
}

/// Rewrites the config files `names` in `work` with their ports moved.
pub fn shift_configs(work: &Path, names: &[String], offset: i32) -> Result<()> {
    for name in names {
        let path = work.join(name);
        if !path.is_file() {
            continue;
        }
        let text = read_text(&path)?;
        std::fs::write(&path, shift_ports(&text, offset))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Sets the `peers` line of the member config at `path` to the configured
/// peers that run (`running`); when none of them runs, to every other
/// member that does, so the demo's nodes still meet. Members the demo does
/// not run are left out: a node waits for its configured peers at start
/// (restore protection, up to half its `restore_timeout`) and reports
/// each one it cannot reach.
pub fn narrow_peers(path: &Path, me: &str, running: &[String]) -> Result<Vec<String>> {
    let text = read_text(path)?;
    let mut out = String::with_capacity(text.len());
    let mut left_out = Vec::new();
    let mut found = false;
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        if key == "peers" && !found {
            let value: toml::Table = toml::from_str(line).with_context(|| {
                format!("{}: the peers line is not one TOML line", path.display())
            })?;
            let configured: Vec<String> = value["peers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let mut peers: Vec<String> = configured
                .iter()
                .filter(|p| running.contains(p))
                .cloned()
                .collect();
            if peers.is_empty() {
                peers = running.iter().filter(|m| *m != me).cloned().collect();
            }
            left_out = configured
                .into_iter()
                .filter(|p| !peers.contains(p))
                .collect();
            let list = toml::Value::Array(peers.into_iter().map(toml::Value::from).collect());
            out.push_str(&format!("peers = {list}\n"));
            found = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !found {
        bail!("{} has no line `peers = [...]`", path.display());
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(left_out)
}

/// Fails, naming the port, its user in the demo and the way out, unless
/// every one of `ports` (port, what uses it) can be bound on loopback now.
pub fn check_free(ports: &[(u16, String)], base: u16) -> Result<()> {
    for (port, what) in ports {
        if let Err(e) = TcpListener::bind(("127.0.0.1", *port)) {
            let other = if base == EXAMPLE_BASE { 17100 } else { 7100 };
            bail!(
                "port {port} ({what}) is in use on 127.0.0.1 ({e}): another demo or program holds it. \
                 Stop it, or move every port of the demo with --base-port (such as --base-port {other}: \
                 ports {other}…{})",
                other + (EXAMPLE_TOP - EXAMPLE_BASE)
            );
        }
    }
    Ok(())
}

/// The port of `addr` (`host:port` or a multiaddr ending in `/tcp/PORT`).
pub fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit([':', '/']).next()?.parse().ok()
}

/// The seed of `member`'s sample records: fixed by its place in the roster,
/// so a member loads the same records whichever others run with it (the
/// README's example query relies on it).
pub fn seed_of(roster: &Roster, member: &str) -> u64 {
    let index = roster
        .members
        .iter()
        .position(|m| m.id == member)
        .unwrap_or(0);
    1000 + index as u64
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::cmd::sample::Sampler;
    use crate::local;

    fn examples() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config-examples")
    }

    #[test]
    fn ports_move_by_the_offset_and_nothing_else_does() {
        let text = "http_listen = \"127.0.0.1:8102\"\np2p_listen = \"/ip4/127.0.0.1/tcp/7102\"\n\
                    url = \"https://127.0.0.1:9443\"\nmax = 8102\nhost = \"127.0.0.1\"\n";
        let moved = shift_ports(text, 10_000);
        assert_eq!(
            moved,
            "http_listen = \"127.0.0.1:18102\"\np2p_listen = \"/ip4/127.0.0.1/tcp/17102\"\n\
             url = \"https://127.0.0.1:19443\"\nmax = 8102\nhost = \"127.0.0.1\"\n"
        );
        assert_eq!(shift_ports(text, 0), text);
        assert_eq!(port_of("/ip4/127.0.0.1/tcp/17102"), Some(17102));
        assert_eq!(port_of("127.0.0.1:18102"), Some(18102));
    }

    #[test]
    fn the_base_port_keeps_every_port_valid() {
        assert_eq!(offset(7100).unwrap(), 0);
        assert_eq!(offset(20_000).unwrap(), 12_900);
        let e = offset(64_000).unwrap_err().to_string();
        assert!(
            e.contains("--base-port 64000") && e.contains("1024 to 63191"),
            "{e}"
        );
        assert!(offset(80).is_err());
    }

    #[test]
    fn peers_keep_the_running_members_or_meet_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("city.toml");
        std::fs::write(
            &path,
            "member = \"city\"\npeers = [\"ftz\", \"gulou\", \"mawei\"] # c\nx = 1\n",
        )
        .unwrap();
        let running = ["city", "gulou", "taijiang"].map(String::from).to_vec();
        let out = narrow_peers(&path, "city", &running).unwrap();
        assert_eq!(out, ["ftz", "mawei"]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "member = \"city\"\npeers = [\"gulou\"]\nx = 1\n");
        // None of gulou's configured peers runs: it meets the others.
        std::fs::write(&path, "peers = [\"city\", \"ftz\"]\n").unwrap();
        let running = ["gulou", "taijiang"].map(String::from).to_vec();
        narrow_peers(&path, "gulou", &running).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "peers = [\"taijiang\"]\n"
        );
        std::fs::write(&path, "member = \"x\"\n").unwrap();
        assert!(narrow_peers(&path, "x", &running).is_err());
    }

    #[test]
    fn a_busy_port_is_named_with_the_way_out() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let e = check_free(&[(port, "gulou's HTTPS API".into())], EXAMPLE_BASE)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("port {port} (gulou's HTTPS API) is in use"))
                && e.contains("--base-port 17100"),
            "{e}"
        );
        drop(held);
        check_free(&[(port, "x".into())], EXAMPLE_BASE).unwrap();
    }

    /// The README's example query names a subject the demo loads at the
    /// node it queries, with the demo's default record count: the example
    /// shows real results (issue 16).
    #[test]
    fn the_readme_query_finds_records_the_demo_loads() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
                .expect("README.md");
        let line = readme
            .lines()
            .find(|l| l.contains("rongxinctl query --node"))
            .expect("the README has an example query");
        let words: Vec<&str> = line.split('#').next().unwrap().split_whitespace().collect();
        let node = words[words.iter().position(|w| *w == "--node").unwrap() + 1];
        let code = *words.last().unwrap();
        let ex = examples();
        let roster = local::roster(&ex.join("roster.signed"), &ex.join("root.pub")).unwrap();
        let member = roster
            .roster
            .members
            .iter()
            .find(|m| m.http.as_deref().and_then(port_of) == port_of(node))
            .unwrap_or_else(|| panic!("no example member serves {node}"));
        let (catalog, _) = local::catalog(&ex.join("catalog.toml")).unwrap();
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for r in Sampler::new(
            &catalog,
            &member.jurisdictions,
            seed_of(&roster.roster, &member.id),
            super::super::DEFAULT_RECORDS,
        ) {
            let v = serde_json::to_value(r).unwrap();
            if v["subject"]["code"] == code {
                *kinds
                    .entry(v["kind"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        assert!(
            kinds.values().sum::<usize>() >= 3,
            "the demo loads {kinds:?} for {code} at {} ({node}): pick a subject with records",
            member.id
        );
    }
}
