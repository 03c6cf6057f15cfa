//! Getting blocks into a file: the header once, then whole blocks appended.
//!
//! Threads encode into their own [`BlockEncoder`] without locking; only handing a
//! sealed block to the [`TraceWriter`] takes its lock, once per block. Each block goes out in one `write` call,
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
    out: Mutex<W>,
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
    /// Writes the header to `out` and returns a writer appending blocks to it.
    pub fn new(mut out: W, header: &FileHeader) -> io::Result<Self> {
        out.write_all(&header.encode())?;
        out.flush()?;
        Ok(TraceWriter { out: Mutex::new(out) })
    }

    /// Appends sealed bytes (one or more whole blocks) in one write.
    pub fn append(&self, blocks: &[u8]) -> io::Result<()> {
        if blocks.is_empty() {
            return Ok(());
        }
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(blocks)?;
        out.flush()
    }

    /// Seals `encoder`'s block (if it has records), appends it and starts its next block.
    pub fn flush_encoder(&self, encoder: &mut BlockEncoder) -> io::Result<()> {
        let result = match encoder.seal() {
            Some(block) => self.append(block),
            None => Ok(()),
        };
        encoder.clear();
        result
    }

    /// The underlying sink (for tests writing into a `Vec<u8>`).
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}
