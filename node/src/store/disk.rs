//! Whether the store can take writes, and why not; private file modes.
//!
//! sled 0.34 keeps the first I/O error of a background log write (ENOSPC
//! among them) as its "global error": from then on every write and flush
//! fails with that error until the database is opened again, and its
//! in-memory tree may hold writes that never reached the disk
//! (`pagecache/iobuf.rs`, `set_global_error`; only `PageCache::start` resets
//! it). So the node must not let sled run out of space. Before every write
//! it reads the free space of the data directory's file system and refuses
//! the write while it is below a reserve (`[disk] min_free_bytes`); that
//! state clears by itself once space returns. A write that fails anyway (a
//! reserve too small for what else fills the disk, a disk error) makes the
//! store not writable as well: the probe retries a write and a flush every
//! [`PROBE_EVERY`] and clears the state if they succeed. If sled has
//! poisoned itself they never will (even a read can poison it on a full
//! disk: sled consolidates pages on reads, and that writes), and only
//! opening the database again clears it: the node then restarts inside its
//! process (`rongxin-node`'s main loop), through the same start as at
//! boot, whose restore protection fetches back from peers anything this
//! node published but did not make durable.

use std::fs::{self, DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

/// Free space kept in reserve unless `[disk] min_free_bytes` says otherwise.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 128 * 1024 * 1024;
/// How often the probe looks at the disk.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Mode of the data directory and every directory of the store.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file of the store.
pub const FILE_MODE: u32 = 0o600;

/// The `[disk]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskFile {
    #[serde(default)]
    min_free_bytes: Option<u64>,
}

/// Checked `[disk]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskConfig {
    /// Writes are refused while the data directory's file system has less
    /// free space than this.
    pub min_free_bytes: u64,
}

impl Default for DiskConfig {
    fn default() -> DiskConfig {
        DiskConfig {
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
        }
    }
}

impl DiskFile {
    /// The checked settings, or what is wrong with them.
    pub fn check(&self) -> Result<DiskConfig, String> {
        Ok(DiskConfig {
            min_free_bytes: self.min_free_bytes.unwrap_or(DEFAULT_MIN_FREE_BYTES),
        })
    }
}

/// Why the store does not take writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unwritable {
    /// The file system is nearly full.
    #[error(
        "store not writable: {dir} has {free} bytes free, below the reserve of {reserve} bytes ([disk] min_free_bytes); free space on that file system and the node resumes writing by itself"
    )]
    LowSpace {
        /// The data directory.
        dir: String,
        /// Bytes available to the node.
        free: u64,
        /// The reserve.
        reserve: u64,
    },
    /// The free space cannot be read.
    #[error("store not writable: cannot read the free space of {dir}: {error}")]
    Statvfs {
        /// The data directory.
        dir: String,
        /// The system's answer.
        error: String,
    },
    /// A write or flush failed.
    #[error(
        "store not writable: a write failed: {error}; once there is space the node retries a write every second and, if the store still refuses, restarts itself to open it again; if that does not help, fix the cause (disk errors in the kernel log): nothing acknowledged is lost"
    )]
    WriteFailed {
        /// sled's error.
        error: String,
    },
}

impl Unwritable {
    /// A short name of the cause, for logs and metrics.
    pub fn cause(&self) -> &'static str {
        match self {
            Unwritable::LowSpace { .. } => "low_space",
            Unwritable::Statvfs { .. } => "statvfs",
            Unwritable::WriteFailed { .. } => "write_failed",
        }
    }
}

/// The store's writability: checked before every write, updated by write
/// failures and by the probe.
#[derive(Debug)]
pub(super) struct Guard {
    dir: PathBuf,
    reserve: u64,
    down: Mutex<Option<Unwritable>>,
}

impl Guard {
    pub(super) fn new(dir: &Path, config: DiskConfig) -> Guard {
        Guard {
            dir: dir.to_owned(),
            reserve: config.min_free_bytes,
            down: Mutex::new(None),
        }
    }

    /// Bytes free for unprivileged writers on the data directory's file
    /// system (root may use the blocks kept for it, but the reserve should
    /// not count on them).
    fn free(&self) -> Result<u64, Unwritable> {
        rustix::fs::statvfs(&self.dir)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .map_err(|e| Unwritable::Statvfs {
                dir: self.dir.display().to_string(),
                error: e.to_string(),
            })
    }

    /// The free bytes and the reserve, for the metrics.
    pub(super) fn free_and_reserve(&self) -> Option<(u64, u64)> {
        self.free().ok().map(|free| (free, self.reserve))
    }

    /// Ok if the free space is above the reserve (whatever the state).
    pub(super) fn space(&self) -> Result<(), Unwritable> {
        match self.free()? {
            free if free < self.reserve => Err(Unwritable::LowSpace {
                dir: self.dir.display().to_string(),
                free,
                reserve: self.reserve,
            }),
            _ => Ok(()),
        }
    }

    /// Ok if a write may go ahead now: nothing is wrong and the free space
    /// is above the reserve. Only the probe ([`Guard::recovered`]) clears
    /// a state once set: a write or flush must succeed first, since sled
    /// may have given up while the disk was full.
    pub(super) fn check(&self) -> Result<(), Unwritable> {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = &*down {
            return Err(w.clone());
        }
        let now = self.space().err();
        transition(&mut down, now.clone());
        match now {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }

    /// Replaces a low-space state with fresher figures (a failed write's
    /// state stays).
    pub(super) fn still_low(&self, w: Unwritable) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        if !matches!(&*down, Some(Unwritable::WriteFailed { .. })) {
            transition(&mut down, Some(w));
        }
    }

    /// A write or flush failed with `error`.
    pub(super) fn failed(&self, error: &dyn std::fmt::Display) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        transition(
            &mut down,
            Some(Unwritable::WriteFailed {
                error: error.to_string(),
            }),
        );
    }

    /// A probe write and flush succeeded.
    pub(super) fn recovered(&self) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        transition(&mut down, None);
    }

    /// Why writes are refused now, if they are (without reading the disk).
    pub(super) fn state(&self) -> Option<Unwritable> {
        self.down.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Sets the state, logging only changes of cause (not every byte of free
/// space that comes and goes).
fn transition(down: &mut Option<Unwritable>, now: Option<Unwritable>) {
    match (&*down, &now) {
        (None, Some(w)) => tracing::error!(cause = w.cause(), "{w}"),
        (Some(old), Some(w)) if old.cause() != w.cause() => {
            tracing::error!(cause = w.cause(), "{w}")
        }
        (Some(old), None) => {
            tracing::warn!(was = old.cause(), "store writable again; writes resume")
        }
        _ => {}
    }
    *down = now;
}

/// Creates `dir` (and its parents) if needed and makes it private (0700),
/// whatever the umask; an existing directory open to others is tightened.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != DIR_MODE {
        tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "data directory was open to others; making it 0700");
        fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// Makes every directory under `dir` 0700 and every file 0600: sled creates
/// its files with the process umask, and they hold restricted records and
/// the query log.
pub fn private_tree(dir: &Path) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let ty = e.file_type()?;
        let path = e.path();
        if ty.is_dir() {
            fs::set_permissions(&path, Permissions::from_mode(DIR_MODE))?;
            private_tree(&path)?;
        } else if ty.is_file() {
            fs::set_permissions(&path, Permissions::from_mode(FILE_MODE))?;
        }
    }
    Ok(())
}
