//! Rongxin's pure core.
#![deny(missing_docs)]

pub mod catalog;
pub mod code;
pub mod merkle;
pub mod value;
