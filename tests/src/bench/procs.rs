//! What the benchmark reads about processes and disks: memory and CPU
//! time from `/proc`, the size of a directory tree, and optional `perf`
//! profiles of one phase.

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};

/// What `/proc` says about a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    /// Resident memory now, bytes.
    pub rss: u64,
    /// Peak resident memory since start (or the last [`super::node::BenchNode::reset_peak`]), bytes.
    pub hwm: u64,
    /// User plus system CPU time, seconds.
    pub cpu: f64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`.
pub fn proc_stats(pid: u32) -> ProcStats {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    ProcStats {
        rss: kb("VmRSS:"),
        hwm: kb("VmHWM:"),
        cpu: cpu_seconds(&format!("/proc/{pid}/stat")),
    }
}

/// The process whose command line has the argument `arg` (a data
/// directory path: unique to one process), for processes the harness
/// starts without exposing their id.
pub fn pid_with_arg(arg: &str) -> Option<u32> {
    fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            cmdline
                .split(|b| *b == 0)
                .any(|a| a == arg.as_bytes())
                .then_some(pid)
        })
}

/// CPU seconds (user + system) of this process, all threads.
pub fn own_cpu() -> f64 {
    cpu_seconds("/proc/self/stat")
}

/// CPU seconds (user + system) of this process's children that have been
/// waited for: the tools a scenario ran to completion.
pub fn children_cpu() -> f64 {
    stat_ticks("/proc/self/stat", 13) as f64 / 100.0
}

fn cpu_seconds(stat_path: &str) -> f64 {
    stat_ticks(stat_path, 11) as f64 / 100.0
}

/// The sum of the two clock-tick fields of stat(5) from `first` (counted
/// after the command name, so utime is 11 and cutime 13).
fn stat_ticks(stat_path: &str, first: usize) -> u64 {
    let stat = fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat(5), cutime and cstime 16
    // and 17, counted in USER_HZ, which Linux fixes at 100 for /proc.
    ticks(first) + ticks(first + 1)
}

/// Bytes a directory tree occupies on disk (allocated blocks, as `du`).
pub fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Copies a directory tree (a stopped node's data directory).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the copy");
    for e in fs::read_dir(from).expect("read the directory") {
        let e = e.expect("directory entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), &dst).expect("copy a file");
        }
    }
}

/// A `perf record` of one process during one phase, taken only when
/// `RONGXIN_BENCH_PERF` names a directory (profiles land there as
/// `<label>.data`, with DWARF call graphs, at `RONGXIN_BENCH_PERF_HZ`
/// samples per second, 499 by default). Stops when dropped.
#[derive(Debug)]
pub struct Perf(Option<Child>);

impl Perf {
    /// Starts recording `pid` as `label`, if profiling is asked for.
    pub fn attach(pid: u32, label: &str) -> Perf {
        let Some(dir) = std::env::var_os("RONGXIN_BENCH_PERF") else {
            return Perf(None);
        };
        let hz = std::env::var("RONGXIN_BENCH_PERF_HZ").unwrap_or_else(|_| "499".to_owned());
        let child = Command::new("perf")
            .args(["record", "-F", &hz, "--call-graph", "dwarf,16384", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(Path::new(&dir).join(format!("{label}.data")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| eprintln!("rongxin-bench: cannot run perf: {e}"))
            .ok();
        // perf needs a moment to attach before the phase begins.
        std::thread::sleep(Duration::from_millis(300));
        Perf(child)
    }
}

impl Drop for Perf {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = kill_process(Pid::from_child(&c), Signal::INT);
            let _ = c.wait();
        }
    }
}
