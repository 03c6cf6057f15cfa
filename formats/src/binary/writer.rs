//! Getting blocks into a file: the header once, then whole blocks appended.
//!
//! Threads encode into their own [`BlockEncoder`] without locking; only handing a block to the [`TraceWriter`]
//! takes its lock, once per block. The writer collects blocks and hands them to the file in pieces that end on
//! [`WRITE_ALIGN`] boundaries of the file (and in whatever is pending when [`TraceWriter::flush`] is called).
//! Why: Linux's page cache (ext4, XFS, … since 6.16) sizes its folios by the writes that fill it, so a file
//! written in aligned 256 KiB pieces is held in 256 KiB folios, and mapping it costs a reader a quarter to a
//! third of the system time that one `write` per 64 KiB block at 4 KiB offsets costs (docs/performance-log.md). The
//! bytes are the same either way, and they reach the file in order, so a process killed at any moment leaves
//! whole blocks plus at most one torn last block, which readers report and skip; what it loses is what was
//! pending (the stub flushes every second).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use super::block::BlockEncoder;
use super::header::FileHeader;

/// The file boundary that the writer's pieces end on (see the module documentation); also the most bytes a
/// writer holds back.
pub const WRITE_ALIGN: u64 = 256 << 10;

/// A trace file being written. Shareable between threads (`&TraceWriter` is enough to append). Dropping it
/// writes what is pending and ignores a failure; call [`TraceWriter::flush`] to see one.
#[derive(Debug)]
pub struct TraceWriter<W: Write = File> {
    out: Mutex<Sink<W>>,
}

/// The output, the bytes held back for it, and where they start.
#[derive(Debug)]
struct Sink<W: Write> {
    /// `None` only once [`TraceWriter::into_inner`] has taken it.
    out: Option<W>,
    /// Bytes handed to `out`, so the file offset where `pending` starts.
    written: u64,
    pending: Vec<u8>,
}

impl<W: Write> Sink<W> {
    /// Where the next byte appended lands in the file.
    fn offset(&self) -> u64 {
        self.written + self.pending.len() as u64
    }

    /// Appends `bytes`: whatever reaches a [`WRITE_ALIGN`] boundary goes to the file, up to that boundary.
    fn append(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        loop {
            let to_boundary = (WRITE_ALIGN - self.offset() % WRITE_ALIGN) as usize;
            if bytes.len() < to_boundary {
                self.pending.extend_from_slice(bytes);
                return Ok(());
            }
            let (piece, rest) = bytes.split_at(to_boundary);
            if self.pending.is_empty() {
                self.write_out(piece)?;
            } else {
                self.pending.extend_from_slice(piece);
                self.flush()?;
            }
            bytes = rest;
        }
    }

    /// Writes out what is pending.
    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let result = self.write_out(&pending);
        // Its allocation is reused. After a failed write the bytes are dropped all the same: the recorder stops.
        self.pending = pending;
        self.pending.clear();
        result
    }

    fn write_out(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        let out = self.out.as_mut().expect("the output is taken only by into_inner, which consumes the writer");
        out.write_all(bytes)?;
        out.flush()
    }
}

impl<W: Write> Drop for Sink<W> {
    fn drop(&mut self) {
        if self.out.is_some() {
            // Best effort, as `BufWriter` does: whoever needs the error calls `TraceWriter::flush`.
            let _ = self.flush();
        }
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
    /// Writes the header to `out` (which must be empty: alignment counts from its start) and returns a writer
    /// appending blocks to it. The header goes out at once, so that a reader can tell the file's kind before
    /// the first piece is written.
    pub fn new(out: W, header: &FileHeader) -> io::Result<Self> {
        let mut sink = Sink { out: Some(out), written: 0, pending: Vec::new() };
        sink.write_out(&header.encode())?;
        sink.pending.reserve_exact(WRITE_ALIGN as usize);
        Ok(TraceWriter { out: Mutex::new(sink) })
    }

    /// Seals `encoder`'s block (if it has records), appends it and starts its next block. Returns the bytes
    /// appended; they reach the file at the next [`WRITE_ALIGN`] boundary or [`TraceWriter::flush`]. The block
    /// is sealed (its CRCs computed) before the lock is taken.
    pub fn flush_encoder(&self, encoder: &mut BlockEncoder) -> io::Result<usize> {
        let sealed = encoder.seal();
        let mut sink = self.lock();
        let result = match sealed {
            Some(block) => sink.append(block).map(|()| block.len()),
            None => Ok(0),
        };
        drop(sink);
        encoder.clear();
        result
    }

    /// Writes out every block appended so far.
    pub fn flush(&self) -> io::Result<()> {
        self.lock().flush()
    }

    /// Writes out what is pending and returns the underlying sink (for tests writing into a `Vec<u8>`).
    pub fn into_inner(self) -> io::Result<W> {
        let mut sink = self.out.into_inner().unwrap_or_else(|p| p.into_inner());
        sink.flush()?;
        Ok(sink.out.take().expect("the output is taken only here"))
    }

    fn lock(&self) -> MutexGuard<'_, Sink<W>> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }
}
