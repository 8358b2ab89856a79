//! One module per `rongxinctl` subcommand.

pub mod audit;
pub mod code;
pub mod keygen;
pub mod roster;
