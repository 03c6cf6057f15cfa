//! The fast decoding loops over a block's records ([`Records::try_for_each`]) and which one runs on this CPU.
//!
//! - `scalar`: a 64-byte window's varint ends from one mask, each call record's payload bits gathered by shifts
//!   and masks (`Portable`, any CPU) or by BMI2's `pext` (`Pext`);
//! - `avx512`: eight call records at a time (AVX512-VBMI2), one step decoded ahead of handing the last over;
//!   also the AVX-512 ASCII check of strings that are checked but not kept;
//! - `cpu`: what the CPU has, and which loop is chosen (see `cpu::chosen`).

#[cfg(target_arch = "x86_64")]
mod avx512;
mod cpu;
mod scalar;

use super::records::EveryRecord;
use super::{CallOp, Record, RecordSink, Records};
use crate::binary::block::{OP_ENTER, OP_EXIT};
use crate::error::RecordError;
#[cfg(target_arch = "x86_64")]
use scalar::Pext;
use scalar::Portable;

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

    /// The name `PYLU_DECODER` takes: `portable`, `pext` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            DecodePath::Portable => "portable",
            DecodePath::Bmi2 => "pext",
            DecodePath::Avx512 => "avx512",
        }
    }
}

/// What a call record's header `h` (or its first byte: the op is its low 2 bits) says happened.
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
    /// time by measured speed on the CPU (module `cpu`): for CPUs with a fast BMI2 `pext` (Intel since Haswell,
    /// AMD since Zen 3), which gathers a record's payload bits in one instruction (the analyzer runs ~10 %
    /// faster); and, for CPUs with AVX512-VBMI2 where it was measured faster (AMD's Zen 4 on: another ~15 %,
    /// see docs/performance-log.md), a loop that decodes call records eight at a time, one step ahead of handing
    /// them over (module `avx512`).
    #[inline(always)]
    pub fn try_for_each(self, sink: &mut impl RecordSink<'a>) -> Result<(), RecordError> {
        match cpu::chosen() {
            #[cfg(target_arch = "x86_64")]
            DecodePath::Avx512 => {
                // SAFETY: `chosen` returns a decoder only if `can_run` holds for it: the CPU has BMI1, BMI2 and
                // AVX-512 F, BW, VBMI and VBMI2.
                unsafe { self.try_for_each_avx512(sink) }
            }
            #[cfg(target_arch = "x86_64")]
            DecodePath::Bmi2 => {
                // SAFETY: as above, the CPU has BMI1 and BMI2.
                unsafe { self.try_for_each_bmi2(sink) }
            }
            _ => self.decode_into::<Portable>(sink),
        }
    }

    /// [`Records::try_for_each`] by the decoder `path`, whatever the CPU would choose; `None` when the CPU
    /// cannot run it. For tests and fuzzing, which check every decoder against the iterator.
    #[doc(hidden)]
    pub fn try_for_each_by(self, path: DecodePath, sink: &mut impl RecordSink<'a>) -> Option<Result<(), RecordError>> {
        if !cpu::can_run(path) {
            return None;
        }
        match path {
            #[cfg(target_arch = "x86_64")]
            DecodePath::Bmi2 => {
                // SAFETY: the CPU has BMI1 and BMI2 (`can_run`, just checked).
                Some(unsafe { self.try_for_each_bmi2(sink) })
            }
            #[cfg(target_arch = "x86_64")]
            DecodePath::Avx512 => {
                // SAFETY: the CPU has BMI1, BMI2 and the AVX-512 extensions (`can_run`, just checked).
                Some(unsafe { self.try_for_each_avx512(sink) })
            }
            _ => Some(self.decode_into::<Portable>(sink)),
        }
    }

    /// [`Records::try_for_each`] compiled for BMI1 and BMI2. Safety: the CPU must have both.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "bmi1,bmi2")]
    unsafe fn try_for_each_bmi2(self, sink: &mut impl RecordSink<'a>) -> Result<(), RecordError> {
        self.decode_into::<Pext>(sink)
    }
}

/// `bytes.is_ascii()`, by AVX-512 where the CPU has it (see `avx512::is_ascii`).
#[inline(always)]
pub(super) fn is_ascii(bytes: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        // SAFETY: `available()` checked AVX512F and AVX512BW (and more).
        return unsafe { avx512::is_ascii(bytes) };
    }
    bytes.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::block::*;
    use crate::event::{EventKind, FuncRef};
    use crate::varint;

    /// Says on a visible line that a SIMD test cannot run on this CPU, or fails it when `PYLU_REQUIRE_SIMD=1` (so
    /// a machine that must test the SIMD paths cannot pass by skipping them). Written to the stderr stream
    /// itself: the test harness captures `eprintln!` of passing tests, not writes to `io::stderr()`.
    pub(super) fn skip_simd(test: &str, why: &str) {
        if std::env::var_os("PYLU_REQUIRE_SIMD").is_some_and(|v| v == "1") {
            panic!("{test} cannot run: {why}, and PYLU_REQUIRE_SIMD=1");
        }
        use std::io::Write as _;
        // A failed write to stderr leaves nothing to report it to.
        let _ = writeln!(std::io::stderr(), "SKIP: {test}: {why} (PYLU_REQUIRE_SIMD=1 makes this a failure)");
    }

    /// [`skip_simd`] for a decoder the proptest below cannot run, once per decoder and process.
    fn skip_simd_once(path: DecodePath) {
        static SAID: [std::sync::Once; 3] = [const { std::sync::Once::new() }; 3];
        SAID[path as usize].call_once(|| {
            skip_simd(&format!("the {} decoder against the iterator", path.name()), "this CPU cannot run it")
        });
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
        /// The times [`RecordSink::end`] was called with.
        ends: Vec<u64>,
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
        fn end(&mut self, time_ns: u64) {
            self.ends.push(time_ns);
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
            // `end` is called once, with the last timed record's time (debug records count, wanted or not).
            let want_end = vec![want.iter().rev().find(|r| r.kind.is_timed()).map_or(base, |r| r.time_ns)];
            for debug in [true, false] {
                let want: Vec<_> =
                    want.iter().copied().filter(|r| debug || !matches!(r.kind, EventKind::Debug { .. })).collect();
                let mut sink = Specialised { got: Vec::new(), debug, ends: Vec::new() };
                let err = records.clone().try_for_each(&mut sink).err();
                proptest::prop_assert_eq!(&sink.got, &want);
                proptest::prop_assert_eq!(&sink.ends, &want_end);
                proptest::prop_assert_eq!(&err, &want_err);
                // Every decoder this CPU can run, whichever `try_for_each` chose.
                for path in DecodePath::ALL {
                    let mut sink = Specialised { got: Vec::new(), debug, ends: Vec::new() };
                    if let Some(result) = records.clone().try_for_each_by(path, &mut sink) {
                        proptest::prop_assert_eq!(&sink.got, &want, "{:?}", path);
                        proptest::prop_assert_eq!(&sink.ends, &want_end, "{:?}", path);
                        proptest::prop_assert_eq!(&result.err(), &want_err, "{:?}", path);
                    } else {
                        skip_simd_once(path);
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
