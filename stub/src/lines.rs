//! LP's line timer, native: hits and time of the chosen lines of the watched code objects, from a line's start
//! to the frame's next line event, return, yield or unwind, recorded straight into the thread's buffer (the
//! same `line` records the Python frame probes write).
//!
//! - ≥ 3.12: sys.monitoring calls `lines_on_line(code, line)`, `lines_on_return(code, offset, value)` (PY_RETURN
//!   and PY_YIELD, local events of the watched code objects only) and `lines_on_unwind(code, offset, exc)`
//!   (process-wide: dropped by one hash lookup for other code).
//! - ≤ 3.11: the watched function's trampoline calls `enter_lines(id)` / `exit_lines(id)` /
//!   `exit_raised_lines(id)` (a generator's `drive` also `suspend_lines(id)` / `resume_lines(id)` around each
//!   resumption), which install a C trace function (`PyEval_SetTrace`) on the calling thread for the outermost
//!   call, unless the thread is already traced by someone else. It answers line and return
//!   events of the watched code objects' frames; every other frame is dropped by a stack compare and a lookup.
//!
//! Each thread keeps the stack of watched frames it is running (frame and code address, the line and since
//! when); a frame is known by its address, and an entry whose frame ended unseen is dropped when an older frame
//! of the stack gets an event. Nothing here raises into the host: a panic disables the timer for good and is
//! reported once on stderr and by `lines_error()`.

use std::cell::RefCell;
use std::ffi::{c_int, c_long};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;

use crate::clock;
use crate::code_map::CodeMap;
use crate::probes::{add_defs, meth_fastcall, meth_o, meth_o_probe, none, record_enter, record_exit, MethodDef};
use crate::recorder::{record, record_at};

/// The chosen lines of one watched code object.
pub struct LineWatch {
    func_id: u32,
    every: bool,
    /// Sorted; unused when `every`.
    lines: Box<[u32]>,
}

impl LineWatch {
    #[inline(always)]
    fn times(&self, line: u32) -> bool {
        self.every || self.lines.binary_search(&line).is_ok()
    }
}

/// Boxed so a thread's running frame can point at its watch; the pointer is re-read after every change (see
/// [`EPOCH`]).
static LINE_CODES: CodeMap<Box<LineWatch>> = CodeMap::new();
/// Bumped at every change of [`LINE_CODES`]: a thread whose stack is of an older epoch looks its entries up
/// again (and drops those no longer watched) before it touches them.
static EPOCH: AtomicU64 = AtomicU64::new(1);
/// Set when a callback failed: every callback returns at once from then on.
static FAILED: AtomicBool = AtomicBool::new(false);
static FAILURE: OnceLock<String> = OnceLock::new();
/// Tests: the next line event fails as a bug would.
static FAIL_NEXT: AtomicBool = AtomicBool::new(false);
/// The object `sys.gettrace()` returns while our C tracer is installed (≤ 3.11): the `line_tracer` built-in.
static MARKER: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());

/// A watched frame this thread is running.
struct Running {
    frame: usize,
    code: usize,
    watch: *const LineWatch,
    /// The line it is on (0: none yet) and since when.
    line: u32,
    t: u64,
}

struct ThreadLines {
    epoch: u64,
    stack: Vec<Running>,
    /// ≤ 3.11: nesting of watched calls on this thread, and whether the outermost installed the tracer.
    depth: u32,
    installed: bool,
}

thread_local! {
    static THREAD: RefCell<ThreadLines> =
        const { RefCell::new(ThreadLines { epoch: 0, stack: Vec::new(), depth: 0, installed: false }) };
}

impl ThreadLines {
    /// Brings the stack up to date with the watched set (the GIL is held: nothing changes it meanwhile).
    #[inline(always)]
    fn refresh(&mut self) {
        let epoch = EPOCH.load(Ordering::Acquire);
        if self.epoch != epoch {
            self.stack.retain_mut(|r| {
                // SAFETY: the GIL is held and the map is not changed while the reference lives.
                match unsafe { LINE_CODES.get(r.code as *mut ffi::PyObject) } {
                    Some(watch) => {
                        r.watch = &**watch;
                        true
                    }
                    None => false,
                }
            });
            self.epoch = epoch;
        }
    }

    #[inline(always)]
    fn find(&self, frame: usize, code: usize) -> Option<usize> {
        self.stack.iter().rposition(|r| r.frame == frame && r.code == code)
    }
}

/// Records the line `r` was on, if it is a chosen one, as ended at `now`.
#[inline(always)]
fn close(py: Python<'_>, r: &Running, now: u64) {
    if r.line == 0 {
        return;
    }
    // SAFETY: `r.watch` was refreshed at the start of this event (`ThreadLines::refresh`) and the map does not
    // change while the GIL is held.
    let watch = unsafe { &*r.watch };
    if watch.times(r.line) {
        let (id, line, took) = (watch.func_id, r.line, now.saturating_sub(r.t));
        record_at(py, now, |enc, t| enc.line(id, line, took, t));
    }
}

/// `frame` (running `code`) starts `line`.
#[inline(always)]
fn line_event(py: Python<'_>, frame: usize, code: *mut ffi::PyObject, line: u32) {
    if FAIL_NEXT.load(Ordering::Relaxed) && FAIL_NEXT.swap(false, Ordering::Relaxed) {
        panic!("line timer failure requested by a test");
    }
    let _ = THREAD.try_with(|cell| {
        let Ok(mut st) = cell.try_borrow_mut() else { return };
        st.refresh();
        match st.find(frame, code as usize) {
            Some(at) => {
                let now = clock::monotonic_ns();
                // Frames above it ended unseen (their tracer was taken away meanwhile).
                st.stack.truncate(at + 1);
                let r = &mut st.stack[at];
                close(py, r, now);
                r.line = line;
                r.t = now;
            }
            None => {
                // SAFETY: the GIL is held and the map is not changed while the reference lives.
                let Some(watch) = (unsafe { LINE_CODES.get(code) }) else { return };
                let watch: *const LineWatch = &**watch;
                let now = clock::monotonic_ns();
                st.stack.push(Running { frame, code: code as usize, watch, line, t: now });
            }
        }
    });
}

/// `frame` (running `code`) returned, yielded or is unwound by an exception.
#[inline(always)]
fn end_event(py: Python<'_>, frame: usize, code: *mut ffi::PyObject) {
    let _ = THREAD.try_with(|cell| {
        let Ok(mut st) = cell.try_borrow_mut() else { return };
        st.refresh();
        if let Some(at) = st.find(frame, code as usize) {
            close(py, &st.stack[at], clock::monotonic_ns());
            st.stack.truncate(at);
        }
    });
}

/// Runs a callback's body; a panic turns the timer off for good and is reported once.
#[inline(always)]
fn guarded(body: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(body)) {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned());
        fail(why);
    }
}

#[cold]
fn fail(why: String) {
    if !FAILED.swap(true, Ordering::AcqRel) {
        let message = format!("the native line timer failed ({why}); LP records no more lines in this process");
        let _ = writeln!(std::io::stderr(), "pylu: {message}");
        let _ = FAILURE.set(message);
    }
}

// ------------------------------------------------------------------------------------- ≥ 3.12: sys.monitoring

/// The frame running the event's code: sys.monitoring calls its callbacks from the frame itself.
///
/// # Safety
/// The GIL is held.
#[inline(always)]
unsafe fn current_frame() -> Option<usize> {
    // SAFETY: the GIL is held; the result is borrowed and only used as an address.
    let frame = unsafe { ffi::PyEval_GetFrame() };
    if frame.is_null() {
        // SAFETY: the GIL is held; a failed frame object allocation leaves an error to clear.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    Some(frame as usize)
}

unsafe extern "C" fn lines_on_line(
    _module: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    if nargs >= 2 && !FAILED.load(Ordering::Relaxed) {
        guarded(|| {
            // SAFETY: CPython passes `nargs` valid borrowed arguments and holds the GIL.
            let (code, line) = unsafe { (*args, ffi::PyLong_AsLong(*args.add(1))) };
            if line <= 0 || line > c_long::from(i32::MAX) {
                // SAFETY: the GIL is held; a conversion error (never from CPython) is cleared.
                unsafe { ffi::PyErr_Clear() };
                return;
            }
            // SAFETY: the GIL is held.
            if let Some(frame) = unsafe { current_frame() } {
                // SAFETY: CPython holds the GIL while it runs a built-in.
                let py = unsafe { Python::assume_gil_acquired() };
                line_event(py, frame, code, line as u32);
            }
        });
    }
    none()
}

/// PY_RETURN and PY_YIELD (local events: the code is watched) and PY_UNWIND (every frame's: other code is
/// dropped before its frame is looked at).
unsafe extern "C" fn lines_on_end(
    _module: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    if nargs >= 1 && !FAILED.load(Ordering::Relaxed) {
        guarded(|| {
            // SAFETY: CPython passes `nargs` valid borrowed arguments and holds the GIL.
            let code = unsafe { *args };
            // SAFETY: the GIL is held; the reference is dropped at once.
            if unsafe { LINE_CODES.get(code) }.is_none() {
                return;
            }
            // SAFETY: the GIL is held.
            if let Some(frame) = unsafe { current_frame() } {
                // SAFETY: CPython holds the GIL while it runs a built-in.
                let py = unsafe { Python::assume_gil_acquired() };
                end_event(py, frame, code);
            }
        });
    }
    none()
}

// ------------------------------------------------------------------------------------------ ≤ 3.11: a C tracer

/// The `Py_tracefunc` installed by [`enter_lines`].
unsafe extern "C" fn tracer(
    _obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    _arg: *mut ffi::PyObject,
) -> c_int {
    if (what != ffi::PyTrace_LINE && what != ffi::PyTrace_RETURN) || frame.is_null() || FAILED.load(Ordering::Relaxed) {
        return 0;
    }
    // SAFETY: CPython calls the tracer with the GIL held and a valid frame; the code is a new reference.
    let code = unsafe { ffi::PyFrame_GetCode(frame) }.cast::<ffi::PyObject>();
    if code.is_null() {
        return 0;
    }
    // The tracer sees every frame the thread runs while a chosen call is open (the callees' lines too): those
    // of code not chosen end here, before the line number is looked up (a scan of the line table on 3.9). A
    // chosen frame is always in the map (the stack is refreshed against it), so nothing is lost.
    // SAFETY: CPython holds the GIL while it calls the tracer; the reference is dropped at once.
    if unsafe { LINE_CODES.get(code) }.is_none() {
        // SAFETY: the reference PyFrame_GetCode gave; the GIL is held.
        unsafe { ffi::Py_DecRef(code) };
        return 0;
    }
    guarded(|| {
        // SAFETY: CPython holds the GIL while it calls the tracer.
        let py = unsafe { Python::assume_gil_acquired() };
        if what == ffi::PyTrace_LINE {
            // SAFETY: as above.
            let line = unsafe { ffi::PyFrame_GetLineNumber(frame) };
            if line > 0 {
                line_event(py, frame as usize, code, line as u32);
            }
        } else {
            end_event(py, frame as usize, code);
        }
    });
    // SAFETY: the reference PyFrame_GetCode gave; the GIL is held.
    unsafe { ffi::Py_DecRef(code) };
    0
}

/// Whether the calling thread's tracer is `marker` (`Some(true)`), none (`Some(false)`) or someone else's
/// (`None`: also when it cannot be told).
///
/// # Safety
/// The GIL is held.
unsafe fn tracer_is(marker: *mut ffi::PyObject) -> Option<bool> {
    // SAFETY: the GIL is held; PySys_GetObject returns a borrowed reference or null, without an error set.
    let gettrace = unsafe { ffi::PySys_GetObject(c"gettrace".as_ptr()) };
    if gettrace.is_null() {
        return None;
    }
    // SAFETY: the GIL is held and `gettrace` is a valid object; the result is a new reference.
    let current = unsafe { ffi::PyObject_CallNoArgs(gettrace) };
    if current.is_null() {
        // SAFETY: the GIL is held.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    // SAFETY: Py_None is a valid static object.
    let answer = if current == unsafe { ffi::Py_None() } {
        Some(false)
    } else if current == marker {
        Some(true)
    } else {
        None
    };
    // SAFETY: the reference the call returned; the GIL is held.
    unsafe { ffi::Py_DecRef(current) };
    answer
}

fn enter_traced(py: Python<'_>, id: u32) {
    record_enter(py, id);
    start_tracing();
}

/// Puts the tracer on the calling thread for the outermost watched frame running on it (a call, or a
/// generator's resumption on ≤ 3.11: its frame runs only between `resume_lines` and `suspend_lines`).
fn start_tracing() {
    if FAILED.load(Ordering::Relaxed) {
        return;
    }
    guarded(|| {
        let _ = THREAD.try_with(|cell| {
            let Ok(mut st) = cell.try_borrow_mut() else { return };
            st.depth += 1;
            if st.depth > 1 {
                return;
            }
            let marker = MARKER.load(Ordering::Relaxed);
            // SAFETY: CPython holds the GIL while it runs a built-in (our caller).
            st.installed = !marker.is_null() && unsafe { tracer_is(marker) } == Some(false);
            if st.installed {
                // Entries left by frames whose ends were not seen (a tracer replaced meanwhile) go now.
                st.stack.clear();
                // SAFETY: the GIL is held; `marker` is a leaked strong reference, valid for ever; the tracer
                // is a valid Py_tracefunc.
                unsafe { ffi::PyEval_SetTrace(Some(tracer), marker) };
            }
        });
    });
}

fn leave_traced() {
    guarded(|| {
        let _ = THREAD.try_with(|cell| {
            let Ok(mut st) = cell.try_borrow_mut() else { return };
            st.depth = st.depth.saturating_sub(1);
            if st.depth > 0 || !st.installed {
                return;
            }
            st.installed = false;
            let marker = MARKER.load(Ordering::Relaxed);
            // SAFETY: CPython holds the GIL while it runs a built-in (our caller). Only our own tracer is taken
            // off: one the function installed meanwhile stays.
            if unsafe { tracer_is(marker) } == Some(true) {
                // SAFETY: the GIL is held.
                unsafe { ffi::PyEval_SetTrace(None, ptr::null_mut()) };
            }
        });
    });
}

/// The Python frame probes (≤ 3.11) took the thread's tracer for a call nested in a timed one and gave it back:
/// the C tracer goes on again if the timed call is still running.
#[pyfunction]
pub fn resume_line_tracer(_py: Python<'_>) {
    if FAILED.load(Ordering::Relaxed) {
        return;
    }
    guarded(|| {
        let _ = THREAD.try_with(|cell| {
            let Ok(st) = cell.try_borrow() else { return };
            let marker = MARKER.load(Ordering::Relaxed);
            // SAFETY: the GIL is held (the `Python` token proves it).
            if st.depth > 0 && st.installed && unsafe { tracer_is(marker) } == Some(false) {
                // SAFETY: as in `enter_traced`.
                unsafe { ffi::PyEval_SetTrace(Some(tracer), marker) };
            }
        });
    });
}

meth_o_probe!(enter_lines, |py, id| enter_traced(py, id));
meth_o_probe!(exit_lines, |py, id| {
    leave_traced();
    record_exit(py, id, false)
});
meth_o_probe!(exit_raised_lines, |py, id| {
    leave_traced();
    record_exit(py, id, true)
});
meth_o_probe!(resume_lines, |py, id| {
    record(py, |enc, t| enc.resume(id, t));
    start_tracing()
});
meth_o_probe!(suspend_lines, |py, id| {
    leave_traced();
    record(py, |enc, t| enc.suspend(id, t))
});

/// What `sys.gettrace()` shows while the tracer is on; called as a Python tracer (someone saved and restored
/// it with `sys.settrace`) it does nothing.
unsafe extern "C" fn line_tracer(
    _module: *mut ffi::PyObject,
    _args: *mut *mut ffi::PyObject,
    _nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    none()
}

static ENTRIES: [MethodDef; 8] = [
    meth_fastcall(c"lines_on_line", lines_on_line),
    meth_fastcall(c"lines_on_end", lines_on_end),
    meth_o(c"enter_lines", c"enter_lines(func_id, /)\n--\n\nRecords a call's entry and times its lines.", enter_lines),
    meth_o(c"exit_lines", c"exit_lines(func_id, /)\n--\n\nRecords a call's return.", exit_lines),
    meth_o(
        c"exit_raised_lines",
        c"exit_raised_lines(func_id, /)\n--\n\nRecords a call's exit by an exception.",
        exit_raised_lines,
    ),
    meth_o(
        c"resume_lines",
        c"resume_lines(func_id, /)\n--\n\nRecords a generator resumed and times its lines until it suspends.",
        resume_lines,
    ),
    meth_o(c"suspend_lines", c"suspend_lines(func_id, /)\n--\n\nRecords a generator suspended.", suspend_lines),
    meth_fastcall(c"line_tracer", line_tracer),
];

/// Adds the callbacks and entries to the module.
pub fn add_to(module: &Bound<'_, PyModule>) -> PyResult<()> {
    add_defs(module, &ENTRIES)?;
    let marker = module.getattr("line_tracer")?;
    // Leaked on purpose: the tracer's object must outlive every thread that may still have it installed.
    MARKER.store(marker.into_ptr(), Ordering::Relaxed);
    Ok(())
}

// ----------------------------------------------------------------------------------------------- control side

/// Times `lines` of `code` (every line when None) as function `func_id` from now on.
#[pyfunction]
#[pyo3(signature = (code, func_id, lines = None))]
pub fn watch_lines(py: Python<'_>, code: &Bound<'_, PyAny>, func_id: u32, lines: Option<Vec<u32>>) {
    let every = lines.is_none();
    let mut lines = lines.unwrap_or_default();
    lines.sort_unstable();
    lines.dedup();
    LINE_CODES.insert(py, code, Box::new(LineWatch { func_id, every, lines: lines.into_boxed_slice() }));
    EPOCH.fetch_add(1, Ordering::AcqRel);
}

/// Stops timing the lines of `code` (a line running now is not recorded).
#[pyfunction]
pub fn unwatch_lines(py: Python<'_>, code: &Bound<'_, PyAny>) {
    if LINE_CODES.remove(py, code) {
        EPOCH.fetch_add(1, Ordering::AcqRel);
    }
}

/// Why the native line timer stopped, or None while it works.
#[pyfunction]
pub fn lines_error() -> Option<String> {
    FAILURE.get().cloned()
}

/// Tests only: the next line event fails as a bug in the timer would (it must stop itself, not the host).
#[pyfunction]
pub fn fail_next_line_for_test() {
    FAIL_NEXT.store(true, Ordering::Relaxed);
}
