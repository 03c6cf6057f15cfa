//! The hot path: what instrumented code calls once per event. Written against the C API directly (METH_O and
//! METH_FASTCALL built-ins) because pyo3's generic argument parsing costs more than the record itself; each
//! probe is a few nanoseconds of call overhead, a clock read and a few bytes into the thread's buffer.
//!
//! - ≤ 3.11: the trampolines swapped into `__code__` call `enter(id)`, `exit(id)`, `exit_raised(id)`,
//!   `suspend(id)`, `resume(id)` around the original body (METH_O, the id as the one argument).
//! - ≥ 3.12: sys.monitoring calls `on_py_*(code, offset[, value])` (METH_FASTCALL); the function id is looked
//!   up from the code object's address.
//!
//! Every probe returns None and never raises, whatever happens to the recorder.

use std::ffi::{c_int, CStr};
use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;

use crate::code_map::CodeMap;
use crate::echo::{self, CallEdge};
use crate::recorder::record;
use crate::started;

/// What the sys.monitoring callbacks know of a watched code object.
#[derive(Clone, Copy)]
pub struct Watched {
    pub func_id: u32,
    /// A generator's, coroutine's or async generator's code: its frames' events are recorded only from a start
    /// seen while watched ([`crate::started`]).
    pub suspendable: bool,
}

/// Code object address → what is watched of it, for the sys.monitoring callbacks.
pub static CODE_IDS: CodeMap<Watched> = CodeMap::new();

#[inline(always)]
pub(crate) fn none() -> *mut ffi::PyObject {
    // SAFETY: Py_None is a valid static object; the caller gets the new reference it expects from a built-in.
    unsafe {
        let none = ffi::Py_None();
        ffi::Py_IncRef(none);
        none
    }
}

/// The function id passed to a METH_O probe; a bad argument (never produced by our trampolines) is ignored.
#[inline(always)]
///
/// # Safety
/// The caller holds the GIL and `arg` is a valid (borrowed) object.
pub(crate) unsafe fn func_id_arg(arg: *mut ffi::PyObject) -> Option<u32> {
    // SAFETY: per this function's contract: the GIL is held and `arg` is valid.
    let v = unsafe { ffi::PyLong_AsUnsignedLong(arg) };
    // SAFETY: the GIL is held; checking and clearing the error indicator is all that is done.
    if v == std::ffi::c_ulong::MAX && unsafe { !ffi::PyErr_Occurred().is_null() } {
        // SAFETY: as above.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    u32::try_from(v).ok()
}

/// A METH_O built-in taking a function id (the trampolines' probes, and the line timer's entries in lines.rs).
macro_rules! meth_o_probe {
    ($name:ident, |$py:ident, $id:ident| $body:expr) => {
        unsafe extern "C" fn $name(
            _module: *mut pyo3::ffi::PyObject,
            arg: *mut pyo3::ffi::PyObject,
        ) -> *mut pyo3::ffi::PyObject {
            // SAFETY: CPython calls built-ins with the GIL held and a valid borrowed argument.
            if let Some($id) = unsafe { $crate::probes::func_id_arg(arg) } {
                // SAFETY: CPython holds the GIL while it runs a built-in.
                let $py = unsafe { pyo3::Python::assume_gil_acquired() };
                $body;
            }
            $crate::probes::none()
        }
    };
}
pub(crate) use meth_o_probe;

/// A call of `id` starts (trampolines, and the line timer's entry on ≤ 3.11).
#[inline(always)]
pub(crate) fn record_enter(py: Python<'_>, id: u32) {
    echo::maybe(id, CallEdge::Enter);
    record(py, |enc, t| enc.enter(id, t))
}

/// A call of `id` ends, by return or (`raised`) by an exception.
#[inline(always)]
pub(crate) fn record_exit(py: Python<'_>, id: u32, raised: bool) {
    record(py, |enc, t| enc.exit(id, t, raised));
    echo::maybe(id, if raised { CallEdge::Raised } else { CallEdge::Exit })
}

meth_o_probe!(enter, |py, id| record_enter(py, id));
meth_o_probe!(exit, |py, id| record_exit(py, id, false));
meth_o_probe!(exit_raised, |py, id| record_exit(py, id, true));
meth_o_probe!(suspend, |py, id| record(py, |enc, t| enc.suspend(id, t)));
meth_o_probe!(resume, |py, id| record(py, |enc, t| enc.resume(id, t)));

/// Which part of a frame's life a sys.monitoring event is (what [`crate::started`] checks for a generator or
/// coroutine).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Start,
    Middle,
    End,
}

macro_rules! monitoring_probe {
    ($name:ident, $step:expr, |$py:ident, $id:ident| $body:expr) => {
        unsafe extern "C" fn $name(
            _module: *mut ffi::PyObject,
            args: *mut *mut ffi::PyObject,
            nargs: ffi::Py_ssize_t,
        ) -> *mut ffi::PyObject {
            if nargs >= 1 {
                // SAFETY: CPython passes `nargs` valid borrowed arguments and holds the GIL.
                let (code, found) = unsafe { (*args, CODE_IDS.get(*args).copied()) };
                if let Some(watched) = found {
                    // SAFETY: CPython holds the GIL while it runs a built-in.
                    let $py = unsafe { Python::assume_gil_acquired() };
                    if !watched.suspendable || ours($py, $step, code) {
                        let $id = watched.func_id;
                        $body;
                    }
                }
            }
            none()
        }
    };
}

/// Whether this event of a generator's or coroutine's frame is recorded: only for frames whose start was
/// seen while watched. Frames already running when their code was watched, and frames thrown into or closed
/// before they started (no invocation: their body never ran), record nothing, as on ≤ 3.11.
#[inline(always)]
fn ours(py: Python<'_>, step: Step, code: *mut ffi::PyObject) -> bool {
    match step {
        Step::Start => {
            started::start(py, code);
            true
        }
        Step::Middle => started::running(py),
        Step::End => started::end(py),
    }
}

monitoring_probe!(on_py_start, Step::Start, |py, id| record_enter(py, id));
monitoring_probe!(on_py_resume, Step::Middle, |py, id| record(py, |enc, t| enc.resume(id, t)));
// PY_THROW: an exception thrown into a suspended generator or coroutine; its frame runs again.
monitoring_probe!(on_py_throw, Step::Middle, |py, id| record(py, |enc, t| enc.resume(id, t)));
monitoring_probe!(on_py_yield, Step::Middle, |py, id| record(py, |enc, t| enc.suspend(id, t)));
monitoring_probe!(on_py_return, Step::End, |py, id| record_exit(py, id, false));
monitoring_probe!(on_py_unwind, Step::End, |py, id| record_exit(py, id, true));

/// A `PyMethodDef` that may live in a static (it holds only pointers to static data).
pub(crate) struct MethodDef(ffi::PyMethodDef);

// SAFETY: the definitions are immutable and point at 'static names and functions.
unsafe impl Sync for MethodDef {}

/// `doc` starts with the text signature (`name(func_id, /)\n--\n\n`): without one, Python 3.13 makes up
/// `(self, object, /)` for a METH_O built-in, and `_native.pyi` (checked by stubtest) could not describe it.
pub(crate) const fn meth_o(name: &'static CStr, doc: &'static CStr, f: ffi::PyCFunction) -> MethodDef {
    MethodDef(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: f },
        ml_flags: ffi::METH_O,
        ml_doc: doc.as_ptr(),
    })
}

pub(crate) const fn meth_fastcall(name: &'static CStr, f: ffi::PyCFunctionFast) -> MethodDef {
    MethodDef(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunctionFast: f },
        ml_flags: ffi::METH_FASTCALL as c_int,
        ml_doc: ptr::null(),
    })
}

static PROBES: [MethodDef; 11] = [
    meth_o(c"enter", c"enter(func_id, /)\n--\n\nRecords a call's entry.", enter),
    meth_o(c"exit", c"exit(func_id, /)\n--\n\nRecords a call's return.", exit),
    meth_o(c"exit_raised", c"exit_raised(func_id, /)\n--\n\nRecords a call's exit by an exception.", exit_raised),
    meth_o(c"suspend", c"suspend(func_id, /)\n--\n\nRecords a generator or coroutine suspended.", suspend),
    meth_o(c"resume", c"resume(func_id, /)\n--\n\nRecords a generator or coroutine resumed.", resume),
    meth_fastcall(c"on_py_start", on_py_start),
    meth_fastcall(c"on_py_resume", on_py_resume),
    meth_fastcall(c"on_py_throw", on_py_throw),
    meth_fastcall(c"on_py_yield", on_py_yield),
    meth_fastcall(c"on_py_return", on_py_return),
    meth_fastcall(c"on_py_unwind", on_py_unwind),
];

/// Adds the probes to the module as built-in functions.
pub fn add_to(module: &Bound<'_, PyModule>) -> PyResult<()> {
    add_defs(module, &PROBES)
}

/// Adds each of `defs` to the module as a built-in function.
pub(crate) fn add_defs(module: &Bound<'_, PyModule>, defs: &'static [MethodDef]) -> PyResult<()> {
    let py = module.py();
    for def in defs {
        // SAFETY: `def` is a valid, 'static method definition; a null `self` and module name are allowed.
        let func = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyCFunction_NewEx(&def.0 as *const _ as *mut _, ptr::null_mut(), ptr::null_mut()),
            )?
        };
        // SAFETY: ml_name points at a 'static NUL-terminated name.
        let name = unsafe { CStr::from_ptr(def.0.ml_name) }.to_str().unwrap_or("probe");
        module.add(name, func)?;
    }
    Ok(())
}
