//! Blocks and records: the per-thread encoder the stub writes with.
//!
//! Block layout (40-byte header, little-endian, then `payload_len` bytes of records):
//!
//! ```text
//! offset  size  field
//!      0     4  sync word "PYBK"       lets a reader find the next block after damage
//!      4     4  payload_len (u32)      bytes of records after this header, ≤ MAX_PAYLOAD_LEN
//!      8     4  record_count (u32)
//!     12     4  seq (u32)              per-thread block sequence number, from 0
//!     16     8  thread_id (u64)
//!     24     8  base_ts (u64)          monotonic ns; the first timed record's delta is from here
//!     32     4  CRC32C of the payload
//!     36     4  CRC32C of header bytes [0, 36)
//! ```
//!
//! Records (varint = LEB128; str = varint byte length + UTF-8). Each starts with a varint `h`:
//!
//! ```text
//! h & 3 = 0  call enter           func_id = h >> 2, then varint dt
//! h & 3 = 1  call exit (return)   func_id = h >> 2, then varint dt
//! h & 3 = 2  call exit (raised)   func_id = h >> 2, then varint dt
//! h & 3 = 3  other record, kind = h >> 2:
//!    0 func def      varint id, str qualname, str module, str file, varint first_line   (untimed)
//!    1 thread name   str name                                                           (untimed)
//!    2 suspend       varint func_id, varint dt
//!    3 resume        varint func_id, varint dt
//!    4 line          varint func_id, varint line, varint duration_ns, varint dt
//!    5 debug         varint func_id, varint line, u8 (kind | truncated << 7), str name, str value, varint dt
//!    6 update        varint update_id, u8 action (0 applied, 1 reverted), str description, varint dt
//!    7..=15          reserved: a reader of this version rejects the rest of the block
//!    16 and above    extension: varint byte length, then that many bytes; readers that do not know the
//!                    kind skip it (how a later minor version adds records)
//!    16 padding      varint byte length, then that many zero bytes (minor version 1; pylu's writer no longer
//!                    writes it, readers skip it like any extension)
//!    17 thread ident varint byte length, then varint ident, varint native_id (minor version 2): the OS's ids
//!                    of the block's thread, whose `thread_id` is then a per-process serial that no other
//!                    thread of the process ever has (the OS reuses idents of finished threads)
//! ```
//!
//! `dt` is the record's time minus the previous timed record's time in the same block (the first one's is from
//! `base_ts`), in nanoseconds of the monotonic clock. Enter and exit of a call with a small function id and a
//! sub-16 µs gap take 3 bytes each.

use crate::event::{DebugKind, FuncDef, UpdateAction};
use crate::varint;

pub const BLOCK_SYNC: [u8; 4] = *b"PYBK";
pub const BLOCK_HEADER_LEN: usize = 40;
/// A header announcing more than this is corrupt (writers seal far earlier, see [`DEFAULT_BLOCK_CAPACITY`]).
pub const MAX_PAYLOAD_LEN: usize = 16 << 20;
/// Block bytes (header and payload) after which [`BlockEncoder::is_full`] says to seal.
pub const DEFAULT_BLOCK_CAPACITY: usize = 64 << 10;
/// The one function id no record may name: readers keep it for "no function" (a record that names it is damage).
/// Ids are allocated densely from 0, so no writer gets near it.
pub const RESERVED_FUNC_ID: u32 = u32::MAX;
/// Debug values longer than this many bytes are cut (at a character boundary) and flagged truncated.
pub const MAX_REPR_BYTES: usize = 4096;

pub(crate) const OP_ENTER: u64 = 0;
pub(crate) const OP_EXIT: u64 = 1;
pub(crate) const OP_EXIT_RAISED: u64 = 2;
pub(crate) const OP_OTHER: u64 = 3;
pub(crate) const KIND_FUNC_DEF: u64 = 0;
pub(crate) const KIND_THREAD_NAME: u64 = 1;
pub(crate) const KIND_SUSPEND: u64 = 2;
pub(crate) const KIND_RESUME: u64 = 3;
pub(crate) const KIND_LINE: u64 = 4;
pub(crate) const KIND_DEBUG: u64 = 5;
pub(crate) const KIND_UPDATE: u64 = 6;
pub(crate) const FIRST_EXTENSION_KIND: u64 = 16;
pub(crate) const KIND_THREAD_IDENT: u64 = 17;

/// Encodes one thread's records into a block. One per thread: nothing here locks.
#[derive(Debug, Clone)]
pub struct BlockEncoder {
    /// Header space (zeroed until sealed) followed by the payload.
    buf: Vec<u8>,
    thread_id: u64,
    seq: u32,
    record_count: u32,
    base_ts: u64,
    last_ts: u64,
    has_time: bool,
    capacity: usize,
}

impl BlockEncoder {
    /// An encoder for `thread_id` that asks to be sealed after about `capacity` payload bytes.
    pub fn new(thread_id: u64, capacity: usize) -> Self {
        let capacity = capacity.clamp(256, MAX_PAYLOAD_LEN / 2);
        let mut buf = Vec::with_capacity(BLOCK_HEADER_LEN + capacity + 256);
        buf.resize(BLOCK_HEADER_LEN, 0);
        BlockEncoder { buf, thread_id, seq: 0, record_count: 0, base_ts: 0, last_ts: 0, has_time: false, capacity }
    }

    /// No record since the last seal.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// The block (header and payload) reached the capacity: seal now.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.buf.len() >= self.capacity
    }

    /// Payload bytes so far.
    pub fn payload_len(&self) -> usize {
        self.buf.len() - BLOCK_HEADER_LEN
    }

    #[inline(always)]
    fn put_dt(&mut self, t_ns: u64) {
        if !self.has_time {
            self.has_time = true;
            self.base_ts = t_ns;
            self.last_ts = t_ns;
        }
        // A clock that went backwards (it should not: the monotonic clock) is clamped to "no time passed".
        let dt = t_ns.saturating_sub(self.last_ts);
        self.last_ts = self.last_ts.max(t_ns);
        varint::put(&mut self.buf, dt);
    }

    #[inline(always)]
    fn call_record(&mut self, op: u64, func_id: u32, t_ns: u64) {
        debug_assert_ne!(func_id, RESERVED_FUNC_ID, "function id 0xFFFFFFFF is reserved");
        varint::put(&mut self.buf, ((func_id as u64) << 2) | op);
        self.put_dt(t_ns);
        self.record_count += 1;
    }

    #[inline(always)]
    fn other(&mut self, kind: u64) {
        varint::put(&mut self.buf, (kind << 2) | OP_OTHER);
        self.record_count += 1;
    }

    /// A call of `func_id` began at `t_ns` (monotonic).
    #[inline]
    pub fn enter(&mut self, func_id: u32, t_ns: u64) {
        self.call_record(OP_ENTER, func_id, t_ns);
    }

    /// A call of `func_id` ended at `t_ns`, by return or (`raised`) by an exception.
    #[inline]
    pub fn exit(&mut self, func_id: u32, t_ns: u64, raised: bool) {
        self.call_record(if raised { OP_EXIT_RAISED } else { OP_EXIT }, func_id, t_ns);
    }

    /// A generator or coroutine of `func_id` yielded or awaited.
    pub fn suspend(&mut self, func_id: u32, t_ns: u64) {
        self.other(KIND_SUSPEND);
        varint::put(&mut self.buf, func_id as u64);
        self.put_dt(t_ns);
    }

    /// A suspended generator or coroutine of `func_id` runs again.
    pub fn resume(&mut self, func_id: u32, t_ns: u64) {
        self.other(KIND_RESUME);
        varint::put(&mut self.buf, func_id as u64);
        self.put_dt(t_ns);
    }

    /// Line `line` of `func_id` ran for `duration_ns`, ending at `t_ns`.
    pub fn line(&mut self, func_id: u32, line: u32, duration_ns: u64, t_ns: u64) {
        self.other(KIND_LINE);
        varint::put(&mut self.buf, func_id as u64);
        varint::put(&mut self.buf, line as u64);
        varint::put(&mut self.buf, duration_ns);
        self.put_dt(t_ns);
    }

    /// A debugger value. `value` is cut at [`MAX_REPR_BYTES`] (at a character boundary) and flagged.
    pub fn debug(&mut self, func_id: u32, line: u32, kind: DebugKind, name: &str, value: &str, t_ns: u64) {
        let (value, truncated) = truncate_repr(value);
        self.other(KIND_DEBUG);
        varint::put(&mut self.buf, func_id as u64);
        varint::put(&mut self.buf, line as u64);
        self.buf.push(kind as u8 | ((truncated as u8) << 7));
        varint::put_bytes(&mut self.buf, name.as_bytes());
        varint::put_bytes(&mut self.buf, value.as_bytes());
        self.put_dt(t_ns);
    }

    /// Update `update_id` was applied or reverted at `t_ns`.
    pub fn update(&mut self, update_id: u32, action: UpdateAction, description: &str, t_ns: u64) {
        self.other(KIND_UPDATE);
        varint::put(&mut self.buf, update_id as u64);
        self.buf.push(action as u8);
        varint::put_bytes(&mut self.buf, description.as_bytes());
        self.put_dt(t_ns);
    }

    /// Interns a function id for the whole file.
    pub fn func_def(&mut self, def: &FuncDef<'_>) {
        debug_assert_ne!(def.id, RESERVED_FUNC_ID, "function id 0xFFFFFFFF is reserved");
        self.other(KIND_FUNC_DEF);
        varint::put(&mut self.buf, def.id as u64);
        varint::put_bytes(&mut self.buf, def.qualname.as_bytes());
        varint::put_bytes(&mut self.buf, def.module.as_bytes());
        varint::put_bytes(&mut self.buf, def.file.as_bytes());
        varint::put(&mut self.buf, def.first_line as u64);
    }

    /// Names this block's thread.
    pub fn thread_name(&mut self, name: &str) {
        self.other(KIND_THREAD_NAME);
        varint::put_bytes(&mut self.buf, name.as_bytes());
    }

    /// The OS's ids of this block's thread (`threading.get_ident()` and `threading.get_native_id()`), when the
    /// block's `thread_id` is a per-process serial (minor version 2).
    pub fn thread_ident(&mut self, ident: u64, native_id: u64) {
        let mut body = Vec::with_capacity(20);
        varint::put(&mut body, ident);
        varint::put(&mut body, native_id);
        self.other(KIND_THREAD_IDENT);
        varint::put_bytes(&mut self.buf, &body);
    }

    /// An extension record (kind ≥ 16) that readers which do not know it skip. For tests of forward
    /// compatibility and for later minor versions.
    pub fn extension(&mut self, kind: u64, body: &[u8]) {
        assert!(kind >= FIRST_EXTENSION_KIND, "extension kinds start at {FIRST_EXTENSION_KIND}");
        self.other(kind);
        varint::put_bytes(&mut self.buf, body);
    }

    /// Finishes the block: fills in the header and returns the whole block (header + payload), or `None`
    /// when there are no records. Call [`BlockEncoder::clear`] after writing it out.
    pub fn seal(&mut self) -> Option<&[u8]> {
        if self.record_count == 0 {
            return None;
        }
        let payload_len = (self.buf.len() - BLOCK_HEADER_LEN) as u32;
        let payload_crc = crate::crc::crc32c(&self.buf[BLOCK_HEADER_LEN..]);
        let h = &mut self.buf[..BLOCK_HEADER_LEN];
        h[0..4].copy_from_slice(&BLOCK_SYNC);
        h[4..8].copy_from_slice(&payload_len.to_le_bytes());
        h[8..12].copy_from_slice(&self.record_count.to_le_bytes());
        h[12..16].copy_from_slice(&self.seq.to_le_bytes());
        h[16..24].copy_from_slice(&self.thread_id.to_le_bytes());
        h[24..32].copy_from_slice(&self.base_ts.to_le_bytes());
        h[32..36].copy_from_slice(&payload_crc.to_le_bytes());
        let header_crc = crate::crc::crc32c(&h[..36]);
        h[36..40].copy_from_slice(&header_crc.to_le_bytes());
        Some(&self.buf)
    }

    /// Starts the next block (after [`BlockEncoder::seal`] and writing it), or drops the records of the current
    /// one. The sequence number advances only if the block held records.
    pub fn clear(&mut self) {
        if self.record_count > 0 {
            self.seq = self.seq.wrapping_add(1);
        }
        self.buf.truncate(BLOCK_HEADER_LEN);
        self.buf[..BLOCK_HEADER_LEN].fill(0);
        self.record_count = 0;
        self.has_time = false;
    }

    /// Seals the block, appends it to `out` and starts the next one. Returns whether a block was written.
    pub fn seal_into(&mut self, out: &mut Vec<u8>) -> bool {
        let wrote = match self.seal() {
            Some(block) => {
                out.extend_from_slice(block);
                true
            }
            None => false,
        };
        self.clear();
        wrote
    }
}

/// `value` cut to at most [`MAX_REPR_BYTES`] at a character boundary, and whether it was cut.
pub fn truncate_repr(value: &str) -> (&str, bool) {
    if value.len() <= MAX_REPR_BYTES {
        return (value, false);
    }
    let mut end = MAX_REPR_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    (&value[..end], true)
}
