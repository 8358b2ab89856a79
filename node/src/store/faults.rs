//! Fault injection for the writer's failure paths (tests only): a point
//! armed with `fail_after(point, n)` lets `n` more operations through, then
//! fails every one until disarmed; `delay(point, d)` makes each operation
//! there take `d` longer (a slow disk), so that tests can see what happens
//! while the writer is busy.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// A write to a log file.
    FileWrite,
    /// A sync of a log file.
    FileSync,
    /// The database's flush.
    DbFlush,
}

/// The armed points of one store: per point, how many more operations
/// pass (-1: disarmed).
#[derive(Debug)]
pub struct Faults {
    armed: [AtomicI64; 3],
    /// Per point, microseconds each operation is held.
    delays: [AtomicU64; 3],
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            armed: [AtomicI64::new(-1), AtomicI64::new(-1), AtomicI64::new(-1)],
            delays: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        }
    }
}

impl Faults {
    fn slot(&self, point: Point) -> &AtomicI64 {
        &self.armed[point as usize]
    }

    /// Lets `n` more operations at `point` through, then fails them.
    pub fn fail_after(&self, point: Point, n: u32) {
        self.slot(point).store(i64::from(n), Ordering::SeqCst);
    }

    /// Disarms `point`.
    pub fn clear(&self, point: Point) {
        self.slot(point).store(-1, Ordering::SeqCst);
    }

    /// Holds every operation at `point` for `d` (zero: not at all).
    pub fn delay(&self, point: Point, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.delays[point as usize].store(micros, Ordering::SeqCst);
    }

    /// An injected error when `point` is armed and its passes are used up
    /// (after the point's delay, if any).
    pub fn check(&self, point: Point) -> std::io::Result<()> {
        let micros = self.delays[point as usize].load(Ordering::SeqCst);
        if micros > 0 {
            std::thread::sleep(Duration::from_micros(micros));
        }
        let slot = self.slot(point);
        let mut now = slot.load(Ordering::SeqCst);
        loop {
            if now < 0 {
                return Ok(());
            }
            if now == 0 {
                return Err(std::io::Error::other(format!(
                    "injected fault at {point:?}"
                )));
            }
            match slot.compare_exchange(now, now - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(()),
                Err(v) => now = v,
            }
        }
    }
}
