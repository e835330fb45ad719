//! The process's own figures for `/metrics` (CPU time, memory, file descriptors, start time),
//! read from Linux's `/proc/self` at scrape time; on other systems there are none.
//!
//! The names and meanings are Prometheus's standard `process_*` set, so the dashboards and
//! alerts written for any exporter apply unchanged.

/// One reading of the process.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// User and system CPU time spent, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size.
    pub resident_memory_bytes: u64,
    /// Virtual memory size.
    pub virtual_memory_bytes: u64,
    /// Open file descriptors (sockets included).
    pub open_fds: u64,
    /// The soft limit on open file descriptors (`ulimit -n`), if it is not unlimited.
    pub max_fds: Option<u64>,
    /// When the process started, in seconds since the Unix epoch (`None` where `/proc/stat`
    /// is hidden, as systemd's `ProcSubset=pid` does).
    pub start_time_seconds: Option<f64>,
}

/// Reads the figures; `None` where `/proc` is not there (or does not parse).
#[cfg(target_os = "linux")]
pub fn read() -> Option<Figures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // proc(5): the command name sits in parentheses and may hold spaces or parentheses
    // itself, so the fields are counted from the last `)`; `rest[0]` is field 3 (state).
    let rest: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    // SAFETY: `sysconf` only reads a system constant; it has no preconditions.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
    let page = u64::try_from(page).ok()?;
    // Clock ticks after boot.
    let started = field(22)?;
    Some(Figures {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks as f64,
        resident_memory_bytes: field(24)? * page,
        virtual_memory_bytes: field(23)?,
        open_fds: std::fs::read_dir("/proc/self/fd").ok()?.count() as u64,
        max_fds: max_open_files(),
        start_time_seconds: boot_time().map(|boot| boot as f64 + started as f64 / ticks as f64),
    })
}

#[cfg(not(target_os = "linux"))]
pub fn read() -> Option<Figures> {
    None
}

/// The boot time (`btime` in `/proc/stat`), in seconds since the epoch.
#[cfg(target_os = "linux")]
fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of "Max open files" in `/proc/self/limits`.
#[cfg(target_os = "linux")]
fn max_open_files() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_plausible_figures() {
        let before = read().expect("figures from /proc");
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let after = read().unwrap();
        drop(f);
        assert!(after.open_fds > before.open_fds, "{before:?} {after:?}");
        assert!(before.resident_memory_bytes > 1024 * 1024, "{before:?}");
        assert!(before.virtual_memory_bytes >= before.resident_memory_bytes);
        assert!(before.cpu_seconds >= 0.0 && before.cpu_seconds <= after.cpu_seconds);
        // Started after 2020 and not in the future.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = before.start_time_seconds.unwrap();
        assert!(started > 1.6e9 && started <= now + 1.0, "{started}");
    }
}
