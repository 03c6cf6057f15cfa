//! `read_trace(path)`: a trace decoded into plain Python values, so tests (and curious users) can check what
//! was recorded without the analyzer.

use std::path::PathBuf;

use pylu_formats::{EventKind, FuncRef, Trace, UpdateAction};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::errors::StubError;

fn func_id(func: FuncRef<'_>) -> i64 {
    match func {
        FuncRef::Id(id) => id as i64,
        FuncRef::Named { .. } => -1,
    }
}

/// Header fields, `blocks` (count), `errors` (damage found, as text) and `events`: tuples whose first item is
/// the kind, then the thread id, then kind-specific fields and (for timed records) the monotonic time in ns:
/// `("func_def", tid, id, qualname, module, file, first_line)`, `("thread_name", tid, name)`,
/// `("enter"|"exit"|"suspend"|"resume", tid, func_id, t)`, `("exit_raised", tid, func_id, t)`,
/// `("update", tid, update_id, "applied"|"reverted", description, t)`, `("line", tid, func_id, line,
/// duration_ns, t)`, `("debug", tid, func_id, line, kind, name, value, t)`.
#[pyfunction]
pub fn read_trace<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let bytes = std::fs::read(&path).map_err(|source| StubError::Read { path: path.clone(), source })?;
    let trace = Trace::parse(&bytes).map_err(|e| StubError::Malformed { path: path.clone(), reason: e.to_string() })?;
    let out = PyDict::new(py);
    out.set_item("pid", trace.header.pid)?;
    out.set_item("ppid", trace.header.ppid)?;
    out.set_item("python_version", &trace.header.python_version)?;
    out.set_item("argv", &trace.header.argv)?;
    let events = PyList::empty(py);
    let errors = PyList::empty(py);
    let mut blocks = 0usize;
    for block in trace.blocks() {
        let block = match block {
            Ok(b) => b,
            Err(e) => {
                errors.append(e.to_string())?;
                continue;
            }
        };
        blocks += 1;
        if let Err(e) = block.verify() {
            errors.append(e.to_string())?;
            continue;
        }
        let tid = block.thread_id;
        for record in block.records() {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    errors.append(e.to_string())?;
                    break;
                }
            };
            let t = record.time_ns;
            let item = match record.kind {
                EventKind::FuncDef(d) => PyTuple::new(
                    py,
                    [
                        "func_def".into_pyobject(py)?.into_any(),
                        tid.into_pyobject(py)?.into_any(),
                        d.id.into_pyobject(py)?.into_any(),
                        d.qualname.into_pyobject(py)?.into_any(),
                        d.module.into_pyobject(py)?.into_any(),
                        d.file.into_pyobject(py)?.into_any(),
                        d.first_line.into_pyobject(py)?.into_any(),
                    ],
                )?,
                EventKind::ThreadName(name) => PyTuple::new(
                    py,
                    [
                        "thread_name".into_pyobject(py)?.into_any(),
                        tid.into_pyobject(py)?.into_any(),
                        name.into_pyobject(py)?.into_any(),
                    ],
                )?,
                EventKind::ThreadIdent { ident, native_id } => PyTuple::new(
                    py,
                    [
                        "thread_ident".into_pyobject(py)?.into_any(),
                        tid.into_pyobject(py)?.into_any(),
                        ident.into_pyobject(py)?.into_any(),
                        native_id.into_pyobject(py)?.into_any(),
                    ],
                )?,
                EventKind::Enter(f) => timed(py, "enter", tid, func_id(f), t)?,
                EventKind::Exit { func, exception, .. } => {
                    timed(py, if exception { "exit_raised" } else { "exit" }, tid, func_id(func), t)?
                }
                EventKind::Suspend(f) => timed(py, "suspend", tid, func_id(f), t)?,
                EventKind::Resume(f) => timed(py, "resume", tid, func_id(f), t)?,
                EventKind::Update { id, action, description } => PyTuple::new(
                    py,
                    [
                        "update".into_pyobject(py)?.into_any(),
                        tid.into_pyobject(py)?.into_any(),
                        id.into_pyobject(py)?.into_any(),
                        match action {
                            UpdateAction::Applied => "applied",
                            UpdateAction::Reverted => "reverted",
                        }
                        .into_pyobject(py)?
                        .into_any(),
                        description.into_pyobject(py)?.into_any(),
                        t.into_pyobject(py)?.into_any(),
                    ],
                )?,
                EventKind::Line { func, line, duration_ns } => PyTuple::new(
                    py,
                    [
                        "line".into_pyobject(py)?.into_any(),
                        tid.into_pyobject(py)?.into_any(),
                        func_id(func).into_pyobject(py)?.into_any(),
                        line.into_pyobject(py)?.into_any(),
                        duration_ns.into_pyobject(py)?.into_any(),
                        t.into_pyobject(py)?.into_any(),
                    ],
                )?,
                EventKind::Debug { func, line, kind, name, value, .. } => PyTuple::new(
                    py,
                    [
                        "debug".into_pyobject(py)?.into_any(),
                        tid.into_pyobject(py)?.into_any(),
                        func_id(func).into_pyobject(py)?.into_any(),
                        line.into_pyobject(py)?.into_any(),
                        kind.as_str().into_pyobject(py)?.into_any(),
                        name.into_pyobject(py)?.into_any(),
                        value.into_pyobject(py)?.into_any(),
                        t.into_pyobject(py)?.into_any(),
                    ],
                )?,
            };
            events.append(item)?;
        }
    }
    out.set_item("blocks", blocks)?;
    out.set_item("errors", errors)?;
    out.set_item("events", events)?;
    Ok(out)
}

fn timed<'py>(py: Python<'py>, kind: &str, tid: u64, func: i64, t: u64) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(
        py,
        [
            kind.into_pyobject(py)?.into_any(),
            tid.into_pyobject(py)?.into_any(),
            func.into_pyobject(py)?.into_any(),
            t.into_pyobject(py)?.into_any(),
        ],
    )
}
