//! The harness of Rongxin's multi-process tests: it runs the real
//! `rongxin-node` and `rongxinctl` binaries over real sockets and disks.
//!
//! - [`Federation`]: a private copy of `config-examples/` (key files made
//!   0600, which a git checkout does not keep) from which node configs are
//!   written with free loopback ports;
//! - [`TestNode`]: one node process — start and wait for `/healthz`, stop
//!   with SIGTERM, kill -9, restart on the same data directory; killed when
//!   dropped;
//! - [`Client`]: a blocking HTTP client with the API calls tests make;
//! - [`Records`]: valid records of every catalog kind for any member;
//! - [`verify::verify_log`]: verifies a whole log end to end, as an auditor.
//! - [`fixture`]: the store-format-2 fixture (`tests/fixtures/store-format2/`),
//!   made by the format-2 store and opened by the migration test.
//!
//! Binaries are found next to the test executable and built on first use
//! ([`bins`]).

pub mod bench;
pub mod bins;
pub mod client;
pub mod converge;
pub mod fakepeer;
pub mod federation;
pub mod fednode;
pub mod fixture;
pub mod forwarding;
pub mod generate;
pub mod node;
pub mod province;
pub mod proxy;
pub mod records;
pub mod verify;

use std::time::{Duration, Instant};

pub use client::{Client, LogHead, Reply};
pub use federation::{FailedStart, Federation, NodeConfig};
pub use node::TestNode;
pub use records::{Records, Subject};
pub use verify::{VerifiedLog, verify_log};

/// Polls `cond` every 10 ms until it returns `Some`, panicking with `what`
/// after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
