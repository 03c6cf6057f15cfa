//! Block framing: parses and checks block headers, walks a trace body block by block and resynchronises after
//! damage (the next sync word whose header checksum holds). A trace header where a block header is expected
//! (traces joined with `cat`) ends the walk: the next trace starts there, with its own header.

use super::Records;
use crate::binary::block::{BLOCK_HEADER_LEN, BLOCK_SYNC, MAX_PAYLOAD_LEN};
use crate::binary::header::{FileHeader, MAGIC};
use crate::error::{BlockError, BlockErrorKind};

/// One block whose header checked out. Its payload is not checked until [`BlockRef::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef<'a> {
    /// Offset of the block header in the file.
    pub offset: u64,
    pub thread_id: u64,
    pub seq: u32,
    pub base_ts: u64,
    pub record_count: u32,
    pub payload_crc: u32,
    pub payload: &'a [u8],
    /// The data ends before the payload the header announces (a torn last block): `payload` is the bytes there
    /// are, and [`BlockRef::verify`] reports the block as truncated. Its whole records can still be read.
    pub cut: Option<Cut>,
}

/// Where a torn block ends: `expected` bytes announced (header included), `have` there (from the block's offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub expected: u64,
    pub have: u64,
}

impl<'a> BlockRef<'a> {
    /// Checks the payload's CRC32C. A cut block (see [`BlockRef::cut`]) cannot be checked: it is reported as
    /// truncated.
    pub fn verify(&self) -> Result<(), BlockError> {
        if let Some(Cut { expected, have }) = self.cut {
            return Err(BlockError {
                offset: self.offset,
                skipped: have,
                kind: BlockErrorKind::Truncated { expected, have },
            });
        }
        let computed = crate::crc::crc32c(self.payload);
        if computed == self.payload_crc {
            Ok(())
        } else {
            Err(BlockError {
                offset: self.offset,
                skipped: (BLOCK_HEADER_LEN + self.payload.len()) as u64,
                kind: BlockErrorKind::PayloadChecksum { expected: self.payload_crc, computed },
            })
        }
    }

    /// Decodes the records; times are monotonic ns. Stops after the first record that does not decode.
    pub fn records(&self) -> Records<'a> {
        Records {
            payload: self.payload,
            pos: 0,
            time: self.base_ts,
            payload_offset: self.offset + BLOCK_HEADER_LEN as u64,
            failed: false,
        }
    }

    /// For a cut block, the damage to report in place of [`BlockRef::verify`]'s: how much of it was read.
    pub fn cut_damage(&self) -> Option<String> {
        let cut = self.cut?;
        // Records are self-delimiting, so the torn one does not decode: the records before it are read.
        let read = self.records().map_while(Result::ok).count();
        Some(format!(
            "block cut short (needs {} bytes, {} left in the file): {read} records read, checksum not checked",
            cut.expected, cut.have
        ))
    }

    /// Total size in the file, header included (up to the cut for a cut block).
    pub fn len_in_file(&self) -> usize {
        match self.cut {
            Some(cut) => cut.have as usize,
            None => BLOCK_HEADER_LEN + self.payload.len(),
        }
    }
}

/// Parses the block header at the start of `bytes` (`offset` is where it is in the file).
pub fn parse_block_header(bytes: &[u8], offset: u64) -> Result<BlockRef<'_>, BlockError> {
    let (block, payload_len) = parse_header_only(bytes, offset)?;
    let have = bytes.len() - BLOCK_HEADER_LEN;
    if payload_len > have {
        return Err(BlockError {
            offset,
            skipped: 0,
            kind: BlockErrorKind::Truncated {
                expected: (BLOCK_HEADER_LEN + payload_len) as u64,
                have: bytes.len() as u64,
            },
        });
    }
    Ok(BlockRef { payload: &bytes[BLOCK_HEADER_LEN..BLOCK_HEADER_LEN + payload_len], ..block })
}

/// The block header at the start of `bytes`, checked, with an empty payload, and the payload length it announces.
fn parse_header_only(bytes: &[u8], offset: u64) -> Result<(BlockRef<'_>, usize), BlockError> {
    let fail = |kind| BlockError { offset, skipped: 0, kind };
    if bytes.len() < BLOCK_HEADER_LEN {
        if bytes.len() >= 4 && bytes[..4] != BLOCK_SYNC {
            return Err(fail(BlockErrorKind::BadSync));
        }
        return Err(fail(BlockErrorKind::Truncated { expected: BLOCK_HEADER_LEN as u64, have: bytes.len() as u64 }));
    }
    let h = &bytes[..BLOCK_HEADER_LEN];
    if h[..4] != BLOCK_SYNC {
        return Err(fail(BlockErrorKind::BadSync));
    }
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
    let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap());
    if crate::crc::crc32c(&h[..36]) != u32_at(36) {
        return Err(fail(BlockErrorKind::HeaderChecksum));
    }
    let payload_len = u32_at(4) as usize;
    if payload_len > MAX_PAYLOAD_LEN {
        return Err(fail(BlockErrorKind::HeaderChecksum));
    }
    let block = BlockRef {
        offset,
        thread_id: u64_at(16),
        seq: u32_at(12),
        base_ts: u64_at(24),
        record_count: u32_at(8),
        payload_crc: u32_at(32),
        payload: &[],
        cut: None,
    };
    Ok((block, payload_len))
}

/// A trace header that decodes at the start of `bytes`.
fn is_trace_header(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC) && FileHeader::decode(bytes).is_ok()
}

/// Iterator over the blocks of a trace body: `Ok` per block whose header checks out (a torn last one included,
/// see [`BlockRef::cut`]), `Err` per damaged stretch. Another trace's header ends it with one
/// [`BlockErrorKind::AnotherTrace`] at its offset (where [`super::Trace::parse_at`] reads on).
#[derive(Debug, Clone)]
pub struct Blocks<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Iterator for Blocks<'a> {
    type Item = Result<BlockRef<'a>, BlockError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let start = self.pos;
        let rest = &self.data[start..];
        if rest.starts_with(MAGIC) {
            return Some(Err(self.trace_header_at(start)));
        }
        match parse_header_only(rest, start as u64) {
            Ok((block, payload_len)) => {
                let end = start + BLOCK_HEADER_LEN + payload_len;
                // A block that runs into another trace's header was torn before the files were joined.
                let next_trace = if end < self.data.len() && !self.data[end..].starts_with(&BLOCK_SYNC) {
                    self.find_trace_header(start + BLOCK_HEADER_LEN, end)
                } else {
                    None
                };
                match next_trace {
                    Some(at) => Some(Ok(self.cut_block(block, at))),
                    None if end <= self.data.len() => {
                        self.pos = end;
                        Some(Ok(BlockRef { payload: &self.data[start + BLOCK_HEADER_LEN..end], ..block }))
                    }
                    // Torn, unless a good block follows (then its length, not the file, is wrong: skipped).
                    None => match self.find_next(start + 1) {
                        at if at == self.data.len() || is_trace_header(&self.data[at..]) => {
                            Some(Ok(self.cut_block(block, at)))
                        }
                        at => Some(Err(self.skip_to(
                            start,
                            at,
                            BlockErrorKind::Truncated {
                                expected: (BLOCK_HEADER_LEN + payload_len) as u64,
                                have: rest.len() as u64,
                            },
                        ))),
                    },
                }
            }
            Err(err) => {
                // Resynchronise: the next sync word, after this one, whose header checks out (or a trace header).
                let next = self.find_next(start + 1);
                Some(Err(self.skip_to(start, next, err.kind)))
            }
        }
    }
}

impl<'a> Blocks<'a> {
    fn skip_to(&mut self, start: usize, next: usize, kind: BlockErrorKind) -> BlockError {
        self.pos = next;
        BlockError { offset: start as u64, skipped: (next - start) as u64, kind }
    }

    /// `block` (header checked) torn at `at`: its payload is the bytes up to there, without trailing zero bytes
    /// (a crash can leave a file's unwritten tail zero-filled, and zeros read as calls of function 0).
    fn cut_block(&mut self, block: BlockRef<'a>, at: usize) -> BlockRef<'a> {
        let start = block.offset as usize;
        let payload_len = u32::from_le_bytes(self.data[start + 4..start + 8].try_into().unwrap()) as u64;
        let mut payload = self.data.get(start + BLOCK_HEADER_LEN..at).unwrap_or(&[]);
        while let [rest @ .., 0] = payload {
            payload = rest;
        }
        self.pos = at;
        let cut = Cut { expected: BLOCK_HEADER_LEN as u64 + payload_len, have: (at - start) as u64 };
        BlockRef { payload, cut: Some(cut), ..block }
    }

    /// The walk met a trace header at `start`: another trace begins there (or one whose header is damaged: its
    /// blocks cannot be read without it, so they are skipped up to the next trace).
    fn trace_header_at(&mut self, start: usize) -> BlockError {
        match FileHeader::decode(&self.data[start..]) {
            Ok(_) => self.skip_to(start, self.data.len(), BlockErrorKind::AnotherTrace),
            Err(e) => {
                let next = self.find_trace_header(start + 1, self.data.len()).unwrap_or(self.data.len());
                self.skip_to(start, next, BlockErrorKind::DamagedTraceHeader(e))
            }
        }
    }

    /// The first trace header that decodes, starting in `[from, until)`.
    fn find_trace_header(&self, from: usize, until: usize) -> Option<usize> {
        let mut at = from;
        while at < until {
            let window = &self.data[at..(until + MAGIC.len()).min(self.data.len())];
            let cand = at + memchr::memmem::find(window, MAGIC)?;
            if cand >= until {
                return None;
            }
            if is_trace_header(&self.data[cand..]) {
                return Some(cand);
            }
            at = cand + 1;
        }
        None
    }

    /// The next block whose header checks out, or trace header, from `from`; the end of the data if none.
    fn find_next(&self, from: usize) -> usize {
        let block = self.find_next_block(from);
        self.find_trace_header(from, block).unwrap_or(block)
    }

    fn find_next_block(&self, from: usize) -> usize {
        let mut at = from;
        while at < self.data.len() {
            match memchr::memmem::find(&self.data[at..], &BLOCK_SYNC) {
                None => return self.data.len(),
                Some(i) => {
                    let cand = at + i;
                    if parse_block_header(&self.data[cand..], cand as u64).is_ok() {
                        return cand;
                    }
                    at = cand + 1;
                }
            }
        }
        self.data.len()
    }
}
