//! One module per `rongxinctl` subcommand.

pub mod audit;
pub mod backup;
pub mod bundle;
pub mod code;
pub mod demo;
pub mod demo_cases;
pub mod federation;
pub mod forward;
pub mod init;
pub mod keygen;
pub mod objection;
pub mod query;
pub mod repair;
pub mod replication;
pub mod report;
pub mod roster;
pub mod sample;
pub mod status;
pub mod submit;
pub mod timeliness;
pub mod token;
