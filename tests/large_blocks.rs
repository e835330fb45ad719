//! A freed large buffer (a snapshot's JSON, its copies on the way to the database) leaves the
//! process instead of staying resident in the allocator's heap (`server::memory`).
//!
//! glibc only: it is the allocator whose threshold moves. Without the fixed threshold the
//! second buffer below comes from the heap and all 8 MiB of it stay resident after `free`.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// The process's resident memory in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_freed_large_buffer_is_given_back() {
    const SIZE: usize = 8 << 20;
    assert!(sprintlog::server::memory::return_large_blocks());
    // The first large block freed is what moved glibc's threshold.
    drop(std::hint::black_box(vec![1u8; SIZE]));
    let before = rss_kib();
    let buffer = std::hint::black_box(vec![2u8; SIZE]);
    let held = rss_kib();
    drop(buffer);
    let after = rss_kib();
    assert!(
        held >= before + 7 * 1024,
        "the buffer was resident: {before} → {held} KiB"
    );
    assert!(
        after < before + 1024,
        "freed, it left the process: {before} KiB before, {held} held, {after} after"
    );
}
