//! The zero-copy reader: finds blocks, checks them, decodes records.
//!
//! [`Trace::blocks`] walks block headers only (40 bytes each, header CRC checked), so finding every boundary
//! costs nothing next to decoding and the blocks can then be checked ([`BlockRef::verify`]) and decoded
//! ([`BlockRef::records`]) in parallel. Damage is reported as a [`BlockError`] with its offset; the walk then
//! looks for the next sync word whose header checksum holds and goes on from there, so every whole block before
//! and after the damage still counts. A torn last block (a writer killed mid-write) is one `Truncated` error.

use super::block::*;
use super::header::FileHeader;
use crate::error::{BlockError, BlockErrorKind, FileError, RecordError};
use crate::event::{DebugKind, Event, EventKind, FuncDef, FuncRef, UpdateAction};
use crate::varint;

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
    data: &'a [u8],
    pos: usize,
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

/// A decoded record with its monotonic time (0 for the untimed func def and thread name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub time_ns: u64,
    pub kind: EventKind<'a>,
}

/// Iterator over a block's records.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    payload: &'a [u8],
    pos: usize,
    time: u64,
    payload_offset: u64,
    failed: bool,
}

impl<'a> Records<'a> {
    #[inline(always)]
    fn varint(&mut self) -> Option<u64> {
        let (v, n) = varint::get(&self.payload[self.pos..])?;
        self.pos += n;
        Some(v)
    }

    #[inline(always)]
    fn dt(&mut self) -> Option<u64> {
        let dt = self.varint()?;
        self.time = self.time.wrapping_add(dt);
        Some(self.time)
    }

    #[inline(always)]
    fn u32(&mut self) -> Option<u32> {
        self.varint().and_then(|v| u32::try_from(v).ok())
    }

    #[inline(always)]
    fn byte(&mut self) -> Option<u8> {
        let b = *self.payload.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    #[inline(always)]
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.payload.len())?;
        let s = &self.payload[self.pos..end];
        self.pos = end;
        Some(s)
    }

    fn str(&mut self) -> Result<&'a str, &'static str> {
        let b = self.bytes().ok_or("string runs past the block")?;
        std::str::from_utf8(b).map_err(|_| "string is not UTF-8")
    }

    /// A string's bytes, checked as [`Records::str`] checks them but not kept: most strings are ASCII, checked
    /// a word at a time without `from_utf8`'s per-call setup.
    #[inline(always)]
    fn check_str(&mut self) -> Result<(), &'static str> {
        let b = self.bytes().ok_or("string runs past the block")?;
        if is_ascii(b) || std::str::from_utf8(b).is_ok() {
            Ok(())
        } else {
            Err("string is not UTF-8")
        }
    }

    /// Decodes a record other than enter/exit (its kind already read) into `sink`: suspend, resume and line
    /// records through their own methods, debug records only if the sink wants them (otherwise their fields are
    /// checked as far, in the same order, but nothing is built), the rest as a [`Record`]. Kept out of line so
    /// the hot loop over calls stays small enough to inline into the caller.
    #[inline(never)]
    fn other_into(&mut self, kind: u64, sink: &mut impl RecordSink<'a>) -> Result<(), &'static str> {
        const CUT: &str = "record cut off at the end of the block";
        let rec = match kind {
            KIND_SUSPEND | KIND_RESUME => {
                let func = self.u32().ok_or(CUT)?;
                let time_ns = self.dt().ok_or(CUT)?;
                if kind == KIND_SUSPEND {
                    sink.suspend(func, time_ns)
                } else {
                    sink.resume(func, time_ns)
                }
                return Ok(());
            }
            KIND_LINE => {
                let func = self.u32().ok_or(CUT)?;
                let line = self.u32().ok_or(CUT)?;
                let duration_ns = self.varint().ok_or(CUT)?;
                let time_ns = self.dt().ok_or(CUT)?;
                sink.line(func, line, duration_ns, time_ns);
                return Ok(());
            }
            KIND_DEBUG => {
                let func = FuncRef::Id(self.u32().ok_or(CUT)?);
                let line = self.u32().ok_or(CUT)?;
                let flags = self.byte().ok_or(CUT)?;
                let kind = DebugKind::from_u8(flags & 0x7f).ok_or("unknown debug kind")?;
                if !sink.wants_debug() {
                    self.check_str()?;
                    self.check_str()?;
                    self.dt().ok_or(CUT)?;
                    return Ok(());
                }
                let truncated = flags & 0x80 != 0;
                let name = self.str()?;
                let value = self.str()?;
                let time_ns = self.dt().ok_or(CUT)?;
                Record { time_ns, kind: EventKind::Debug { func, line, kind, name, value, truncated } }
            }
            KIND_FUNC_DEF => {
                let id = self.u32().ok_or(CUT)?;
                let qualname = self.str()?;
                let module = self.str()?;
                let file = self.str()?;
                let first_line = self.u32().ok_or(CUT)?;
                Record { time_ns: 0, kind: EventKind::FuncDef(FuncDef { id, qualname, module, file, first_line }) }
            }
            KIND_THREAD_NAME => Record { time_ns: 0, kind: EventKind::ThreadName(self.str()?) },
            KIND_UPDATE => {
                let id = self.u32().ok_or(CUT)?;
                let action = UpdateAction::from_u8(self.byte().ok_or(CUT)?).ok_or("unknown update action")?;
                let description = self.str()?;
                let time_ns = self.dt().ok_or(CUT)?;
                Record { time_ns, kind: EventKind::Update { id, action, description } }
            }
            k if k >= FIRST_EXTENSION_KIND => {
                self.bytes().ok_or(CUT)?;
                return Ok(());
            }
            _ => return Err("reserved record kind"),
        };
        sink.other(rec);
        Ok(())
    }

    /// [`Records::other_into`] for the iterator: the record, or `None` for a skipped extension.
    fn other(&mut self, kind: u64) -> Result<Option<Record<'a>>, &'static str> {
        let mut one = None;
        self.other_into(kind, &mut EveryRecord(|r| one = Some(r)))?;
        Ok(one)
    }
}

/// What a call record says happened (the `op` of its header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOp {
    Enter,
    Exit,
    /// The call ended by raising an exception.
    ExitRaised,
}

/// Receives a block's records from [`Records::try_for_each`]: call records (nearly all of a trace) through
/// [`RecordSink::call`], without building a [`Record`], and everything else through [`RecordSink::other`].
pub trait RecordSink<'a> {
    /// A call record: `func` entered or left at `time_ns`.
    fn call(&mut self, op: CallOp, func: u32, time_ns: u64);
    /// Any other record (update, function definition, thread name; and suspend, resume, line and debug unless
    /// the methods below are overridden).
    fn other(&mut self, rec: Record<'a>);

    /// A suspend record (by default handed to [`RecordSink::other`]).
    #[inline(always)]
    fn suspend(&mut self, func: u32, time_ns: u64) {
        self.other(Record { time_ns, kind: EventKind::Suspend(FuncRef::Id(func)) })
    }

    /// A resume record (by default handed to [`RecordSink::other`]).
    #[inline(always)]
    fn resume(&mut self, func: u32, time_ns: u64) {
        self.other(Record { time_ns, kind: EventKind::Resume(FuncRef::Id(func)) })
    }

    /// A line record (by default handed to [`RecordSink::other`]).
    #[inline(always)]
    fn line(&mut self, func: u32, line: u32, duration_ns: u64, time_ns: u64) {
        self.other(Record { time_ns, kind: EventKind::Line { func: FuncRef::Id(func), line, duration_ns } })
    }

    /// Whether debug records reach [`RecordSink::other`]. When not, they are still decoded and checked exactly as
    /// far (a string that is not UTF-8 still ends the block with the same error), but nothing is built.
    #[inline(always)]
    fn wants_debug(&self) -> bool {
        true
    }
}

/// A closure as a [`RecordSink`] (call records become [`Record`]s too).
struct EveryRecord<F>(F);

impl<'a, F: FnMut(Record<'a>)> RecordSink<'a> for EveryRecord<F> {
    #[inline(always)]
    fn call(&mut self, op: CallOp, func: u32, time_ns: u64) {
        let func = FuncRef::Id(func);
        let kind = match op {
            CallOp::Enter => EventKind::Enter(func),
            CallOp::Exit => EventKind::Exit { func, exception: false, duration_ns: None },
            CallOp::ExitRaised => EventKind::Exit { func, exception: true, duration_ns: None },
        };
        (self.0)(Record { time_ns, kind });
    }

    #[inline(always)]
    fn other(&mut self, rec: Record<'a>) {
        (self.0)(rec)
    }
}

/// The decoders [`Records::try_for_each`] chooses from (see [`Records::try_for_each_by`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodePath {
    /// Any CPU: payload bits gathered by shifts and masks.
    Portable,
    /// x86_64 with BMI1 and BMI2: gathered by `pext`.
    Bmi2,
    /// x86_64 with BMI2 and AVX-512 F, BW, VBMI, VBMI2: eight call records at a time.
    Avx512,
}

impl DecodePath {
    pub const ALL: [DecodePath; 3] = [DecodePath::Portable, DecodePath::Bmi2, DecodePath::Avx512];
}

/// Hands the records of an AVX-512 step to `sink`, each taken from the registers that hold them (see
/// [`super::avx512::Step`]) rather than stored and reloaded.
///
/// A full step is written out record by record rather than as a loop, so that each of its eight records has
/// a branch on its kind of its own (in the sink, inlined): 3–4 % faster on the generator's traces (one file, one
/// core: 0.62–0.64 → 0.59–0.61 s), for 9 KB more code.
///
/// Safety: the CPU must have AVX512F.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hand_over<'a>(step: &super::avx512::Step, time: &mut u64, sink: &mut impl RecordSink<'a>) {
    use std::arch::x86_64::*;
    // SAFETY: the caller guarantees AVX512F; no memory is accessed.
    unsafe {
        let mut values = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(step.lo), step.hi);
        let mut kinds = step.kinds;
        // Record `r` of the step: lane pair `r` of the values, kind bits `2r` (a macro rather than a closure: a
        // closure would be compiled without the caller's target features, and then neither it nor the sink would
        // be inlined).
        macro_rules! hand {
            ($values:expr, $kinds:expr) => {{
                let pair = _mm_cvtsi128_si64(_mm512_castsi512_si128($values)) as u64;
                *time = time.wrapping_add(pair >> 32);
                sink.call(call_op($kinds as u64), pair as u32 >> 2, *time);
            }};
        }
        if step.full() {
            hand!(values, kinds);
            hand!(_mm512_alignr_epi64::<1>(values, values), kinds >> 2);
            hand!(_mm512_alignr_epi64::<2>(values, values), kinds >> 4);
            hand!(_mm512_alignr_epi64::<3>(values, values), kinds >> 6);
            hand!(_mm512_alignr_epi64::<4>(values, values), kinds >> 8);
            hand!(_mm512_alignr_epi64::<5>(values, values), kinds >> 10);
            hand!(_mm512_alignr_epi64::<6>(values, values), kinds >> 12);
            hand!(_mm512_alignr_epi64::<7>(values, values), kinds >> 14);
        } else {
            for _ in 0..step.records {
                hand!(values, kinds);
                values = _mm512_alignr_epi64::<1>(values, values);
                kinds >>= 2;
            }
        }
    }
}

#[inline(always)]
fn call_op(h: u64) -> CallOp {
    match h & 3 {
        OP_ENTER => CallOp::Enter,
        OP_EXIT => CallOp::Exit,
        _ => CallOp::ExitRaised,
    }
}

impl<'a> Records<'a> {
    /// Calls `f` with every record, stopping at the first that does not decode (its error is returned; the
    /// records before it have been seen). The same records as iterating, but faster (see
    /// [`Records::try_for_each`]).
    #[inline(always)]
    pub fn try_for_each_record(self, f: impl FnMut(Record<'a>)) -> Result<(), RecordError> {
        self.try_for_each(&mut EveryRecord(f))
    }

    /// Hands every record to `sink`, stopping at the first that does not decode (its error is returned; the
    /// records before it have been seen). The same records as iterating, but the position and clock stay in
    /// registers, no `Option<Result<Record>>` is built per record, and call records skip building a
    /// [`Record`]: several times faster than the iterator in the analyzer's loops.
    ///
    /// On x86_64 the loop, with `sink` inlined into it, is compiled twice more and the copy is chosen at run
    /// time: for CPUs with a fast BMI2 `pext` (Intel since Haswell, AMD since Zen 3), which gathers a record's
    /// payload bits in one instruction (the analyzer runs ~10 % faster); and, on AMD CPUs with AVX512-VBMI2
    /// (Zen 4 on; not Intel's yet, see docs/PERFORMANCE.md), a loop that decodes call records eight at a time,
    /// one step ahead of handing them over (module `avx512`; another ~15 %, see docs/PERFORMANCE.md).
    #[inline(always)]
    pub fn try_for_each(self, sink: &mut impl RecordSink<'a>) -> Result<(), RecordError> {
        #[cfg(target_arch = "x86_64")]
        if fast_avx512() {
            // SAFETY: the CPU has BMI1, BMI2 and AVX-512 F, BW, VBMI and VBMI2 (checked at run time).
            return unsafe { self.try_for_each_avx512(sink) };
        }
        #[cfg(target_arch = "x86_64")]
        if fast_pext() {
            // SAFETY: the CPU has BMI1 and BMI2 (checked at run time by `fast_pext`).
            return unsafe { self.try_for_each_bmi2(sink) };
        }
        self.decode_into::<Portable>(sink)
    }

    /// [`Records::try_for_each`] by the decoder `path`, whatever the CPU would choose; `None` when the CPU
    /// cannot run it. For tests and fuzzing, which check every decoder against the iterator.
    #[doc(hidden)]
    pub fn try_for_each_by(self, path: DecodePath, sink: &mut impl RecordSink<'a>) -> Option<Result<(), RecordError>> {
        match path {
            DecodePath::Portable => Some(self.decode_into::<Portable>(sink)),
            #[cfg(target_arch = "x86_64")]
            DecodePath::Bmi2 if bmi2_available() => {
                // SAFETY: the CPU has BMI1 and BMI2 (just checked).
                Some(unsafe { self.try_for_each_bmi2(sink) })
            }
            #[cfg(target_arch = "x86_64")]
            DecodePath::Avx512 if bmi2_available() && super::avx512::available() => {
                // SAFETY: the CPU has BMI1, BMI2 and the AVX-512 extensions (just checked).
                Some(unsafe { self.try_for_each_avx512(sink) })
            }
            _ => None,
        }
    }

    /// [`Records::try_for_each`] compiled for BMI1 and BMI2. Safety: the CPU must have both.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "bmi1,bmi2")]
    unsafe fn try_for_each_bmi2(self, sink: &mut impl RecordSink<'a>) -> Result<(), RecordError> {
        self.decode_into::<Pext>(sink)
    }

    /// [`Records::try_for_each`] with call records decoded eight at a time (see [`super::avx512`]). Safety: the
    /// CPU must have BMI1, BMI2, AVX512F, AVX512BW, AVX512VBMI and AVX512VBMI2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "bmi1,bmi2,avx512f,avx512bw,avx512vbmi,avx512vbmi2")]
    unsafe fn try_for_each_avx512(mut self, sink: &mut impl RecordSink<'a>) -> Result<(), RecordError> {
        use super::avx512::decode_calls_at;
        let payload = self.payload;
        let mut time = self.time;
        let mut pos = self.pos;
        while pos < payload.len() {
            // SAFETY (all calls into `avx512`): the CPU has the features (this function's contract).
            let mut step = unsafe { decode_calls_at(payload, pos) };
            if step.records == 0 {
                // Another kind of record, a long varint, or the last bytes of the block.
                (pos, time) = self.decode_one::<Pext>(pos, time, sink)?;
                continue;
            }
            // While steps decode all eight records, the next eight are decoded before the current eight are
            // handed over: the sink's branch on each record's kind mispredicts often, and a misprediction then
            // does not throw away decoding.
            loop {
                if !step.full() {
                    pos += unsafe { step.bytes() };
                    unsafe { hand_over(&step, &mut time, sink) };
                    break;
                }
                pos += unsafe { step.bytes_if_full() };
                let next = unsafe { decode_calls_at(payload, pos) };
                unsafe { hand_over(&step, &mut time, sink) };
                step = next;
            }
        }
        Ok(())
    }

    /// Decodes the record at `pos` (the clock at `time`) into `sink` by the general decoder, and returns the
    /// position and clock after it. Position and clock are passed rather than kept in `self`, so that they stay in
    /// registers in the callers' loops.
    #[inline(always)]
    fn decode_one<C: GatherPayload>(
        &mut self,
        pos: usize,
        time: u64,
        sink: &mut impl RecordSink<'a>,
    ) -> Result<(usize, u64), RecordError> {
        if let Some((h, dt, len)) = self.payload.get(pos..pos + 8).and_then(|w| call_record::<C>(read_u64(w, 0))) {
            let time = time.wrapping_add(dt);
            sink.call(call_op(h), (h >> 2) as u32, time);
            return Ok((pos + len, time));
        }
        self.decode_general(pos, time, sink)
    }

    /// [`Records::decode_one`] for another kind of record, a call record over 8 bytes, or damage. Out of line:
    /// the loops that call it stay small.
    #[inline(never)]
    fn decode_general(
        &mut self,
        pos: usize,
        time: u64,
        sink: &mut impl RecordSink<'a>,
    ) -> Result<(usize, u64), RecordError> {
        const CUT: &str = "record cut off at the end of the block";
        let payload = self.payload;
        let offset = self.payload_offset + pos as u64;
        let fail = |what| RecordError { offset, what };
        let Some((h, n)) = varint::get(&payload[pos..]) else { return Err(fail("bad varint")) };
        if h & 3 != OP_OTHER {
            let id = u32::try_from(h >> 2).map_err(|_| fail("function id out of range"))?;
            let Some((dt, m)) = varint::get(&payload[pos + n..]) else { return Err(fail(CUT)) };
            let time = time.wrapping_add(dt);
            sink.call(call_op(h), id, time);
            Ok((pos + n + m, time))
        } else {
            self.pos = pos + n;
            self.time = time;
            self.other_into(h >> 2, sink).map_err(fail)?;
            Ok((self.pos, self.time))
        }
    }

    /// The body of [`Records::try_for_each`], gathering payload bits with `C`.
    #[inline(always)]
    fn decode_into<C: GatherPayload>(mut self, sink: &mut impl RecordSink<'a>) -> Result<(), RecordError> {
        let payload = self.payload;
        let mut pos = self.pos;
        let mut time = self.time;
        while pos < payload.len() {
            // The fast path, a window of 64 bytes at a time: the ends of all its varints come from one mask,
            // so finding where each record starts is a chain of 1-cycle bit operations rather than a chain of
            // loads (decoding a record, then finding the next one after it). The same mask gives each record's
            // two varint lengths, so a call record of at most 8 bytes whose header fits in 4 (function ids
            // below 2^26) decodes from one 8-byte load without a branch on those lengths, which vary record to
            // record.
            if let Some(window) = payload.get(pos..pos + WINDOW + 8) {
                // A record can start at any of the window's 64 bytes and is read as 8: 72 bytes are in reach.
                let window: &[u8; WINDOW + 8] = window.try_into().expect("72 bytes");
                let mut ends = varint_ends(&window[..WINDOW]);
                let mut done = 0;
                loop {
                    // A record is two varints: the first two ends left in the window.
                    let header_end = ends.trailing_zeros() as usize;
                    let after_header = ends & ends.wrapping_sub(1);
                    if after_header == 0 {
                        break;
                    }
                    let record_end = after_header.trailing_zeros() as usize;
                    // `done` is below 64 here (a record ends after it), so the mask changes nothing but lets
                    // the compiler see that the 8 bytes are in the window.
                    let w = read_u64(window, done & (WINDOW - 1));
                    let Some((h, dt)) = call_record_at::<C>(w, header_end + 1 - done, record_end + 1 - done) else {
                        break;
                    };
                    time = time.wrapping_add(dt);
                    // The kind is the low 2 bits of the first byte: taken from the load rather than the gathered
                    // header, the sink's branch on it (which mispredicts often) resolves a few cycles sooner.
                    sink.call(call_op(w), (h >> 2) as u32, time);
                    done = record_end + 1;
                    ends = after_header & after_header.wrapping_sub(1);
                }
                pos += done;
                if done > 0 {
                    continue;
                }
            }
            (pos, time) = self.decode_one::<C>(pos, time, sink)?;
        }
        Ok(())
    }
}

/// Bytes [`Records::try_for_each`] finds the varint ends of at once.
const WINDOW: usize = 64;

/// The 8 bytes at `at`, little-endian.
#[inline(always)]
fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Bit `i` set where byte `i` of `window` (64 bytes) ends a varint (its top bit is clear). On x86_64, SSE2's
/// byte mask, 16 bytes at a time (4 instructions where the portable version takes 7 per 8 bytes: ~2 % of
/// the analyzer's instructions).
#[inline(always)]
fn varint_ends(window: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_movemask_epi8, _mm_set_epi64x};
        let mut tops = 0u64;
        for k in 0..WINDOW / 16 {
            let (lo, hi) = (read_u64(window, 16 * k) as i64, read_u64(window, 16 * k + 8) as i64);
            // SAFETY: the intrinsics need only SSE2, which every x86_64 target has; they touch no memory.
            let mask = unsafe { _mm_movemask_epi8(_mm_set_epi64x(hi, lo)) };
            tops |= (mask as u16 as u64) << (16 * k);
        }
        !tops
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        varint_ends_portable(window)
    }
}

/// [`varint_ends`] without SIMD.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn varint_ends_portable(window: &[u8]) -> u64 {
    let mut mask = 0u64;
    for k in 0..WINDOW / 8 {
        mask |= (byte_tops(!read_u64(window, 8 * k)) as u64) << (8 * k);
    }
    mask
}

/// The top bit of each byte of `w`, gathered into 8 bits (bit `i` from byte `i`): the multiplication moves
/// bit 8i+7 to bit 56+i, and no two partial products meet below bit 64.
#[inline(always)]
fn byte_tops(w: u64) -> u32 {
    ((w & 0x8080_8080_8080_8080).wrapping_mul(0x0002_0408_1020_4081) >> 56) as u32
}

/// Decodes a call record whose header is `header_len` bytes and whole record `len` bytes (both known from the
/// window's varint ends) from the 8 bytes at its start, little-endian in `w`: its header `h` and time delta.
/// `None` when the record is longer than 8 bytes, its header longer than 4 (a function id that may not fit in
/// 32 bits), or it is another kind: the general decoder takes those.
#[inline(always)]
fn call_record_at<C: GatherPayload>(w: u64, header_len: usize, len: usize) -> Option<(u64, u64)> {
    // The three rare cases in one test, so the loop has one well-predicted branch here: a length over its
    // limit leaves a bit above the limit in `len - 1`; the kind is the low 2 bits of the header's first byte.
    let rare = ((len - 1) >> 3) | ((header_len - 1) >> 2) | (w & (w >> 1) & 1) as usize;
    if rare != 0 {
        return None;
    }
    // The varints' payloads are the low 7 bits of each byte, in order: gathered, the header's are the low
    // `7 × header_len` bits and the delta's the next `7 × (len - header_len)`.
    let payload = C::gather(w);
    let h_bits = 7 * header_len as u32;
    let h = payload & ((1u64 << h_bits) - 1);
    let top = 64 - 7 * len as u32;
    let dt = (payload << top) >> (top + h_bits);
    Some((h, dt))
}

/// Gathers the low 7 bits of each byte of a little-endian `u64` into its low 56 bits (byte 0's lowest).
trait GatherPayload {
    fn gather(w: u64) -> u64;
}

/// Three shift-and-mask steps, each halving the number of groups (8 → 4 → 2 → 1).
struct Portable;

impl GatherPayload for Portable {
    #[inline(always)]
    fn gather(w: u64) -> u64 {
        let x = w & 0x7f7f_7f7f_7f7f_7f7f;
        let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
        let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
        (x & 0x0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4)
    }
}

/// BMI2's `pext`: one instruction. Only for CPUs that have it (see [`fast_pext`]).
#[cfg(target_arch = "x86_64")]
struct Pext;

#[cfg(target_arch = "x86_64")]
impl GatherPayload for Pext {
    #[inline(always)]
    fn gather(w: u64) -> u64 {
        // SAFETY: `Pext` is only used where the CPU has BMI2: by `try_for_each_bmi2`, which `try_for_each` calls
        // only then, and by tests that check first.
        unsafe { std::arch::x86_64::_pext_u64(w, 0x7f7f_7f7f_7f7f_7f7f) }
    }
}

/// Whether the CPU has BMI1 and a fast BMI2 `pext`. AMD's before Zen 3 (families below 0x19, and Hygon's)
/// have BMI2 but run `pext` in microcode, tens to hundreds of cycles: the portable gather is faster there.
#[cfg(target_arch = "x86_64")]
fn fast_pext() -> bool {
    static FAST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FAST.get_or_init(|| bmi2_available() && !microcoded_pext())
}

/// Whether the CPU has BMI1 and BMI2 (fast or not).
#[cfg(target_arch = "x86_64")]
fn bmi2_available() -> bool {
    std::is_x86_feature_detected!("bmi1") && std::is_x86_feature_detected!("bmi2")
}

#[cfg(target_arch = "x86_64")]
fn microcoded_pext() -> bool {
    let (amd_like, family) = amd_like_family();
    amd_like && family < 0x19
}

/// Whether the 8-record AVX-512 loop is chosen: where it was measured to pay, AMD's AVX-512 (Zen 4 on), which
/// runs 512-bit instructions at full clock. Intel's AVX-512 CPUs can lower the core's clock while 512-bit
/// instructions run, which could cost more than the loop saves; not measured, so they keep the `pext` loop.
#[cfg(target_arch = "x86_64")]
fn fast_avx512() -> bool {
    static FAST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FAST.get_or_init(|| fast_pext() && super::avx512::available() && amd_like_family().0)
}

/// Whether the CPU is AMD's (or Hygon's, which are AMD's designs), and its family.
#[cfg(target_arch = "x86_64")]
fn amd_like_family() -> (bool, u32) {
    use std::arch::x86_64::__cpuid;
    let (vendor, signature) = (__cpuid(0), __cpuid(1).eax);
    let name = [vendor.ebx, vendor.edx, vendor.ecx];
    let amd_like = name == [0x6874_7541, 0x6974_6e65, 0x444d_4163] // "AuthenticAMD"
        || name == [0x6f67_7948, 0x6e65_476e, 0x656e_6975]; // "HygonGenuine"
    let base = (signature >> 8) & 0xf;
    let family = if base == 0xf { base + ((signature >> 20) & 0xff) } else { base };
    (amd_like, family)
}

/// Decodes a call record from the 8 bytes at its start, little-endian in `w`, finding its varints' ends in
/// those bytes (the last bytes of a block, where no whole window is left): its header, time delta and length.
/// `None` as for [`call_record_at`], or when fewer than two varints end in the 8 bytes.
#[inline(always)]
fn call_record<C: GatherPayload>(w: u64) -> Option<(u64, u64, usize)> {
    // Bit 7 of each byte that ends a varint.
    let ends = !w & 0x8080_8080_8080_8080;
    let rest = ends & ends.wrapping_sub(1);
    if rest == 0 {
        return None;
    }
    let len = (rest.trailing_zeros() / 8 + 1) as usize;
    let (h, dt) = call_record_at::<C>(w, (ends.trailing_zeros() / 8 + 1) as usize, len)?;
    Some((h, dt, len))
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, RecordError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed || self.pos >= self.payload.len() {
                return None;
            }
            let start = self.pos;
            let result = match self.varint() {
                None => Err("bad varint"),
                Some(h) => {
                    let op = h & 3;
                    if op == OP_OTHER {
                        self.other(h >> 2)
                    } else {
                        match u32::try_from(h >> 2) {
                            Err(_) => Err("function id out of range"),
                            Ok(id) => match self.dt() {
                                None => Err("record cut off at the end of the block"),
                                Some(time_ns) => {
                                    let func = FuncRef::Id(id);
                                    let kind = match op {
                                        OP_ENTER => EventKind::Enter(func),
                                        _ => {
                                            EventKind::Exit { func, exception: op == OP_EXIT_RAISED, duration_ns: None }
                                        }
                                    };
                                    Ok(Some(Record { time_ns, kind }))
                                }
                            },
                        }
                    }
                }
            };
            match result {
                Ok(Some(rec)) => return Some(Ok(rec)),
                Ok(None) => continue,
                Err(what) => {
                    self.failed = true;
                    return Some(Err(RecordError { offset: self.payload_offset + start as u64, what }));
                }
            }
        }
    }
}

/// `bytes.is_ascii()`, by AVX-512 where the CPU has it (see `avx512::is_ascii`).
#[inline(always)]
fn is_ascii(bytes: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::available() {
        // SAFETY: `available()` checked AVX512F and AVX512BW (and more).
        return unsafe { super::avx512::is_ascii(bytes) };
    }
    bytes.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` pseudo-random words (xorshift64), the same for a given seed.
    fn xorshift(seed: u64, n: usize) -> impl Iterator<Item = u64> {
        std::iter::successors(Some(seed), |&x| {
            let x = x ^ x << 13;
            let x = x ^ x >> 7;
            Some(x ^ x << 17)
        })
        .skip(1)
        .take(n)
    }

    #[test]
    fn byte_tops_gathers_the_top_bits() {
        for x in xorshift(0x9E37_79B9_7F4A_7C15, 100_000) {
            let naive = (0..8).filter(|i| x >> (8 * i + 7) & 1 == 1).fold(0u32, |m, i| m | 1 << i);
            assert_eq!(byte_tops(x), naive, "{x:#x}");
        }
    }

    #[test]
    fn both_gathers_concatenate_the_low_7_bits_of_each_byte() {
        for x in xorshift(0x9E37_79B9_7F4A_7C15, 10_000) {
            let naive = (0..8).fold(0u64, |acc, i| acc | ((x >> (8 * i)) & 0x7f) << (7 * i));
            assert_eq!(Portable::gather(x), naive);
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("bmi2") {
                assert_eq!(Pext::gather(x), naive);
            }
        }
    }

    #[test]
    fn varint_ends_agree_with_the_portable_version() {
        let mut bytes = xorshift(0x2545_F491_4F6C_DD1D, 10_000 * WINDOW).map(|x| x as u8);
        let mut window = [0u8; WINDOW];
        for _ in 0..10_000 {
            window.fill_with(|| bytes.next().expect("enough words"));
            let naive = window.iter().enumerate().filter(|(_, &b)| b < 0x80).fold(0u64, |m, (i, _)| m | 1 << i);
            assert_eq!(varint_ends(&window), naive);
            assert_eq!(varint_ends_portable(&window), naive);
        }
    }

    /// The fast path decodes call records exactly as the general one, for every split of varint lengths
    /// (1 to 5 bytes each, so both fast and slow records), next to each other in one window.
    #[test]
    fn window_path_agrees_with_the_general_decoder() {
        let mut payload = Vec::new();
        let mut expected = Vec::new();
        let mut time = 0u64;
        for (k, (hbytes, dbytes)) in (1..=5).flat_map(|h| (1..=5).map(move |d| (h, d))).cycle().take(400).enumerate() {
            // The smallest value of each length, plus a little.
            let func = ((1u64 << (7 * (hbytes - 1))) >> 2) as u32 + (k as u32 % 3);
            let op = k as u64 % 3;
            let dt = (1u64 << (7 * (dbytes - 1))) + k as u64;
            varint::put(&mut payload, (func as u64) << 2 | op);
            varint::put(&mut payload, dt);
            time += dt;
            expected.push((op, func, time));
        }
        struct Collect(Vec<(u64, u32, u64)>);
        impl<'a> RecordSink<'a> for Collect {
            fn call(&mut self, op: CallOp, func: u32, time_ns: u64) {
                self.0.push((op as u64, func, time_ns));
            }
            fn other(&mut self, rec: Record<'a>) {
                panic!("no other records here: {rec:?}");
            }
        }
        let records = Records { payload: &payload, pos: 0, time: 0, payload_offset: 0, failed: false };
        let mut got = Collect(Vec::new());
        records.try_for_each(&mut got).unwrap();
        assert_eq!(got.0, expected);
    }

    /// A value of a random varint length (1 to 10 bytes).
    fn sized(len: u32, low: u64) -> u64 {
        if len >= 10 {
            u64::MAX - low
        } else {
            (1u64 << (7 * (len - 1))).wrapping_add(low) & ((1u64 << (7 * len)) - 1).max(1)
        }
    }

    /// Random payloads: records of every kind with varints of every length, strings that are sometimes not
    /// UTF-8, and stray bytes (damage), so that decoding stops at every kind of error.
    fn payload() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let item = (0u8..16, proptest::collection::vec(any::<u64>(), 6), proptest::collection::vec(any::<u8>(), 0..12));
        // Half the payloads are mostly call records, as real blocks are: long runs of them reach the decoders
        // that take eight at a time.
        (any::<bool>(), proptest::collection::vec((item, any::<u8>()), 0..100)).prop_map(|(mostly_calls, items)| {
            let mut p = Vec::new();
            for ((what, vals, bytes), pick) in items {
                let what = if mostly_calls && pick % 16 != 0 { pick % 3 } else { what };
                // Mostly short varints (the fast paths), sometimes long ones.
                let v = |k: usize| {
                    let r = vals[k];
                    let len = if r % 8 == 0 { 1 + (r >> 3) as u32 % 10 } else { 1 + (r >> 3) as u32 % 3 };
                    sized(len, (r >> 8) % 5)
                };
                let s = |p: &mut Vec<u8>| {
                    if vals[5] % 7 == 0 {
                        varint::put_bytes(p, &bytes)
                    } else {
                        varint::put_bytes(p, &bytes.iter().map(|b| b & 0x7f).collect::<Vec<_>>())
                    }
                };
                match what {
                    0..=5 => {
                        varint::put(&mut p, (v(0) & (u64::MAX >> 2)) << 2 | (what as u64 % 3));
                        varint::put(&mut p, v(1));
                    }
                    6 | 7 => {
                        varint::put(&mut p, (KIND_SUSPEND + what as u64 - 6) << 2 | OP_OTHER);
                        varint::put(&mut p, v(0));
                        varint::put(&mut p, v(1));
                    }
                    8 => {
                        varint::put(&mut p, KIND_LINE << 2 | OP_OTHER);
                        for k in 0..4 {
                            varint::put(&mut p, v(k));
                        }
                    }
                    9 | 10 => {
                        varint::put(&mut p, KIND_DEBUG << 2 | OP_OTHER);
                        varint::put(&mut p, v(0));
                        varint::put(&mut p, v(1));
                        p.push(if vals[4] % 9 == 0 {
                            vals[4] as u8
                        } else {
                            (vals[4] as u8 % 5) | (vals[4] as u8 & 0x80)
                        });
                        s(&mut p);
                        s(&mut p);
                        varint::put(&mut p, v(2));
                    }
                    11 => {
                        varint::put(&mut p, KIND_FUNC_DEF << 2 | OP_OTHER);
                        varint::put(&mut p, v(0));
                        s(&mut p);
                        s(&mut p);
                        s(&mut p);
                        varint::put(&mut p, v(1));
                    }
                    12 => {
                        varint::put(&mut p, KIND_UPDATE << 2 | OP_OTHER);
                        varint::put(&mut p, v(0));
                        p.push(vals[4] as u8 % 3);
                        s(&mut p);
                        varint::put(&mut p, v(1));
                    }
                    13 => {
                        varint::put(&mut p, KIND_THREAD_NAME << 2 | OP_OTHER);
                        s(&mut p);
                    }
                    14 => {
                        varint::put(&mut p, (16 + vals[0] % 3) << 2 | OP_OTHER);
                        varint::put_bytes(&mut p, &bytes);
                    }
                    _ => p.extend_from_slice(&bytes[..bytes.len().min(2)]),
                }
            }
            p
        })
    }

    /// The records the iterator yields, and its error.
    fn by_iterator(records: Records<'_>) -> (Vec<Record<'_>>, Option<RecordError>) {
        let mut out = Vec::new();
        for r in records {
            match r {
                Ok(r) => out.push(r),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    /// A sink that takes every specialised method, and debug records only if `debug`.
    struct Specialised<'a> {
        got: Vec<Record<'a>>,
        debug: bool,
    }

    impl<'a> RecordSink<'a> for Specialised<'a> {
        fn call(&mut self, op: CallOp, func: u32, time_ns: u64) {
            EveryRecord(|r| self.got.push(r)).call(op, func, time_ns)
        }
        fn other(&mut self, rec: Record<'a>) {
            assert!(!matches!(rec.kind, EventKind::Suspend(_) | EventKind::Resume(_) | EventKind::Line { .. }));
            assert!(self.debug || !matches!(rec.kind, EventKind::Debug { .. }));
            self.got.push(rec)
        }
        fn suspend(&mut self, func: u32, time_ns: u64) {
            self.got.push(Record { time_ns, kind: EventKind::Suspend(FuncRef::Id(func)) })
        }
        fn resume(&mut self, func: u32, time_ns: u64) {
            self.got.push(Record { time_ns, kind: EventKind::Resume(FuncRef::Id(func)) })
        }
        fn line(&mut self, func: u32, line: u32, duration_ns: u64, time_ns: u64) {
            self.got.push(Record { time_ns, kind: EventKind::Line { func: FuncRef::Id(func), line, duration_ns } })
        }
        fn wants_debug(&self) -> bool {
            self.debug
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// `try_for_each` (every sink, every decode path) sees the records the iterator yields and stops at the
        /// same error, at the same offset; a sink that skips debug records sees all the others.
        #[test]
        fn try_for_each_agrees_with_the_iterator(p in payload(), base in 0u64..1 << 40) {
            let records = Records { payload: &p, pos: 0, time: base, payload_offset: 40, failed: false };
            let (want, want_err) = by_iterator(records.clone());
            for debug in [true, false] {
                let want: Vec<_> =
                    want.iter().copied().filter(|r| debug || !matches!(r.kind, EventKind::Debug { .. })).collect();
                let mut sink = Specialised { got: Vec::new(), debug };
                let err = records.clone().try_for_each(&mut sink).err();
                proptest::prop_assert_eq!(&sink.got, &want);
                proptest::prop_assert_eq!(&err, &want_err);
                // Every decoder this CPU can run, whichever `try_for_each` chose.
                for path in DecodePath::ALL {
                    let mut sink = Specialised { got: Vec::new(), debug };
                    if let Some(result) = records.clone().try_for_each_by(path, &mut sink) {
                        proptest::prop_assert_eq!(&sink.got, &want, "{:?}", path);
                        proptest::prop_assert_eq!(&result.err(), &want_err, "{:?}", path);
                    }
                }
            }
            let mut got = Vec::new();
            let err = records.clone().try_for_each_record(|r| got.push(r)).err();
            proptest::prop_assert_eq!(&got, &want);
            proptest::prop_assert_eq!(&err, &want_err);
        }
    }
}
