//! One line on stderr instead of a bare "Bus error" when a mapped input shrinks while it is read.
//!
//! Reading a page of a mapping past the end of its (since truncated) file raises SIGBUS. logrotate's
//! `copytruncate` does exactly that to a live log, so it is not only a user's mistake; copying every input
//! instead of mapping it would cost the memory bound the analyzer promises. The handler names the file whose
//! mapping faulted and exits with 2 (docs/ANALYZER.md, "Exit codes"). A SIGBUS outside every input's mapping
//! is not ours to explain: the default action (a core dump) is restored and the fault happens again.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::Once;

/// Mappings remembered at once; past this, a fault in an unremembered one is reported without its path.
const SLOTS: usize = 256;

/// The most bytes of a path a slot keeps (a longer one is reported cut, ending in `...`).
const PATH_BYTES: usize = 1024;

struct Slot {
    used: AtomicBool,
    /// The mapping's first address; 0 while the slot is being filled or emptied.
    start: AtomicUsize,
    len: AtomicUsize,
    /// The path's first bytes, kept in the slot: the handler may read them at any time, so they cannot be freed
    /// memory, and leaking a copy per input opened grew a long-lived process without bound.
    path: [AtomicU8; PATH_BYTES],
    path_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)] // only the array's initializer: each slot is its own copy
const EMPTY: Slot = Slot {
    used: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    path: [const { AtomicU8::new(0) }; PATH_BYTES],
    path_len: AtomicUsize::new(0),
};
static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
/// Whether some mapping could not be remembered (then any SIGBUS may be ours).
static OVERFLOW: AtomicBool = AtomicBool::new(false);
static PROGRAM: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static PROGRAM_LEN: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();

/// A mapping registered with the handler; dropping it forgets the mapping (before it is unmapped).
#[derive(Debug)]
pub struct Guard(Option<usize>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            TABLE[i].start.store(0, Ordering::Release);
            TABLE[i].used.store(false, Ordering::Release);
        }
    }
}

/// Remembers that `len` bytes from `start` are the mapping of `path`, installing the handler on first use.
pub fn watch(start: *const u8, len: usize, path: &std::path::Path) -> Guard {
    INSTALL.call_once(install);
    let bytes = path.as_os_str().as_encoded_bytes();
    for (i, slot) in TABLE.iter().enumerate() {
        if slot.used.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            slot.len.store(len, Ordering::Relaxed);
            for (to, &b) in slot.path.iter().zip(bytes) {
                to.store(b, Ordering::Relaxed);
            }
            slot.path_len.store(bytes.len(), Ordering::Relaxed);
            slot.start.store(start as usize, Ordering::Release);
            return Guard(Some(i));
        }
    }
    OVERFLOW.store(true, Ordering::Relaxed);
    Guard(None)
}

fn install() {
    let name = std::env::args_os()
        .next()
        .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.as_encoded_bytes().to_vec()))
        .unwrap_or_else(|| b"pylu".to_vec());
    let name: &'static mut [u8] = Box::leak(name.into_boxed_slice());
    PROGRAM_LEN.store(name.len(), Ordering::Relaxed);
    PROGRAM.store(name.as_mut_ptr(), Ordering::Release);
    // SAFETY: `sigaction` is given a zeroed (valid) struct with a handler of the SA_SIGINFO signature; the
    // handler only does async-signal-safe things (atomic loads, write(2), signal(2), _exit(2)).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigbus as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}

/// Set by the first thread to report: others that fault meanwhile wait for its `_exit`, so that the line is
/// written once and whole.
static REPORTING: AtomicBool = AtomicBool::new(false);

/// A line assembled without allocating (the handler may not).
struct Line {
    buf: [u8; 4096],
    len: usize,
}

impl Line {
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }
}

extern "C" fn on_sigbus(_signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for a SA_SIGINFO handler; si_addr is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    let hit = TABLE.iter().find(|s| {
        let start = s.start.load(Ordering::Acquire);
        start != 0 && addr >= start && addr - start < s.len.load(Ordering::Relaxed)
    });
    if hit.is_none() && !OVERFLOW.load(Ordering::Relaxed) {
        // SAFETY: restoring the default action is async-signal-safe; returning re-runs the faulting access,
        // which then ends the process as it would have without us.
        unsafe {
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
        }
        return;
    }
    if REPORTING.swap(true, Ordering::AcqRel) {
        loop {
            // SAFETY: pause is async-signal-safe; the reporting thread's _exit ends this wait with the process.
            unsafe {
                libc::pause();
            }
        }
    }
    let mut line = Line { buf: [0; 4096], len: 0 };
    let program = PROGRAM.load(Ordering::Acquire);
    if !program.is_null() {
        // SAFETY: PROGRAM points to PROGRAM_LEN leaked bytes, stored before the handler was installed.
        line.push(unsafe { std::slice::from_raw_parts(program, PROGRAM_LEN.load(Ordering::Relaxed)) });
        line.push(b": error: ");
    }
    match hit {
        Some(s) => {
            // Stored before its start was published (a slot emptied and filled again meanwhile would give
            // another input's name, never invalid memory).
            let len = s.path_len.load(Ordering::Relaxed);
            for b in &s.path[..len.min(PATH_BYTES)] {
                line.push(&[b.load(Ordering::Relaxed)]);
            }
            if len > PATH_BYTES {
                line.push(b"...");
            }
            line.push(b": ");
        }
        None => line.push(b"an input: "),
    }
    line.push(b"the file shrank while it was being read (truncated by another process, e.g. logrotate's copytruncate?); analyze a copy\n");
    // SAFETY: write(2) on stderr with a valid buffer, then _exit: both async-signal-safe. A short or failed write
    // loses part of the message, which nothing could report anyway; _exit runs nothing else.
    unsafe {
        libc::write(2, line.buf.as_ptr().cast(), line.len);
        libc::_exit(2)
    }
}
