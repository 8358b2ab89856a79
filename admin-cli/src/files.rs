//! Reading and writing the tool's files: keys with owner-only permissions,
//! and text files with errors that name the path.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use rongxin_protocol::note::{NoteSigner, NoteVerifier};

/// Reads a UTF-8 text file.
pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes a file that anyone may read.
pub fn write_public(path: &Path, contents: &[u8]) -> Result<()> {
    fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a secret file readable and writable by the owner only (mode 0600),
/// refusing to overwrite an existing file.
pub fn write_secret(path: &Path, contents: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (keys are never overwritten: move the old one away first)",
                path.display()
            )
        })?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a secret file, refusing it when group or others may read it.
pub fn read_secret(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by group or others (mode {mode:o}); a key must be private: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    read_text(path)
}

/// Reads a note signer key file (`PRIVATE+KEY+...`).
pub fn read_signer(path: &Path) -> Result<NoteSigner> {
    let text = read_secret(path)?;
    NoteSigner::parse(text.trim())
        .with_context(|| format!("{} is not a signer key", path.display()))
}

/// Reads a note verifier key file (`name+id+key`).
pub fn read_verifier(path: &Path) -> Result<NoteVerifier> {
    let text = read_text(path)?;
    NoteVerifier::parse(text.trim())
        .with_context(|| format!("{} is not a verifier key", path.display()))
}
