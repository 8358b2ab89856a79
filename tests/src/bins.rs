//! Where the binaries under test are: next to the test executable, in
//! `target/<profile>/`. Each binary's package is built once per test process
//! (`cargo build -p …` in the same profile and target directory), so the tests
//! never run a stale binary left over from before a source change; when
//! everything is up to date that build is a quick no-op.
//!
//! Set `RONGXIN_TESTS_NO_BUILD=1` to skip the build and use whatever binaries
//! are there (for example when testing prebuilt binaries).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The node daemon.
pub fn node() -> PathBuf {
    static NODE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    resolve(&NODE, "rongxin-node", "rongxin-node")
}

/// The operator and auditor tool.
pub fn ctl() -> PathBuf {
    static CTL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    resolve(&CTL, "rongxin-admin", "rongxinctl")
}

fn resolve(cell: &OnceLock<Result<PathBuf, String>>, package: &str, bin: &str) -> PathBuf {
    match cell.get_or_init(|| build(package, bin)) {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// `target/<profile>/`: the test executable lives in its `deps/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("the test executable is in a directory");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps/ has a parent").to_owned()
    } else {
        deps.to_owned()
    }
}

fn build(package: &str, bin: &str) -> Result<PathBuf, String> {
    let dir = profile_dir();
    let path = dir.join(bin);
    if std::env::var_os("RONGXIN_TESTS_NO_BUILD").is_some() {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} is missing and RONGXIN_TESTS_NO_BUILD is set: build it first (cargo build -p {package})",
                path.display()
            ))
        };
    }
    cargo_build(&dir, package, &["--bin", bin])?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "cargo built {package} but {} is not there",
            path.display()
        ))
    }
}

/// Runs `cargo build -p package targets…` for the profile whose output
/// directory is `dir` (`target/<profile>/`), in the same target directory.
pub fn cargo_build(dir: &Path, package: &str, targets: &[&str]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let target_dir = dir.parent().ok_or("target/<profile> has no parent")?;
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .args(["-p", package])
        .args(targets);
    match dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug") {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run cargo to build {package}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo build -p {package} {} failed ({}):\n{}",
            targets.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A file holding `token`, readable by its owner only, as `rongxinctl
/// --token-file` wants it; one per distinct token for the test process.
pub fn token_file(token: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("rongxin-tokens-")
            .tempdir()
            .expect("a directory for token files")
    });
    let name: String = rongxin_node::config::token_digest(token)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = dir.path().join(format!("{name}.token"));
    if !path.exists() {
        std::fs::write(&path, format!("{token}\n")).expect("write a token file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("make the token file private");
    }
    path
}
