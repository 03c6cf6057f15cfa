//! Typed errors of the readers. Every error knows where in the input it happened.

use thiserror::Error;

/// A file that cannot be read as a whole (its header is unusable).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FileError {
    #[error("empty file")]
    Empty,
    #[error("not a pylu trace or pyliveupdate log (starts with {0:?})")]
    UnknownFormat(String),
    #[error("offset 0: file header truncated (expected {expected} bytes, have {have})")]
    HeaderTruncated { expected: usize, have: usize },
    #[error("offset {offset}: file header corrupt: {what}")]
    HeaderCorrupt { offset: u64, what: &'static str },
    #[error(
        "offset 8: trace format {major}.{minor} is not readable by this version (reads {}.x)",
        crate::FORMAT_MAJOR
    )]
    UnsupportedVersion { major: u16, minor: u16 },
}

/// A block that was skipped. Whole blocks before and after it still count.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("offset {offset}: {kind}")]
pub struct BlockError {
    /// Byte offset in the file where the damage starts.
    pub offset: u64,
    /// Bytes skipped until the next good block (or the end of the file).
    pub skipped: u64,
    pub kind: BlockErrorKind,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BlockErrorKind {
    #[error("block truncated (needs {expected} bytes, {have} left in the file)")]
    Truncated { expected: u64, have: u64 },
    #[error("expected a block header (sync word), found other bytes")]
    BadSync,
    #[error("block header checksum mismatch")]
    HeaderChecksum,
    #[error("block payload checksum mismatch (expected CRC32C {expected:#010x}, computed {computed:#010x})")]
    PayloadChecksum { expected: u32, computed: u32 },
    #[error("block record {index}: {what}")]
    Record { index: u32, what: &'static str },
    /// Another trace's header where a block header was expected (traces joined with `cat`): this trace's blocks
    /// end here, the next one reads on with its own header ([`crate::Trace::parse_at`]).
    #[error("another trace's header (concatenated files?)")]
    AnotherTrace,
    /// Another trace's header that does not decode: its blocks, which only it could name, are skipped up to the
    /// next trace.
    #[error("another trace's header (concatenated files?), unreadable: {0}")]
    DamagedTraceHeader(FileError),
}

/// A record that does not decode. The rest of its block is abandoned (the offset is the record's own).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("offset {offset}: {what}")]
pub struct RecordError {
    pub offset: u64,
    pub what: &'static str,
}
