//! sys.monitoring (PEP 669, Python ≥ 3.12) callbacks. Python registers these native functions for its tool id;
//! each finds the function id of the code object the event fired in. PY_UNWIND and PY_THROW can only be
//! enabled globally, so they fire for every frame in the process and must cost little when the code is not ours.

use std::sync::{Mutex, RwLock};

use pyo3::prelude::*;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::echo::{self, CallEdge};
use crate::recorder::{lock, record};

/// Code object address → function id. Keyed by address, which stays unique because [`OWNED`] holds a
/// reference to every code object in here.
static IDS: RwLock<FxHashMap<usize, u32>> = RwLock::new(FxHashMap::with_hasher(FxBuildHasher));
static OWNED: Mutex<FxHashMap<usize, Py<PyAny>>> = Mutex::new(FxHashMap::with_hasher(FxBuildHasher));

#[inline(always)]
fn id_of(code: &Bound<'_, PyAny>) -> Option<u32> {
    let ids = IDS.read().ok()?;
    ids.get(&(code.as_ptr() as usize)).copied()
}

/// Events of `code` are recorded as `func_id` from now on.
#[pyfunction]
pub fn watch_code(code: &Bound<'_, PyAny>, func_id: u32) {
    let key = code.as_ptr() as usize;
    lock(&OWNED).insert(key, code.clone().unbind());
    IDS.write().unwrap_or_else(|p| p.into_inner()).insert(key, func_id);
}

/// Events of `code` are ignored from now on (an event already on its way is dropped).
#[pyfunction]
pub fn unwatch_code(code: &Bound<'_, PyAny>) {
    let key = code.as_ptr() as usize;
    IDS.write().unwrap_or_else(|p| p.into_inner()).remove(&key);
    lock(&OWNED).remove(&key);
}

#[pyfunction]
pub fn on_py_start(py: Python<'_>, code: &Bound<'_, PyAny>, _offset: &Bound<'_, PyAny>) {
    if let Some(id) = id_of(code) {
        echo::maybe(id, CallEdge::Enter);
        record(py, |enc, t| enc.enter(id, t));
    }
}

#[pyfunction]
pub fn on_py_resume(py: Python<'_>, code: &Bound<'_, PyAny>, _offset: &Bound<'_, PyAny>) {
    if let Some(id) = id_of(code) {
        record(py, |enc, t| enc.resume(id, t));
    }
}

/// PY_THROW: an exception thrown into a suspended generator or coroutine; its frame runs again.
#[pyfunction]
pub fn on_py_throw(py: Python<'_>, code: &Bound<'_, PyAny>, _offset: &Bound<'_, PyAny>, _exc: &Bound<'_, PyAny>) {
    if let Some(id) = id_of(code) {
        record(py, |enc, t| enc.resume(id, t));
    }
}

#[pyfunction]
pub fn on_py_yield(py: Python<'_>, code: &Bound<'_, PyAny>, _offset: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>) {
    if let Some(id) = id_of(code) {
        record(py, |enc, t| enc.suspend(id, t));
    }
}

#[pyfunction]
pub fn on_py_return(py: Python<'_>, code: &Bound<'_, PyAny>, _offset: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>) {
    if let Some(id) = id_of(code) {
        record(py, |enc, t| enc.exit(id, t, false));
        echo::maybe(id, CallEdge::Exit);
    }
}

#[pyfunction]
pub fn on_py_unwind(py: Python<'_>, code: &Bound<'_, PyAny>, _offset: &Bound<'_, PyAny>, _exc: &Bound<'_, PyAny>) {
    if let Some(id) = id_of(code) {
        record(py, |enc, t| enc.exit(id, t, true));
        echo::maybe(id, CallEdge::Raised);
    }
}
