//! CPU time of the server (a process, or the baseline's thread) and of this tool from
//! `/proc/.../stat`.

/// Clock ticks per second of `/proc/*/stat` (`sysconf(_SC_CLK_TCK)`, 100 on Linux x86-64 and
/// arm64; the granularity is 10 ms, so measure over seconds).
const TICKS_PER_S: u64 = 100;

#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    pub user_us: u64,
    pub sys_us: u64,
}

impl Cpu {
    pub fn minus(self, before: Cpu) -> Cpu {
        Cpu {
            user_us: self.user_us.saturating_sub(before.user_us),
            sys_us: self.sys_us.saturating_sub(before.sys_us),
        }
    }

    /// The CPU spent between two readings, if both were taken.
    pub fn between(before: Option<Cpu>, after: Option<Cpu>) -> Option<Cpu> {
        Some(after?.minus(before?))
    }
}

pub enum Source {
    /// A process (all its threads).
    Pid(u32),
    /// A thread of this process.
    Thread(u32),
    /// This process (all its threads).
    Own,
}

impl Source {
    pub fn read(&self) -> Option<Cpu> {
        let path = match self {
            Source::Pid(p) => format!("/proc/{p}/stat"),
            Source::Thread(t) => format!("/proc/self/task/{t}/stat"),
            Source::Own => "/proc/self/stat".to_string(),
        };
        let text = std::fs::read_to_string(path).ok()?;
        // Fields after the command name (which may hold spaces) in parentheses; utime and stime
        // are fields 14 and 15 of the whole line, so 12 and 13 after ")".
        let rest = &text[text.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let user: u64 = fields.next()?.parse().ok()?;
        let sys: u64 = fields.next()?.parse().ok()?;
        let us = 1_000_000 / TICKS_PER_S;
        Some(Cpu {
            user_us: user * us,
            sys_us: sys * us,
        })
    }
}

/// Resident set size of a process in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
