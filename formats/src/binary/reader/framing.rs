//! Block framing: parses and checks block headers, walks a trace body block by block and resynchronises after
//! damage (the next sync word whose header checksum holds).

use super::Records;
use crate::binary::block::{BLOCK_HEADER_LEN, BLOCK_SYNC, MAX_PAYLOAD_LEN};
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
}

impl<'a> BlockRef<'a> {
    /// Checks the payload's CRC32C.
    pub fn verify(&self) -> Result<(), BlockError> {
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

    /// Total size in the file, header included.
    pub fn len_in_file(&self) -> usize {
        BLOCK_HEADER_LEN + self.payload.len()
    }
}

/// Parses the block header at the start of `bytes` (`offset` is where it is in the file).
pub fn parse_block_header(bytes: &[u8], offset: u64) -> Result<BlockRef<'_>, BlockError> {
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
    let have = bytes.len() - BLOCK_HEADER_LEN;
    if payload_len > have {
        return Err(fail(BlockErrorKind::Truncated {
            expected: (BLOCK_HEADER_LEN + payload_len) as u64,
            have: bytes.len() as u64,
        }));
    }
    Ok(BlockRef {
        offset,
        thread_id: u64_at(16),
        seq: u32_at(12),
        base_ts: u64_at(24),
        record_count: u32_at(8),
        payload_crc: u32_at(32),
        payload: &bytes[BLOCK_HEADER_LEN..BLOCK_HEADER_LEN + payload_len],
    })
}

/// Iterator over the blocks of a trace body: `Ok` per whole block, `Err` per damaged stretch.
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
        match parse_block_header(&self.data[start..], start as u64) {
            Ok(block) => {
                self.pos = start + block.len_in_file();
                Some(Ok(block))
            }
            Err(mut err) => {
                // Resynchronise: the next sync word, after this one, whose header checks out.
                let next = self.find_next_block(start + 1);
                self.pos = next;
                err.skipped = (next - start) as u64;
                Some(Err(err))
            }
        }
    }
}

impl Blocks<'_> {
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
