//! What instrumented code calls on Python ≤ 3.11: the trampolines swapped into `__code__` call these around
//! the original body. Each returns None and never raises, whatever happens to the recorder.

use pyo3::prelude::*;

use crate::echo::{self, CallEdge};
use crate::recorder::record;

#[pyfunction]
pub fn enter(py: Python<'_>, func_id: u32) {
    echo::maybe(func_id, CallEdge::Enter);
    record(py, |enc, t| enc.enter(func_id, t));
}

#[pyfunction]
pub fn exit(py: Python<'_>, func_id: u32) {
    record(py, |enc, t| enc.exit(func_id, t, false));
    echo::maybe(func_id, CallEdge::Exit);
}

#[pyfunction]
pub fn exit_raised(py: Python<'_>, func_id: u32) {
    record(py, |enc, t| enc.exit(func_id, t, true));
    echo::maybe(func_id, CallEdge::Raised);
}

#[pyfunction]
pub fn suspend(py: Python<'_>, func_id: u32) {
    record(py, |enc, t| enc.suspend(func_id, t));
}

#[pyfunction]
pub fn resume(py: Python<'_>, func_id: u32) {
    record(py, |enc, t| enc.resume(func_id, t));
}
