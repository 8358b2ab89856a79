//! `province-demo-certs DIR`: writes the demo CA, the province's server
//! certificate and the city's client certificate to DIR (config-examples/demo-certs
//! in this repository). DEMO CERTIFICATES — for local use only.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use rongxin_province::demo_certs::DemoCa;

/// Writes demo certificates for the province receiver and the city's forwarder.
#[derive(Debug, Parser)]
#[command(name = "province-demo-certs", version, about)]
struct Args {
    /// Directory to write ca.pem, province.pem/.key, city.pem/.key and README.md to.
    dir: PathBuf,
}

const README: &str = "# DEMO CERTIFICATES — for local use only

Everything in this directory is a **demonstration certificate** for the
example federation in `config-examples/`: a demo CA (`ca.pem`), the
province receiver's server certificate (`province.pem`, `province.key`; valid
for `127.0.0.1` and `localhost`) and the city's client certificate
(`city.pem`, `city.key`; subject CN `city`), all issued by that CA and valid
for 10 years from when they were generated. Their private keys are published
in this repository, so anyone can use them. Never use them outside a demo.

`rongxin-province` trusts client certificates issued by `client_ca`
(`ca.pem` here) whose CN is in `accepted_senders`; the city's forwarder trusts
the province's certificate through the same CA.

Git does not keep file modes: after a checkout the `*.key` files are readable
by everyone, and `rongxin-province` refuses a `tls_key` that group or others
can read. Run `chmod 600 config-examples/demo-certs/*.key` before using them
by hand.

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
    let city = ca.issue_client("city").map_err(|e| e.to_string())?;
    let files = [
        ("ca.pem", ca.cert_pem(), 0o644),
        ("province.pem", province.cert, 0o644),
        ("province.key", province.key, 0o600),
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
