//! `province-demo-certs DIR`: writes the demo CA, the province's server
//! certificate, the nodes' server certificate and the city's client
//! certificate to DIR (config-examples/demo-certs in this repository).
//! DEMO CERTIFICATES — for local use only.
//!
//! The CA's private key is never written: every run makes a new CA and
//! reissues the whole set, so the set is always consistent and no published
//! key can issue further certificates that a demo user's trust in `ca.pem`
//! would accept.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use rongxin_province::demo_certs::DemoCa;

/// Writes demo certificates for the province receiver, the nodes' HTTPS API
/// and the city's forwarder.
#[derive(Debug, Parser)]
#[command(name = "province-demo-certs", version, about)]
struct Args {
    /// Directory to write ca.pem, province.pem/.key, node.pem/.key, city.pem/.key
    /// and README.md to.
    dir: PathBuf,
}

const README: &str = "# DEMO CERTIFICATES — for local use only

Everything in this directory is a **demonstration certificate** for the
example federation in `config-examples/`, all issued by one demo CA
(`ca.pem`) and valid for 10 years from when they were generated:

| files | what | used by |
| --- | --- | --- |
| `node.pem`, `node.key` | server certificate for `127.0.0.1` and `localhost` (CN `rongxin-node`) | every member's HTTPS API (`[tls]` in `config-examples/<member>.toml`); one certificate for all, since they all listen on loopback |
| `province.pem`, `province.key` | server certificate for `127.0.0.1` and `localhost` (CN `rongxin-province`) | the example provincial platform (`province.toml`) |
| `city.pem`, `city.key` | client certificate, subject CN `city` | the city's forwarder (`[forward]` in `city.toml`) |

Their private keys are published in this repository, so anyone can use them.
Never use them outside a demo. The CA's private key is not kept anywhere:
regenerating makes a new CA and reissues every file here.

`rongxinctl` verifies a node's certificate against `ca.pem`:
`rongxinctl status --node https://127.0.0.1:8100 --ca config-examples/demo-certs/ca.pem …`
(or `export RONGXIN_CA=config-examples/demo-certs/ca.pem`); so does
`curl --cacert config-examples/demo-certs/ca.pem`. `rongxin-province` trusts
client certificates issued by `client_ca` (`ca.pem` here) whose CN is in
`accepted_senders`; the city's forwarder trusts the province's certificate
through the same CA.

Git does not keep file modes: after a checkout the `*.key` files are readable
by everyone, and `rongxin-node` and `rongxin-province` refuse a key file that
group or others can read. `rongxinctl demo` copies them into its working
directory with mode 0600; run `chmod 600 config-examples/demo-certs/*.key`
before using them by hand.

Regenerate them with
`cargo run -p rongxin-province --bin province-demo-certs -- config-examples/demo-certs`.
";

fn write(dir: &Path, name: &str, text: &str, mode: u32) -> std::io::Result<()> {
    let path = dir.join(name);
    fs::write(&path, text)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
}

fn run(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ca = DemoCa::new("Rongxin demo CA").map_err(|e| e.to_string())?;
    let province = ca
        .issue_server("rongxin-province")
        .map_err(|e| e.to_string())?;
    let node = ca.issue_server("rongxin-node").map_err(|e| e.to_string())?;
    let city = ca.issue_client("city").map_err(|e| e.to_string())?;
    let files = [
        ("ca.pem", ca.cert_pem(), 0o644),
        ("province.pem", province.cert, 0o644),
        ("province.key", province.key, 0o600),
        ("node.pem", node.cert, 0o644),
        ("node.key", node.key, 0o600),
        ("city.pem", city.cert, 0o644),
        ("city.key", city.key, 0o600),
        ("README.md", README.to_owned(), 0o644),
    ];
    for (name, text, mode) in files {
        write(dir, name, &text, mode)
            .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args.dir) {
        Ok(()) => {
            println!("wrote demo certificates to {}", args.dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("province-demo-certs: {e}");
            ExitCode::FAILURE
        }
    }
}
