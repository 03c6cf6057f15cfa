//! Errors the native side reports to Python callers (never to the host's own calls: probes swallow everything).

use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::PyErr;

#[derive(Debug, thiserror::Error)]
/// What went wrong with a trace file.
pub enum StubError {
    #[error("cannot create trace file {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("cannot read trace file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a readable pylu trace: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

impl From<StubError> for PyErr {
    fn from(err: StubError) -> PyErr {
        match err {
            StubError::Malformed { .. } => PyValueError::new_err(err.to_string()),
            _ => PyOSError::new_err(err.to_string()),
        }
    }
}
