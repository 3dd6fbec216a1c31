//! The machine the numbers were taken on, and the process limits and
//! memory readings the scenarios need.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_mib: u64,
    pub kernel: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, m)| m.trim())
            })
            .unwrap_or("unknown")
            .to_string();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib = field_kib(&meminfo, "MemTotal:").unwrap_or(0);
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_mib: memory_kib / 1024,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    }
}

fn field_kib(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Resident memory of a process, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    field_kib(&status, "VmRSS:")
}

/// Raise this process's open-file limit to `want` (or as far as allowed).
/// Children (the servers) inherit it. Returns the soft limit now in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    // `None` is "unlimited" (RLIM_INFINITY).
    let as_number = |value: Option<u64>| value.unwrap_or(u64::MAX);
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.current.map(|c| want.max(c)),
        maximum: limit.maximum.map(|m| want.max(m)),
    };
    if setrlimit(Resource::Nofile, raised).is_ok() {
        return as_number(raised.current);
    }
    // Not privileged: the hard limit is as far as we can go.
    let soft = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if setrlimit(Resource::Nofile, soft).is_ok() {
        return as_number(soft.current);
    }
    as_number(limit.current)
}
