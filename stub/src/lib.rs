//! `pyliveupdate._native`: the stub's native core. The recorder (per-thread buffers → one trace file per
//! process), the probes instrumented code calls (≤ 3.11) or the sys.monitoring callbacks (≥ 3.12), LP's line
//! timer, function ids, and a trace reader for tests. Everything Python-facing that may be called from a host's thread is
//! infallible; only control-side calls (opening the file, reading a trace) raise.

mod clock;
mod code_map;
mod echo;
mod errors;
mod functions;
mod lines;
mod monitoring;
mod probes;
mod recorder;
mod started;
mod trace_dump;

use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::sync::Once;

use pylu_formats::{DebugKind, UpdateAction};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Makes the open file descriptor `fd` (a new, empty file the caller created exclusively in a verified
/// directory; named `path` in messages) this process's trace file, and returns `path`. The recorder owns `fd`
/// from here on, failure included: the caller must not close it. Function definitions interned so far are
/// written to it (a forked child's new file needs them).
#[pyfunction]
fn open_trace(py: Python<'_>, fd: RawFd, path: PathBuf, python_version: &str, argv: Vec<String>) -> PyResult<PathBuf> {
    if fd < 0 {
        return Err(PyValueError::new_err("open_trace needs an open file descriptor"));
    }
    // SAFETY: by this function's contract the caller hands `fd` over (it created it for us and never closes
    // it), so the File is its only owner.
    let file = unsafe { File::from_raw_fd(fd) };
    let rec = recorder::open(file, path, python_version, &argv)?;
    functions::announce_all(py);
    Ok(rec.path().to_path_buf())
}

/// The current trace file, or None when not recording (not started, or just forked and not re-opened).
#[pyfunction]
fn trace_path() -> Option<PathBuf> {
    recorder::current().map(|r| r.path().to_path_buf())
}

/// Whether a write failed and recording stopped.
#[pyfunction]
fn recording_stopped() -> bool {
    recorder::current().map(|r| r.is_stopped()).unwrap_or(false)
}

/// Why recording stopped (`cannot write PATH: ERROR`), or None while it works or was never started.
#[pyfunction]
fn recording_error() -> Option<String> {
    recorder::current().and_then(|r| r.error().map(str::to_owned))
}

/// Writes every thread's pending records to the file (called at revert and at exit).
#[pyfunction]
fn flush() {
    if let Some(rec) = recorder::current() {
        rec.flush_all();
    }
}

/// The process-global id of a function, writing its definition to the trace the first time.
#[pyfunction]
fn intern_function(py: Python<'_>, qualname: &str, module: &str, file: &str, first_line: u32) -> u32 {
    functions::intern(py, qualname, module, file, first_line)
}

/// Writes an update marker (and flushes it at once).
#[pyfunction]
fn update_marker(py: Python<'_>, update_id: u32, applied: bool, description: &str) {
    let action = if applied { UpdateAction::Applied } else { UpdateAction::Reverted };
    recorder::record_and_flush(py, |enc, t| enc.update(update_id, action, description, t));
}

/// Records one execution of line `line` of `func_id` that took `duration_ns` and ended now (LineProfiler).
/// Never raises: with no recorder the record is dropped.
#[pyfunction]
fn record_line(py: Python<'_>, func_id: u32, line: u32, duration_ns: u64) {
    recorder::record(py, |enc, t| enc.line(func_id, line, duration_ns, t));
}

/// Records one debugger value (`kind`: 0 parameters, 1 return value, 2 used, 3 defined, 4 variable; an
/// unknown kind is recorded as 4). `value` is the `repr` text the caller already cut to its configured length.
#[pyfunction]
fn record_debug(py: Python<'_>, func_id: u32, line: u32, kind: u8, name: &str, value: &str) {
    let kind = DebugKind::from_u8(kind).unwrap_or(DebugKind::Variable);
    recorder::record(py, |enc, t| enc.debug(func_id, line, kind, name, value, t));
}

/// Turns the per-call echo to stderr on or off for one function id.
#[pyfunction]
fn set_echo(func_id: u32, on: bool) {
    echo::set(func_id, on);
}

/// Marks the calling thread as doing the stub's own work (its calls into profiled code are not recorded) or
/// not; returns whether it was. Function definitions and update markers are recorded either way.
#[pyfunction]
fn mute_thread(on: bool) -> bool {
    recorder::set_muted(on)
}

/// The monotonic clock the records use, in ns (for benchmarks and tests).
#[pyfunction]
fn monotonic_ns() -> u64 {
    clock::monotonic_ns()
}

extern "C" fn forget_recorder_in_child() {
    recorder::forget_after_fork();
}

static AT_FORK: Once = Once::new();

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    AT_FORK.call_once(|| {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe as a forked child requires.
        unsafe { libc::pthread_atfork(None, None, Some(forget_recorder_in_child)) };
    });
    m.add_function(wrap_pyfunction!(open_trace, m)?)?;
    m.add_function(wrap_pyfunction!(trace_path, m)?)?;
    m.add_function(wrap_pyfunction!(recording_stopped, m)?)?;
    m.add_function(wrap_pyfunction!(recording_error, m)?)?;
    m.add_function(wrap_pyfunction!(flush, m)?)?;
    m.add_function(wrap_pyfunction!(intern_function, m)?)?;
    m.add_function(wrap_pyfunction!(update_marker, m)?)?;
    m.add_function(wrap_pyfunction!(set_echo, m)?)?;
    m.add_function(wrap_pyfunction!(record_line, m)?)?;
    m.add_function(wrap_pyfunction!(record_debug, m)?)?;
    m.add_function(wrap_pyfunction!(mute_thread, m)?)?;
    m.add_function(wrap_pyfunction!(monotonic_ns, m)?)?;
    m.add_function(wrap_pyfunction!(monitoring::watch_code, m)?)?;
    m.add_function(wrap_pyfunction!(monitoring::unwatch_code, m)?)?;
    m.add_function(wrap_pyfunction!(trace_dump::read_trace, m)?)?;
    m.add_function(wrap_pyfunction!(lines::watch_lines, m)?)?;
    m.add_function(wrap_pyfunction!(lines::unwatch_lines, m)?)?;
    m.add_function(wrap_pyfunction!(lines::lines_error, m)?)?;
    m.add_function(wrap_pyfunction!(lines::resume_line_tracer, m)?)?;
    m.add_function(wrap_pyfunction!(lines::fail_next_line_for_test, m)?)?;
    probes::add_to(m)?;
    lines::add_to(m)?;
    Ok(())
}
