//! Tests of rongxin-province over real sockets: the library started as the
//! binary starts it, and the binary itself as a process. Clients present the
//! city's demo client certificate and post real entries signed with the
//! example federation's demo keys.

#![allow(clippy::unwrap_used)]

mod binary;
mod common;
mod faults;
mod receive;
mod tls;
