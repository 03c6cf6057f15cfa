//! sys.monitoring (PEP 669, Python ≥ 3.12): which code objects' events are ours. The callbacks themselves are
//! in [`crate::probes`]; PY_UNWIND and PY_THROW can only be enabled globally, so they fire for every frame in
//! the process and the callback drops other code's events with one hash lookup.

use pyo3::prelude::*;

use crate::probes::{Watched, CODE_IDS};
use crate::started;

/// Events of `code` are recorded as `func_id` from now on. `suspendable`: a generator's or coroutine's code,
/// whose frames are recorded only from a start seen from now on (see [`crate::started`]).
#[pyfunction]
#[pyo3(signature = (code, func_id, suspendable = false))]
pub fn watch_code(py: Python<'_>, code: &Bound<'_, PyAny>, func_id: u32, suspendable: bool) {
    CODE_IDS.insert(py, code, Watched { func_id, suspendable });
}

/// Events of `code` are ignored from now on (an event already on its way is dropped).
#[pyfunction]
pub fn unwatch_code(py: Python<'_>, code: &Bound<'_, PyAny>) {
    CODE_IDS.remove(py, code);
    started::forget_code(py, code);
}
