//! Multi-process replication tests: generated private federations of real
//! `rongxin-node` processes replicating over real loopback sockets, every
//! connection through a TCP proxy the test controls (`rongxin_tests::proxy`),
//! plus fake peers speaking the real transport (`rongxin_tests::fakepeer`).
//! Tests run in parallel, each with its own federation, ports and data.

mod backup;
mod chromium;
mod console;
mod converge;
mod crash;
mod objections;
mod partition;
mod refused;
mod restore;
mod roster;
mod rotation;
mod view;

use std::time::Duration;

/// How long replication may take to reach a state the test waits for.
/// Generous: CI runs this suite on two cores beside the others, in debug.
pub const DEADLINE: Duration = Duration::from_secs(90);
