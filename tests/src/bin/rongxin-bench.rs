//! `rongxin-bench SCENARIO [--entries N] [--full] [--suite SUITE]`: Rongxin's benchmark
//! suite (docs/benchmarks.md). Build and run it in release:
//! `cargo run --release -p rongxin-tests --bin rongxin-bench -- all`.

use std::process::ExitCode;

use rongxin_tests::bench;

/// The node's allocator, so that the in-process rows of `limits` (sled,
/// replica append) measure what the node does.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match bench::parse_args(&args) {
        Ok((scenario, size)) => match bench::run(&scenario, size) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rongxin-bench: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            if !e.is_empty() {
                eprintln!("rongxin-bench: {e}");
            }
            eprintln!("{}", bench::USAGE);
            ExitCode::from(2)
        }
    }
}
