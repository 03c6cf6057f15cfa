//! One trace file per process, fed by one buffer per thread.
//!
//! A thread encodes into its own [`BlockEncoder`]; the mutex around it is only ever contended by the flusher
//! thread (once a second), so the hot path pays one uncontended lock. Recorders are leaked, never freed: a
//! forked child must not touch locks its parent's threads may have held at the fork, so it simply publishes a
//! new recorder and every thread notices that its slot belongs to an older one.

use std::cell::Cell;
use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use pylu_formats::{BlockEncoder, ClockAnchor, FileHeader, TraceWriter, DEFAULT_BLOCK_CAPACITY};
use pyo3::prelude::*;

use crate::clock;
use crate::errors::StubError;

/// How often the flusher hands idle threads' records to the file.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

pub struct ThreadSlot {
    name: String,
    /// The OS's ids of the thread (`threading.get_ident()`, `threading.get_native_id()`), written beside its
    /// name in every block: the block's thread id is the thread's serial (see [`thread_serial`]).
    ident: u64,
    native_id: u64,
    encoder: Mutex<BlockEncoder>,
}

pub struct Recorder {
    path: PathBuf,
    writer: TraceWriter,
    /// Set after a write failed (unwritable directory, disk full): records are dropped from then on.
    stopped: AtomicBool,
    /// Why recording stopped, for the controller's replies.
    error: OnceLock<String>,
    threads: Mutex<Vec<Arc<ThreadSlot>>>,
}

static CURRENT: AtomicPtr<Recorder> = AtomicPtr::new(ptr::null_mut());
/// The next thread serial: a thread's id in the trace, never given to two threads of a process, where the OS
/// gives a finished thread's ident (and a thread-per-request server's next thread often gets it at once) to
/// the next. Never reset, so a thread keeps its serial across recorders (stopped and started again).
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);
/// The warning about a failed write is printed once per process, however many recorders fail.
static WARNED: AtomicBool = AtomicBool::new(false);

/// The recorder of this process, if recording was started (and, after a fork, re-opened by the child).
#[inline(always)]
pub fn current() -> Option<&'static Recorder> {
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: a published recorder is leaked (never freed), so a non-null pointer stays valid for the
    // process's whole life.
    unsafe { p.as_ref() }
}

/// Called in a forked child before anything else runs: the parent's recorder (its file, its locks, its
/// threads' buffers) belongs to the parent. Recording resumes when Python's after-fork hook re-opens.
pub fn forget_after_fork() {
    CURRENT.store(ptr::null_mut(), Ordering::Release);
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a recorder lock cannot leave an encoder half-written in a way readers would not
    // catch (blocks are checksummed), so poisoning is ignored rather than turned into a crash.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes `file` (created empty by the caller, exclusively, in a verified directory: see paths.py) this process's
/// trace file, named `path` in messages, and the current recorder.
pub fn open(file: File, path: PathBuf, python_version: &str, argv: &[String]) -> Result<&'static Recorder, StubError> {
    // SAFETY: getpid and getppid cannot fail and touch no memory of ours.
    let (pid, ppid) = unsafe { (libc::getpid() as u32, libc::getppid() as u32) };
    let wall = clock::wall_ns();
    let monotonic = clock::monotonic_ns();
    let header = FileHeader::new(
        pid,
        ppid,
        &hostname(),
        python_version,
        argv,
        ClockAnchor { monotonic_ns: monotonic, wall_ns: wall },
    );
    let writer = TraceWriter::new(file, &header).map_err(|source| StubError::Create { path: path.clone(), source })?;
    let recorder: &'static Recorder = Box::leak(Box::new(Recorder {
        path,
        writer,
        stopped: AtomicBool::new(false),
        error: OnceLock::new(),
        threads: Mutex::new(Vec::new()),
    }));
    CURRENT.store(recorder as *const Recorder as *mut Recorder, Ordering::Release);
    spawn_flusher(recorder);
    Ok(recorder)
}

fn spawn_flusher(recorder: &'static Recorder) {
    let spawned = std::thread::Builder::new().name("pylu-flusher".into()).spawn(move || loop {
        std::thread::sleep(FLUSH_INTERVAL);
        match current() {
            Some(cur) if ptr::eq(cur, recorder) => recorder.flush_all(),
            // Replaced (a fork cannot get here: the thread does not exist in the child) or stopped.
            _ => return,
        }
    });
    if spawned.is_err() {
        warn_once(format_args!("pylu: cannot start the flusher thread; records reach the file when buffers fill"));
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn warn_once(message: std::fmt::Arguments<'_>) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        // Write errors are ignored: a host with a closed stderr must not be disturbed either.
        let _ = writeln!(std::io::stderr(), "{message}");
    }
}

impl Recorder {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Why recording stopped (the first failed write), if it did.
    pub fn error(&self) -> Option<&str> {
        self.error.get().map(String::as_str)
    }

    /// Seals `encoder`'s block and hands it to the writer, which writes it out by the next aligned piece or
    /// [`Recorder::write_pending`]; after a failure, drops it.
    fn write_out(&self, encoder: &mut BlockEncoder) {
        if self.is_stopped() {
            encoder.clear();
            return;
        }
        let result = self.writer.flush_encoder(encoder);
        self.check(result.map(drop));
    }

    /// Writes out the blocks the writer holds back.
    fn write_pending(&self) {
        if !self.is_stopped() {
            self.check(self.writer.flush());
        }
    }

    fn check(&self, result: std::io::Result<()>) {
        if let Err(err) = result {
            let why = format!("cannot write {}: {err}", self.path.display());
            warn_once(format_args!("pylu: recording stopped, {why}"));
            let _ = self.error.set(why);
            self.stopped.store(true, Ordering::Release);
        }
    }

    /// Hands every thread's pending records to the file.
    pub fn flush_all(&self) {
        let slots: Vec<Arc<ThreadSlot>> = lock(&self.threads).clone();
        for slot in slots {
            let mut encoder = lock(&slot.encoder);
            if !encoder.is_empty() {
                self.write_out(&mut encoder);
            }
        }
        self.write_pending();
    }

    fn register(&self, serial: u64, ident: u64, name: String) -> Arc<ThreadSlot> {
        let slot = Arc::new(ThreadSlot {
            name,
            ident,
            native_id: native_thread_id(),
            encoder: Mutex::new(BlockEncoder::new(serial, DEFAULT_BLOCK_CAPACITY)),
        });
        lock(&self.threads).push(slot.clone());
        slot
    }

    /// A thread ended: its last records go out and its buffer is forgotten.
    fn retire(&self, slot: &Arc<ThreadSlot>) {
        {
            let mut encoder = lock(&slot.encoder);
            if !encoder.is_empty() {
                self.write_out(&mut encoder);
            }
        }
        // A thread's end is rare: its last records go out at once, so a reader sees them without waiting for
        // the flusher.
        self.write_pending();
        lock(&self.threads).retain(|s| !Arc::ptr_eq(s, slot));
    }
}

/// This thread's buffer, tied to the recorder it was registered with.
struct LocalSlot {
    owner: *const Recorder,
    slot: Arc<ThreadSlot>,
    /// [`MUTED`]'s value, kept here so the hot path reads it from the thread-local it already holds (a second
    /// thread-local costs a `__tls_get_addr` call per record in a shared library).
    muted: u8,
}

impl Drop for LocalSlot {
    fn drop(&mut self) {
        // Only the recorder the slot belongs to may take it: after a fork the owner is the parent's.
        if let Some(rec) = current() {
            if ptr::eq(rec, self.owner) {
                rec.retire(&self.slot);
            }
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Option<LocalSlot>> = const { RefCell::new(None) };
    /// Non-zero while this thread's calls are the stub's own work, not recorded: [`STUB_THREAD`] for good on
    /// the stub's threads, [`STUB_WORK`] while the stub works on a host's thread (see [`set_muted`]). Read only
    /// when the thread's slot is made; the slot holds a copy.
    static MUTED: Cell<u8> = const { Cell::new(0) };
    /// This thread's serial (0 until its first record). A thread-local lives exactly as long as its OS thread,
    /// so a thread that reuses a finished thread's ident starts with none and gets a new one.
    static SERIAL: Cell<u64> = const { Cell::new(0) };
}

/// The calling thread's serial, given on first use.
fn thread_serial() -> u64 {
    SERIAL.with(|s| {
        if s.get() == 0 {
            s.set(NEXT_SERIAL.fetch_add(1, Ordering::Relaxed));
        }
        s.get()
    })
}

/// The id `threading.get_native_id()` returns for this thread (0 where there is none).
fn native_thread_id() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid cannot fail and has no preconditions.
        (unsafe { libc::gettid() }) as u64
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

const STUB_THREAD: u8 = 1;
const STUB_WORK: u8 = 2;
/// The stub's Python threads (control listener and command threads) are named so; their calls are its own.
const STUB_THREAD_PREFIX: &str = "pylu-";

/// Marks (or unmarks) the calling thread as doing the stub's own work; returns whether it was.
pub fn set_muted(on: bool) -> bool {
    let (was, now) = MUTED.with(|m| {
        let was = m.get();
        m.set(if on { was | STUB_WORK } else { was & !STUB_WORK });
        (was, m.get())
    });
    // Called from Python, never while this thread records, so the slot is free to update.
    let _ = LOCAL.try_with(|cell| {
        if let Ok(mut local) = cell.try_borrow_mut() {
            if let Some(local) = local.as_mut() {
                local.muted = now;
            }
        }
    });
    was & STUB_WORK != 0
}

/// The id `threading.get_ident()` returns for this thread (CPython uses `pthread_self`).
#[inline]
pub fn thread_ident() -> u64 {
    // SAFETY: pthread_self cannot fail and has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// `threading`'s name for the current thread, read without running any Python code (no property, no import),
/// so an instrumented `threading` cannot re-enter the recorder.
fn python_thread_name(py: Python<'_>, ident: u64) -> String {
    let lookup = || -> PyResult<String> {
        let modules = py.import("sys")?.getattr("modules")?;
        let threading = modules.get_item("threading")?;
        let thread = threading.getattr("_active")?.get_item(ident)?;
        thread.getattr("_name")?.extract()
    };
    lookup().unwrap_or_else(|_| format!("Thread-{ident}"))
}

/// Writes one record into the calling thread's buffer. Never fails: with no recorder, or after a write error,
/// the record is dropped.
#[inline]
pub fn record(py: Python<'_>, write: impl FnOnce(&mut BlockEncoder, u64)) {
    record_with(py, false, clock::monotonic_ns, write)
}

/// Like [`record`], stamped `now` (a [`clock::monotonic_ns`] the caller already read) instead of reading the
/// clock again.
#[inline]
pub fn record_at(py: Python<'_>, now: u64, write: impl FnOnce(&mut BlockEncoder, u64)) {
    record_with(py, false, move || now, write)
}

/// Like [`record`], then writes the thread's block, and the blocks the writer holds back, out at once: for
/// function definitions and update markers, which a killed process must not lose.
pub fn record_and_flush(py: Python<'_>, write: impl FnOnce(&mut BlockEncoder, u64)) {
    record_with(py, true, clock::monotonic_ns, write)
}

#[inline(always)]
fn record_with(py: Python<'_>, flush_now: bool, now: impl FnOnce() -> u64, write: impl FnOnce(&mut BlockEncoder, u64)) {
    let Some(rec) = current() else { return };
    if rec.is_stopped() {
        return;
    }
    // try_with: a thread being torn down has no thread-locals left; its record is dropped.
    let _ = LOCAL.try_with(|cell| {
        // Busy only if recording re-entered itself on this thread; dropping the inner record is the safe answer.
        let Ok(mut local) = cell.try_borrow_mut() else { return };
        let fresh = match local.as_ref() {
            Some(l) => !ptr::eq(l.owner, rec),
            None => true,
        };
        if fresh {
            let ident = thread_ident();
            let name = python_thread_name(py, ident);
            if name.starts_with(STUB_THREAD_PREFIX) {
                MUTED.with(|m| m.set(m.get() | STUB_THREAD));
            }
            let slot = rec.register(thread_serial(), ident, name);
            *local = Some(LocalSlot { owner: rec, slot, muted: MUTED.with(Cell::get) });
        }
        let Some(local) = local.as_ref() else { return };
        // The stub's own calls are dropped (function definitions and update markers, flushed at once, are not).
        if local.muted != 0 && !flush_now {
            return;
        }
        let mut encoder = lock(&local.slot.encoder);
        if encoder.is_empty() {
            // Every block names its thread, so a reader that lost earlier blocks still knows it.
            encoder.thread_name(&local.slot.name);
            encoder.thread_ident(local.slot.ident, local.slot.native_id);
        }
        write(&mut encoder, now());
        if flush_now {
            rec.write_out(&mut encoder);
            rec.write_pending();
        } else if encoder.is_full() {
            rec.write_out(&mut encoder);
        }
    });
}
