//! Getting blocks into a file: the header once, then whole blocks appended.
//!
//! Threads encode into their own [`BlockEncoder`] without locking; only handing a
//! block to the [`TraceWriter`] takes its lock, once per block. Each block goes out in one `write` call,
//! so a process killed at any moment leaves whole blocks plus at most one torn last block, which readers report
//! and skip.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use super::block::BlockEncoder;
use super::header::FileHeader;

/// A trace file being written. Shareable between threads (`&TraceWriter` is enough to append).
#[derive(Debug)]
pub struct TraceWriter<W: Write = File> {
    out: Mutex<Sink<W>>,
}

/// The output and how many bytes went into it (where the next block lands, for [`BlockEncoder::pad_to_boundary`]).
#[derive(Debug)]
struct Sink<W> {
    out: W,
    offset: u64,
}

impl<W: Write> Sink<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        // Counted even when the write fails: the offset only steers padding, and a failed write stops the
        // recorder anyway.
        self.offset += bytes.len() as u64;
        self.out.write_all(bytes)?;
        self.out.flush()
    }
}

impl TraceWriter<File> {
    /// Creates (or truncates) `path`, mode 0600 on Unix, and writes the header.
    pub fn create(path: &Path, header: &FileHeader) -> io::Result<Self> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        Self::new(opts.open(path)?, header)
    }
}

impl<W: Write> TraceWriter<W> {
    /// Writes the header to `out` (which must be empty: block alignment counts from its start) and returns a
    /// writer appending blocks to it.
    pub fn new(out: W, header: &FileHeader) -> io::Result<Self> {
        let mut sink = Sink { out, offset: 0 };
        sink.write(&header.encode())?;
        Ok(TraceWriter { out: Mutex::new(sink) })
    }

    /// Seals `encoder`'s block (if it has records), appends it and starts its next block. Returns the bytes
    /// appended. A full block ([`BlockEncoder::is_full`]) is first padded to end on a page boundary of the file
    /// (see `block`'s documentation); only here is its place known, so it is padded and sealed under the lock
    /// (the seal's CRC, ~5 µs for 64 KiB, then delays another thread's append by as much).
    pub fn flush_encoder(&self, encoder: &mut BlockEncoder) -> io::Result<usize> {
        let mut sink = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if encoder.is_full() {
            encoder.pad_to_boundary(sink.offset);
        }
        let result = match encoder.seal() {
            Some(block) => sink.write(block).map(|()| block.len()),
            None => Ok(0),
        };
        drop(sink);
        encoder.clear();
        result
    }

    /// The underlying sink (for tests writing into a `Vec<u8>`).
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner()).out
    }
}
