//! The zero-copy reader: finds blocks, checks them, decodes records.
//!
//! [`Trace::blocks`] walks block headers only (40 bytes each, header CRC checked), so finding every boundary
//! costs nothing next to decoding and the blocks can then be checked ([`BlockRef::verify`]) and decoded
//! ([`BlockRef::records`]) in parallel. Damage is reported as a [`BlockError`] with its offset; the walk then
//! looks for the next sync word whose header checksum holds and goes on from there, so every whole block before
//! and after the damage still counts. A torn last block (a writer killed mid-write) comes with its bytes as a cut
//! [`BlockRef`] ([`BlockRef::cut`]): its checksum cannot be checked, but its whole records can be read. Traces
//! joined into one file (`cat a b`) are read one after the other: the walk of the first ends at the second's
//! header ([`crate::BlockErrorKind::AnotherTrace`]), and [`Trace::parse_at`] reads on from there.
//!
//! The jobs are in submodules: `framing` finds and checks blocks ([`Blocks`], [`BlockRef`]); `records` decodes
//! a block's records one at a time ([`Records`] as an iterator) and defines what a fast loop hands them to
//! ([`RecordSink`]); `decode` holds the fast loops ([`Records::try_for_each`]), the choice among them for the CPU
//! and every SIMD path.

mod decode;
mod framing;
mod records;

pub use decode::DecodePath;
pub use framing::{parse_block_header, BlockRef, Blocks, Cut};
pub use records::{CallOp, Record, RecordSink, Records};

use super::header::FileHeader;
use crate::error::FileError;
use crate::event::Event;

/// A parsed trace over borrowed bytes (typically a memory map).
#[derive(Debug, Clone)]
pub struct Trace<'a> {
    pub header: FileHeader,
    data: &'a [u8],
    /// Where the header is in `data` (0 but for a trace after another one in the same file).
    start: usize,
}

impl<'a> Trace<'a> {
    /// Parses the header; blocks are read lazily.
    pub fn parse(data: &'a [u8]) -> Result<Self, FileError> {
        Self::parse_at(data, 0)
    }

    /// Parses the header at `offset` of `data` (the offset of a [`crate::BlockErrorKind::AnotherTrace`]): a trace
    /// whose block offsets are still offsets in `data`.
    pub fn parse_at(data: &'a [u8], offset: usize) -> Result<Self, FileError> {
        let header = FileHeader::decode(data.get(offset..).unwrap_or_default())?;
        Ok(Trace { header, data, start: offset })
    }

    /// The trace joined after this one in the same bytes (`cat a b`), if any: found by walking the block headers.
    pub fn next_trace(&self) -> Option<Trace<'a>> {
        self.blocks().find_map(|b| match b {
            Err(e) if e.kind == crate::BlockErrorKind::AnotherTrace => {
                Trace::parse_at(self.data, e.offset as usize).ok()
            }
            _ => None,
        })
    }

    /// Where this trace's header is in [`Trace::bytes`].
    pub fn start(&self) -> usize {
        self.start
    }

    /// The whole file (other traces joined to this one included).
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    /// Every block boundary, in file order, with damage reported in between.
    pub fn blocks(&self) -> Blocks<'a> {
        Blocks { data: self.data, pos: self.start + self.header.header_len }
    }

    /// Turns a decoded record of `block` into an [`Event`] with this file's pid and wall-clock time.
    #[inline(always)]
    pub fn event(&self, block: &BlockRef<'a>, record: Record<'a>) -> Event<'a> {
        Event {
            pid: self.header.pid,
            tid: block.thread_id,
            time_ns: self.header.clock.to_wall(record.time_ns),
            kind: record.kind,
        }
    }
}
