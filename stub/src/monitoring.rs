//! sys.monitoring (PEP 669, Python ≥ 3.12): which code objects' events are ours. The callbacks themselves are
//! in [`crate::probes`]; PY_UNWIND and PY_THROW can only be enabled globally, so they fire for every frame in
//! the process and the callback drops other code's events with one hash lookup.

use pyo3::prelude::*;

use crate::probes::{Watched, CODE_IDS};

/// Events of `code` are recorded as `func_id` from now on. `start_offset`: for a generator or coroutine, the
/// offset of its first RESUME (see [`Watched`]); 0 otherwise.
#[pyfunction]
#[pyo3(signature = (code, func_id, start_offset = 0))]
pub fn watch_code(py: Python<'_>, code: &Bound<'_, PyAny>, func_id: u32, start_offset: u32) {
    CODE_IDS.insert(py, code, Watched { func_id, start_offset });
}

/// Events of `code` are ignored from now on (an event already on its way is dropped).
#[pyfunction]
pub fn unwatch_code(py: Python<'_>, code: &Bound<'_, PyAny>) {
    CODE_IDS.remove(py, code);
}
