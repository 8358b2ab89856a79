//! The local files the network commands read: the catalog and the signed
//! roster. Their defaults are the sample federation's files relative to the
//! current directory (`config-examples/…`, right when run from a checkout);
//! a missing file is an error that names the flag to pass.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::roster::{Roster, SignedRoster};

use crate::files::{read_text, read_verifier};

/// Default of `--catalog`.
pub const DEFAULT_CATALOG: &str = "config-examples/catalog.toml";
/// Default of `--roster`.
pub const DEFAULT_ROSTER: &str = "config-examples/roster.signed";
/// Default of `--root`.
pub const DEFAULT_ROOT: &str = "config-examples/root.pub";

fn must_exist(path: &Path, flag: &str, what: &str) -> Result<()> {
    if !path.exists() {
        bail!(
            "{what} {} does not exist: pass {flag} FILE (the default is relative to the current directory)",
            path.display()
        );
    }
    Ok(())
}

/// Reads and validates the catalog given by `--catalog`; also returns its bytes.
pub fn catalog(path: &Path) -> Result<(Catalog, Vec<u8>)> {
    must_exist(path, "--catalog", "catalog")?;
    let text = read_text(path)?;
    let catalog = Catalog::from_toml_str(&text)
        .with_context(|| format!("{} is not a valid catalog", path.display()))?;
    Ok((catalog, text.into_bytes()))
}

/// Reads the roster given by `--roster` and verifies it with the root key
/// given by `--root`.
pub fn roster(path: &Path, root: &Path) -> Result<SignedRoster> {
    must_exist(path, "--roster", "roster")?;
    must_exist(root, "--root", "root key")?;
    let root_key = read_verifier(root)?;
    let note = read_text(path)?;
    SignedRoster::open(&note, &root_key).with_context(|| {
        format!(
            "{} is not a roster signed by the root key {}",
            path.display(),
            root.display()
        )
    })
}

/// Warns on standard error when the roster pins another catalog than the
/// one given: records typed by it may be refused by the nodes.
pub fn warn_catalog_mismatch(roster: &Roster, catalog_bytes: &[u8], catalog_path: &Path) {
    let digest = roster.catalog_digest_of(catalog_bytes);
    if roster.catalog_digest != digest {
        eprintln!(
            "warning: {} is not the catalog the roster pins ({}); nodes check records against the pinned one",
            catalog_path.display(),
            roster.catalog_digest
        );
    }
}
