//! The zero-copy reader: finds blocks, checks them, decodes records.
//!
//! [`Trace::blocks`] walks block headers only (40 bytes each, header CRC checked), so finding every boundary
//! costs nothing next to decoding and the blocks can then be checked ([`BlockRef::verify`]) and decoded
//! ([`BlockRef::records`]) in parallel. Damage is reported as a [`BlockError`] with its offset; the walk then
//! looks for the next sync word whose header checksum holds and goes on from there, so every whole block before
//! and after the damage still counts. A torn last block (a writer killed mid-write) is one `Truncated` error.
//!
//! The jobs are in submodules: `framing` finds and checks blocks ([`Blocks`], [`BlockRef`]); `records` decodes
//! a block's records one at a time ([`Records`] as an iterator) and defines what a fast loop hands them to
//! ([`RecordSink`]); `decode` holds the fast loops ([`Records::try_for_each`]), the choice among them for the CPU
//! and every SIMD path.

mod decode;
mod framing;
mod records;

pub use decode::DecodePath;
pub use framing::{parse_block_header, BlockRef, Blocks};
pub use records::{CallOp, Record, RecordSink, Records};

use super::header::FileHeader;
use crate::error::FileError;
use crate::event::Event;

/// A parsed trace over borrowed bytes (typically a memory map).
#[derive(Debug, Clone)]
pub struct Trace<'a> {
    pub header: FileHeader,
    data: &'a [u8],
}

impl<'a> Trace<'a> {
    /// Parses the header; blocks are read lazily.
    pub fn parse(data: &'a [u8]) -> Result<Self, FileError> {
        let header = FileHeader::decode(data)?;
        Ok(Trace { header, data })
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    /// Every block boundary, in file order, with damage reported in between.
    pub fn blocks(&self) -> Blocks<'a> {
        Blocks { data: self.data, pos: self.header.header_len }
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
