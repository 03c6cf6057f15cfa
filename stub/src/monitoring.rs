//! sys.monitoring (PEP 669, Python ≥ 3.12): which code objects' events are ours. The callbacks themselves are
//! in [`crate::probes`]; PY_UNWIND and PY_THROW can only be enabled globally, so they fire for every frame in
//! the process and the callback drops other code's events with one hash lookup.

use pyo3::prelude::*;

use crate::probes::CODE_IDS;

/// Events of `code` are recorded as `func_id` from now on.
#[pyfunction]
pub fn watch_code(py: Python<'_>, code: &Bound<'_, PyAny>, func_id: u32) {
    CODE_IDS.insert(py, code, func_id);
}

/// Events of `code` are ignored from now on (an event already on its way is dropped).
#[pyfunction]
pub fn unwatch_code(py: Python<'_>, code: &Bound<'_, PyAny>) {
    CODE_IDS.remove(py, code);
}
