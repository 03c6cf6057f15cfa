//! The clocks records are stamped with: CLOCK_MONOTONIC for records, the wall clock only to anchor the file.

/// Nanoseconds of CLOCK_MONOTONIC, the clock every record carries (trace format v1).
#[inline(always)]
pub fn monotonic_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// Nanoseconds since the Unix epoch, read once per file to anchor the monotonic clock.
pub fn wall_ns() -> u64 {
    read(libc::CLOCK_REALTIME)
}

#[inline(always)]
fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, exclusively borrowed timespec; both clocks exist on every Linux and macOS,
    // so the call cannot fail (and a failure would leave zeros, never undefined memory).
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}
