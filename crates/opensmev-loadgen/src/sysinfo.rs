//! Machine description and server resource use, read from `/proc` (Linux).
//!
//! A separate server process is sampled through `/proc/PID/stat` (utime + stime) and
//! `/proc/PID/status` (VmHWM, VmRSS). An in-process server (`--spawn`) runs on its own threads,
//! named `smev-srv…` (its runtime) and `opensmev-sqlite…` (the store's workers), so its CPU time
//! is the sum over those threads in `/proc/self/task`; its memory cannot be told apart from the
//! load generator's, so the peak RSS reported is the whole process's.

use std::collections::HashMap;
use std::path::Path;

/// Thread-name prefixes of an in-process server (`comm` is cut at 15 bytes).
pub(crate) const SERVER_THREADS: [&str; 2] = ["smev-srv", "opensmev-sqlit"];

/// What the machine is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInfo {
    /// Logical CPUs available to this process (`nproc`).
    pub nproc: usize,
    /// Logical CPUs listed in `/proc/cpuinfo`.
    pub cpus_online: usize,
    /// The CPU model (`model name` in `/proc/cpuinfo`).
    pub cpu_model: String,
    /// The kernel (`/proc/sys/kernel/ostype` + `osrelease`).
    pub kernel: String,
    /// Total memory in KiB (`MemTotal`).
    pub mem_total_kib: Option<u64>,
}

/// Describes this machine.
pub fn machine() -> MachineInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            matches!(key.trim(), "model name" | "Model" | "cpu model")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cpus_online = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count();
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let kernel = format!(
        "{} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease")
    )
    .trim()
    .to_owned();
    let mem_total_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| kib_field(&m, "MemTotal:"));
    MachineInfo {
        nproc: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpus_online,
        cpu_model,
        kernel,
        mem_total_kib,
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// utime + stime in seconds from a `stat` file's text.
fn cpu_seconds_of_stat(stat: &str) -> Option<f64> {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state(3) … utime is field 14 and stime 15 of the whole line → 11 and 12 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn comm_of_stat(stat: &str) -> Option<&str> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    stat.get(open + 1..close)
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l[key.len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// A sample of a process.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcSample {
    /// utime + stime of the process, seconds.
    pub(crate) cpu_s: f64,
    /// CPU seconds of each in-process server thread by thread id (when sampling `/proc/self`).
    pub(crate) server_threads: Option<HashMap<u32, f64>>,
    /// VmRSS, KiB.
    pub(crate) rss_kib: Option<u64>,
    /// VmHWM (peak RSS), KiB.
    pub(crate) hwm_kib: Option<u64>,
}

/// Samples `/proc/<pid>` (`pid` = `None`: this process, with the server threads summed).
pub(crate) fn sample(pid: Option<u32>) -> Option<ProcSample> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_owned(),
    };
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).unwrap_or_default();
    let server_threads = pid
        .is_none()
        .then(|| threads_cpu(Path::new("/proc/self/task"), &SERVER_THREADS));
    Some(ProcSample {
        cpu_s: cpu_seconds_of_stat(&stat)?,
        server_threads,
        rss_kib: kib_field(&status, "VmRSS:"),
        hwm_kib: kib_field(&status, "VmHWM:"),
    })
}

/// CPU seconds all CPUs of the machine spent busy since boot, all processes together (the first
/// line of `/proc/stat`: user, nice, system, irq, softirq, steal), to tell how much other load a
/// measurement shared the machine with.
pub(crate) fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    machine_busy_of(stat.lines().next()?)
}

fn machine_busy_of(line: &str) -> Option<f64> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0);
    Some(busy as f64 / clock_ticks())
}

/// CPU seconds of each thread under `task_dir` whose name starts with one of `prefixes`.
fn threads_cpu(task_dir: &Path, prefixes: &[&str]) -> HashMap<u32, f64> {
    let Ok(entries) = std::fs::read_dir(task_dir) else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let tid = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let named =
                comm_of_stat(&stat).is_some_and(|c| prefixes.iter().any(|p| c.starts_with(p)));
            if named {
                Some((tid, cpu_seconds_of_stat(&stat)?))
            } else {
                None
            }
        })
        .collect()
}

/// CPU seconds the threads alive at `after` spent since `before` (threads that ended in between
/// are lost: `/proc` forgets them).
pub(crate) fn threads_delta(before: &HashMap<u32, f64>, after: &HashMap<u32, f64>) -> f64 {
    after
        .iter()
        .map(|(tid, cpu)| (cpu - before.get(tid).copied().unwrap_or(0.0)).max(0.0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100 0 0";
        let ticks = clock_ticks();
        assert_eq!(cpu_seconds_of_stat(line), Some(300.0 / ticks));
        assert_eq!(comm_of_stat(line), Some("a (b) c"));
        assert_eq!(
            kib_field("VmHWM:\t  1234 kB\nVmRSS: 99 kB", "VmRSS:"),
            Some(99)
        );
    }

    #[test]
    fn machine_busy_time() {
        let ticks = clock_ticks();
        assert_eq!(
            machine_busy_of("cpu  100 1 20 5000 7 2 3 4 0 0"),
            Some(130.0 / ticks)
        );
        assert_eq!(machine_busy_of("cpu0 1 1 1 1 1 1 1 1"), None);
        assert!(machine_busy_seconds().unwrap() > 0.0);
    }

    #[test]
    fn samples_this_process() {
        let s = sample(None).expect("/proc/self");
        assert!(s.cpu_s >= 0.0);
        assert!(s.hwm_kib.unwrap_or(0) > 0);
        let m = machine();
        assert!(m.nproc >= 1);
    }
}
