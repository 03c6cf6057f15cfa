//! Why an analysis could not run. Damage inside readable inputs is not an error: it is reported in
//! [`crate::Analysis::damage`] and the rest of the input still counts.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    // Not a `source` field: the message already says it, and `{:#}` would print it twice.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("no input given, and neither /tmp/pyliveupdate/<uid>/ nor /tmp/pyliveupdate.log exists")]
    NoDefaultInput,
    #[error("{pattern}: bad glob pattern: {what}")]
    BadGlob { pattern: String, what: &'static str },
    #[error("{pattern}: no file matches")]
    NoMatch { pattern: String },
    #[error("no readable trace or log among the inputs")]
    NothingReadable,
    /// The only input is neither a trace nor a text log; `what` says what it is, if known (gzip, empty, …).
    #[error("{path}: {what}")]
    NotATrace { path: PathBuf, what: &'static str },
    #[error("bad time {text:?}: expected epoch seconds or YYYY-MM-DD[ T]HH:MM:SS[.fff] (UTC)")]
    BadTime { text: String },
    #[error("{path}: is one of the inputs; not overwritten (write the report elsewhere)")]
    OutputIsInput { path: PathBuf },
    #[error("{what}: no calls in the input")]
    NoCalls { what: String },
    #[error("bad regex {text:?}: {what}")]
    BadRegex { text: String, what: String },
}
