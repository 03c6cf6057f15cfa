//! ≥ 3.12: the generator and coroutine frames whose start (PY_START) the call probes saw while their code was
//! watched. sys.monitoring also reports the resumes, yields and ends of frames that were already running when
//! their code became watched (a generator or an asyncio worker started before `FP.profile`); on ≤ 3.11 such a
//! frame runs the original code and records nothing, so here its events are dropped too: an invocation is
//! recorded from its `enter` or not at all, never as a `resume` the analyzer could not match.
//!
//! Keyed by the address of the frame object (`PyEval_GetFrame`: a generator keeps the same one for its whole
//! life once made). Each entry holds a strong reference to it, so the address cannot be reused by another frame
//! while it is a key. A generator closed without an event (3.12+ closes one suspended outside any `try` without
//! running its frame) leaves its entry behind: entries only the map still holds are swept when the map has
//! doubled since the last sweep, and every entry of a code object goes when the code is unwatched.
//! Guarded by the GIL, as [`crate::code_map`] is.

use std::cell::UnsafeCell;

use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::{FxBuildHasher, FxHashMap};

struct Frames {
    /// frame object (a strong reference) → its code object's address
    started: FxHashMap<usize, usize>,
    sweep_at: usize,
}

struct StartedFrames(UnsafeCell<Frames>);

// SAFETY: every access happens with the GIL held, which serialises them; the frame references are only taken
// and released with the GIL held.
unsafe impl Sync for StartedFrames {}

const FIRST_SWEEP: usize = 1024;

static STARTED: StartedFrames =
    StartedFrames(UnsafeCell::new(Frames { started: FxHashMap::with_hasher(FxBuildHasher), sweep_at: FIRST_SWEEP }));

/// The frame running the event's code (sys.monitoring calls its callbacks from the frame itself), or null.
///
/// # Safety
/// The GIL is held.
#[inline(always)]
unsafe fn current_frame() -> *mut ffi::PyObject {
    // SAFETY: the GIL is held; the result is borrowed.
    let frame = unsafe { ffi::PyEval_GetFrame() };
    if frame.is_null() {
        // SAFETY: the GIL is held; a failed frame object allocation leaves an error to clear.
        unsafe { ffi::PyErr_Clear() };
    }
    frame.cast()
}

fn frames(_py: Python<'_>) -> &'static mut Frames {
    // SAFETY: the GIL is held (the token proves it) and no caller keeps the reference across Python code.
    unsafe { &mut *STARTED.0.get() }
}

/// The current frame of `code` starts: its later events are recorded.
pub fn start(py: Python<'_>, code: *mut ffi::PyObject) {
    // SAFETY: callbacks run with the GIL held.
    let frame = unsafe { current_frame() };
    if frame.is_null() {
        return;
    }
    let frames = frames(py);
    if frames.started.insert(frame as usize, code as usize).is_none() {
        // SAFETY: `frame` is a valid object and the GIL is held; the reference is released when the entry goes.
        unsafe { ffi::Py_IncRef(frame) };
    }
    if frames.started.len() >= frames.sweep_at {
        // SAFETY: each key is a frame object we hold a reference to; the GIL is held.
        let gone = take_where(frames, |frame, _| unsafe { ffi::Py_REFCNT(frame as *mut ffi::PyObject) } <= 1);
        frames.sweep_at = (frames.started.len() * 2).max(FIRST_SWEEP);
        release(gone);
    }
}

/// Whether the current frame's start was seen (its resume, yield or throw is recorded).
pub fn running(py: Python<'_>) -> bool {
    // SAFETY: callbacks run with the GIL held.
    let frame = unsafe { current_frame() };
    !frame.is_null() && frames(py).started.contains_key(&(frame as usize))
}

/// The current frame ends; returns whether its start was seen (its exit is recorded).
pub fn end(py: Python<'_>) -> bool {
    // SAFETY: callbacks run with the GIL held.
    let frame = unsafe { current_frame() };
    if frame.is_null() || frames(py).started.remove(&(frame as usize)).is_none() {
        return false;
    }
    // SAFETY: the reference taken in `start`; the frame is still running, so this is never the last one.
    unsafe { ffi::Py_DecRef(frame) };
    true
}

/// `code` is no longer watched: its frames' entries go (re-watched later, a frame started before is not ours).
pub fn forget_code(py: Python<'_>, code: &Bound<'_, PyAny>) {
    let code = code.as_ptr() as usize;
    release(take_where(frames(py), |_, c| c == code));
}

/// Takes the entries `gone` says (frame, code) out of the map; their references are the caller's to release.
fn take_where(frames: &mut Frames, mut gone: impl FnMut(usize, usize) -> bool) -> Vec<usize> {
    let mut taken = Vec::new();
    frames.started.retain(|&frame, &mut code| {
        let out = gone(frame, code);
        if out {
            taken.push(frame);
        }
        !out
    });
    taken
}

/// Releases the references of frames taken out of the map. Called once nothing borrows the map: a frame's
/// deallocation may run Python code (finalizers) that re-enters the callbacks.
fn release(taken: Vec<usize>) {
    for frame in taken {
        // SAFETY: the reference taken in `start`, no longer in the map; the GIL is held by every caller.
        unsafe { ffi::Py_DecRef(frame as *mut ffi::PyObject) };
    }
}
