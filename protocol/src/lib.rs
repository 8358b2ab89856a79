//! Rongxin's pure core: the formats that every node, the operator tool and
//! every auditor rely on, and nothing else — no I/O, no async, no storage,
//! no network.
//!
//! - [`access`] — roles, read levels and the tokens file.
//! - [`api`] — the node's HTTP answers that other programs read.
//! - [`backup`] — the archive of a node's store that backup and restore exchange.
//! - [`calendar`] — the working-day calendar (holidays and make-up working days as data).
//! - [`code`] — unified social credit codes and resident ID numbers;
//!   [`person`] — natural persons' other identity documents (passports, permits).
//! - [`dpcsv`] — double-publicity (双公示) CSV files mapped to records.
//! - [`value`], [`catalog`], [`record`] — the credit catalog and the records it types.
//! - [`entry`] — signed, hash-chained log entries (the exact bytes that are signed);
//!   [`chain`] — the rules an entry meets to extend its origin's log.
//! - [`merkle`] — RFC 6962 trees, inclusion and consistency proofs.
//! - [`note`], [`checkpoint`] — C2SP signed notes and tlog checkpoints.
//! - [`roster`] — the root-signed list of members and who owns what.
//! - [`bundle`] — provenance bundles that auditors verify offline.
//! - [`tier`] — dishonesty tiers and how penalty types decide them.
//! - [`suite`] — the two signature suites (Ed25519/SHA-256, SM2/SM3) and their keys.
//! - [`view`] — members' signed reports of what they hold, for the federation view.
//! - [`wire`] — replication messages; [`forward`] — the city → province request.
//!
//! docs/protocol.md specifies every format byte for byte.
#![deny(missing_docs)]

pub mod access;
pub mod api;
pub mod backup;
pub mod bundle;
pub mod calendar;
pub mod catalog;
pub mod chain;
pub mod checkpoint;
pub mod code;
pub mod dpcsv;
pub mod entry;
pub mod forward;
pub mod log;
pub mod merkle;
pub mod note;
pub mod objection;
pub mod person;
pub mod record;
pub mod repair;
pub mod roster;
pub mod suite;
pub mod tally;
pub mod tier;
pub mod timeliness;
pub mod value;
pub mod view;
pub mod wire;
