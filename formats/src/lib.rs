//! pylu's trace formats: what the stub writes and what the analyzer reads.
//!
//! - [`binary`]: trace format v1 (docs/FORMAT.md). [`BlockEncoder`] encodes one thread's records without
//!   locking; [`TraceWriter`] appends sealed blocks to a file; [`Trace`] reads a file zero-copy, block by block
//!   ([`BlockRef`]), so blocks can be checked and decoded in parallel.
//! - [`legacy`]: the original pyliveupdate's text log (`/tmp/pyliveupdate.log`), parsed with nom.
//! - [`event`]: the one model both decode into ([`Event`], [`EventKind`]).
//! - [`detect`](mod@detect): tells the two formats apart from the bytes.
//! - [`timefmt`]: ISO 8601 rendering of wall-clock nanoseconds.
//!
//! Errors are typed ([`FileError`], [`BlockError`], [`RecordError`]) and carry the offset of the damage.

pub mod binary;
pub mod crc;
pub mod detect;
pub mod error;
pub mod event;
pub mod legacy;
pub mod timefmt;
pub mod varint;

pub use binary::block::{BlockEncoder, DEFAULT_BLOCK_CAPACITY, MAX_REPR_BYTES, RESERVED_FUNC_ID};
pub use binary::header::{ClockAnchor, FileHeader, FORMAT_MAJOR, FORMAT_MINOR};
pub use binary::reader::{BlockRef, Blocks, CallOp, Cut, DecodePath, Record, RecordSink, Records, Trace};
pub use binary::writer::{TraceWriter, WRITE_ALIGN};
pub use detect::{detect, Format};
pub use error::{BlockError, BlockErrorKind, FileError, RecordError};
pub use event::{DebugKind, Event, EventKind, FuncDef, FuncRef, UpdateAction};
