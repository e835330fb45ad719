//! How the process gives large buffers back to the operating system once they are freed.
//!
//! glibc's `malloc` serves requests of 128 KiB and more with a mapping of their own, returned
//! on `free`, but it raises that threshold to the size of every such block freed (up to
//! 32 MiB) and the threshold for trimming its heaps to twice that. A planning's snapshot is
//! one such block: its JSON (2 MB after 3,000 rounds), sqlx's copy of the text and SQLite's
//! copy when binding it. After the first one, the next snapshots came from the heaps and
//! stayed resident once freed: a room of 100 members with a reveal every 10 votes held 128–140
//! KiB of RSS per connection one second after the load, 51–53 KiB with the threshold fixed
//! (issue 22; the same-run CPU per delivery unchanged). Fixing it (`M_MMAP_THRESHOLD`, which
//! also stops the trim threshold from moving) keeps glibc's first behaviour for the process's
//! life. Other allocators (musl's, a `#[global_allocator]`) are left as they are.

/// Blocks of at least this many bytes get a mapping of their own (glibc's initial threshold).
pub const LARGE_BLOCK: usize = 128 * 1024;

/// Makes freed blocks of [`LARGE_BLOCK`] or more go back to the operating system for the rest
/// of the process's life (glibc); does nothing elsewhere. Returns whether it was applied.
pub fn return_large_blocks() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets allocator parameters; any value is accepted or refused
        // (returns 0), and it may be called at any time, from any thread.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_BLOCK as libc::c_int) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
