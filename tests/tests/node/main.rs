//! Multi-process tests of one node: each test starts real `rongxin-node`
//! processes from a private copy of the example federation, talks to them
//! over HTTP on loopback, and checks the results with `rongxinctl` and an
//! independent end-to-end log verification. One test binary; tests run in
//! parallel, each on its own ports and data directories.

mod access;
mod bad_input;
mod config;
mod crash;
mod csv_ingest;
mod ctl;
mod disk;
mod lifecycle;
mod limits;
mod lists;
mod objections;
mod ops;
mod pages;
mod provenance;
mod replica;
mod restart;
mod store_format2;
mod tiles;
mod timeliness;
mod tls;

use rongxin_tests::{Federation, Records, TestNode, VerifiedLog, verify_log};

/// A federation copy, gulou's node started from its example config, and a
/// record maker.
fn gulou() -> (Federation, TestNode, Records) {
    let fed = Federation::new();
    let node = fed.start("gulou");
    let records = Records::new(&fed);
    (fed, node, records)
}

/// Verifies `node`'s own log end to end.
fn verify_own_log(node: &TestNode) -> VerifiedLog {
    let fed = node.federation();
    verify_log(
        node.client(),
        &fed.roster().roster,
        fed.catalog(),
        node.member(),
    )
    .unwrap_or_else(|e| panic!("{}'s log does not verify: {e}", node.member()))
}
