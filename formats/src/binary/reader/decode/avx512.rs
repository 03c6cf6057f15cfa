//! Eight call records at a time with AVX-512 (x86_64 CPUs with AVX512-VBMI2: Intel since Ice Lake, AMD since
//! Zen 4), for [`Records::try_for_each`] where it was measured faster (see `cpu::chosen`); and the AVX-512 ASCII
//! check of strings ([`is_ascii`]).
//!
//! A call record is two varints, header `h` then time delta `dt` (docs/FORMAT.md). [`decode_calls`] takes 64
//! bytes that start at a record and decodes the first 16 varints in them as 8 such records, without a branch per
//! record:
//!
//! 1. the varint ends are the bytes whose top bit is clear (one mask), and their positions are packed into the
//!    low bytes of a vector (`vpcompressb` over 0, 1, …, 63), then widened to one 32-bit lane per varint;
//! 2. each lane's start is the previous lane's end + 1; a byte permutation (`vpermb`) brings each varint's (up
//!    to 4) bytes into its lane, and the bytes past its end are zeroed;
//! 3. the low 7 bits of the bytes are joined by two multiply-adds (`vpmaddubsw`: byte pairs into 14 bits;
//!    `vpmaddwd`: word pairs into 28 bits).
//!
//! The records decoded are only used up to the first one the scalar decoders must take instead: another kind
//! of record (`h & 3 == 3`), a varint longer than 4 bytes, or the 16th varint not ending in the 64 bytes.

use std::arch::x86_64::*;

use super::call_op;
use super::scalar::Pext;
use crate::binary::reader::{RecordSink, Records};
use crate::error::RecordError;

/// Varints [`decode_calls`] decodes per step: 8 records.
pub(crate) const LANES: usize = 16;

/// Decodes the call records at the start of `window`. Returns:
/// - the values: record `r`'s header in 32-bit lane `2r`, its delta in lane `2r + 1`;
/// - how many of the 8 records are call records whose varints are at most 4 bytes, counted from the first (the
///   lanes after them are meaningless);
/// - the window's varint-end mask (bit `i` set where byte `i` ends a varint), from which [`bytes_of`] gives
///   their length;
/// - the records' kinds (header & 3), record `r`'s at bits `2r` and `2r + 1`.
///
/// Safety: the CPU must have AVX512F, AVX512BW, AVX512VBMI and AVX512VBMI2.
#[inline(always)]
unsafe fn decode_calls(window: &[u8; 64]) -> (__m512i, usize, u64, u32) {
    // SAFETY: (whole body) the caller guarantees the CPU features; the only memory access is the 64-byte
    // unaligned load from `window`, in bounds by its type.
    unsafe {
        let bytes = _mm512_loadu_si512(window.as_ptr() as *const _);
        let ends = !_mm512_movepi8_mask(bytes);
        let iota = _mm512_set_epi8(
            63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37,
            36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10,
            9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
        );
        // Lane i: the byte that ends varint i (0 in lanes past the last end, which the length check rejects).
        let end = _mm512_cvtepu8_epi32(_mm512_castsi512_si128(_mm512_maskz_compress_epi8(ends, iota)));
        // Lane i: end of lane i - 1, plus one; 0 in lane 0.
        let start = _mm512_alignr_epi32::<15>(_mm512_add_epi32(end, _mm512_set1_epi32(1)), _mm512_setzero_si512());
        // Length - 1: above 3 for a varint over 4 bytes, and (wrapping) for lanes past the last end.
        let too_long = _mm512_cmpgt_epu32_mask(_mm512_sub_epi32(end, start), _mm512_set1_epi32(3));
        // Each lane's 4 byte indices (start, start + 1, …) and its end, repeated in each of its bytes.
        let spread = _mm512_set4_epi32(0x0c0c_0c0c, 0x0808_0808, 0x0404_0404, 0x0000_0000);
        let index = _mm512_add_epi32(_mm512_shuffle_epi8(start, spread), _mm512_set1_epi32(0x0302_0100));
        let last = _mm512_shuffle_epi8(end, spread);
        let own = _mm512_cmple_epu8_mask(index, last);
        let gathered = _mm512_maskz_permutexvar_epi8(own, index, bytes);
        let low7 = _mm512_and_si512(gathered, _mm512_set1_epi8(0x7f));
        // Bytes (b0, b1) → b0 + 128·b1; words (w0, w1) → w0 + 2^14·w1. The 7-bit bytes are the signed operand.
        let pairs = _mm512_maddubs_epi16(_mm512_set1_epi16(0x8001u16 as i16), low7);
        let values = _mm512_madd_epi16(pairs, _mm512_set1_epi32(0x4000_0001));
        // Record r's kind (its header's low 2 bits) at bits 2r and 2r + 1; kind 3 is another kind of record.
        let kind_low = _mm512_test_epi32_mask(values, _mm512_set1_epi32(1)) as u32 & 0x5555;
        let kind_high = _mm512_test_epi32_mask(values, _mm512_set1_epi32(2)) as u32 & 0x5555;
        let bad = too_long as u32 | (kind_low & kind_high);
        // A record is usable if neither of its varints is bad; 16 marks "all 8".
        let bad_records = ((bad | bad >> 1) & 0x5555) | 0x1_0000;
        (values, bad_records.trailing_zeros() as usize / 2, ends, kind_low | kind_high << 1)
    }
}

/// The bytes taken by the first `varints` varints (at least 1) of a window whose varint-end mask is `ends`.
///
/// Safety: the CPU must have BMI2, and `ends` must have at least `varints` bits set.
#[inline(always)]
unsafe fn bytes_of(ends: u64, varints: usize) -> usize {
    // SAFETY: the caller guarantees BMI2. `pdep` puts bit `varints - 1` on the `varints`-th end.
    unsafe { _pdep_u64(1 << (varints - 1), ends).trailing_zeros() as usize + 1 }
}

/// What [`decode_calls_at`] decoded (see [`decode_calls`]). The records stay in registers until they are handed
/// over: read back from memory, the kind that the sink branches on would wait for the decoded vector's store
/// (taking the kinds from a register mask made the analyzer 5–7 % faster on Zen 4).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    /// The decoded values, low and high half: record `r`'s header and delta are 32-bit lanes `2r` and `2r + 1`
    /// of the two together. Two 256-bit halves rather than one 512-bit value: the step decoded ahead is spilled to
    /// the stack while the current one is handed over, and on Zen 4 (which executes a 512-bit store as two
    /// 256-bit ones) the halves measured 1–2 % faster.
    pub lo: __m256i,
    pub hi: __m256i,
    pub records: usize,
    ends: u64,
    /// Record `r`'s kind at bits `2r` and `2r + 1`.
    pub kinds: u32,
}

impl Step {
    /// Whether all 8 records were decoded.
    #[inline(always)]
    pub fn full(&self) -> bool {
        self.records == LANES / 2
    }

    /// The bytes taken by the records decoded.
    ///
    /// Safety: the CPU must have BMI2.
    #[inline(always)]
    pub unsafe fn bytes(&self) -> usize {
        if self.records > 0 {
            // SAFETY: the caller guarantees BMI2; the window holds the ends of the records decoded.
            unsafe { bytes_of(self.ends, 2 * self.records) }
        } else {
            0
        }
    }

    /// [`Step::bytes`] of a [`Step::full`] step. It depends only on the window's bytes, not on the decoding, so
    /// the next step's load does not wait for this one's decoding (which is most of a step's latency).
    ///
    /// Safety: the CPU must have BMI2, and the step must be full.
    #[inline(always)]
    pub unsafe fn bytes_if_full(&self) -> usize {
        // SAFETY: the caller guarantees BMI2; a full step's window holds 16 varint ends.
        unsafe { bytes_of(self.ends, LANES) }
    }
}

/// [`decode_calls`] on the 64 bytes at `pos` of `payload`; no records when fewer than 64 bytes are left.
///
/// Safety: as [`decode_calls`].
#[inline(always)]
pub(crate) unsafe fn decode_calls_at(payload: &[u8], pos: usize) -> Step {
    // SAFETY: the caller guarantees the CPU features.
    unsafe {
        let Some(window) = payload.get(pos..pos + 64) else {
            return Step { lo: _mm256_setzero_si256(), hi: _mm256_setzero_si256(), records: 0, ends: 0, kinds: 0 };
        };
        let (values, records, ends, kinds) = decode_calls(window.try_into().expect("64 bytes"));
        Step { lo: _mm512_castsi512_si256(values), hi: _mm512_extracti64x4_epi64::<1>(values), records, ends, kinds }
    }
}

/// Whether `bytes` are all ASCII, 64 at a time, the last (or only) piece by a masked load, so a short string —
/// most of a trace's are names and short values — costs one load and no loop. Checking the strings of the debug
/// records a report does not show took `<[u8]>::is_ascii` 1.5 % of the analyzer's time.
///
/// Safety: the CPU must have AVX512F and AVX512BW.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn is_ascii(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(64);
    // SAFETY: the CPU features are the caller's contract; the full loads read `chunk`'s 64 bytes, the masked load
    // only the remainder's bytes (masked-off bytes are not accessed, so they cannot fault).
    unsafe {
        let mut high = _mm512_setzero_si512();
        for chunk in &mut chunks {
            high = _mm512_or_si512(high, _mm512_loadu_si512(chunk.as_ptr().cast()));
        }
        let rest = chunks.remainder();
        let mask = (1u64 << rest.len()) - 1;
        high = _mm512_or_si512(high, _mm512_maskz_loadu_epi8(mask, rest.as_ptr().cast()));
        _mm512_movepi8_mask(high) == 0
    }
}

/// Whether the CPU has everything [`decode_calls`] and [`bytes_of`] use.
pub(crate) fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vbmi")
            && std::is_x86_feature_detected!("avx512vbmi2")
    })
}

/// Hands the records of an AVX-512 step to `sink`, each taken from the registers that hold them (see
/// [`Step`]) rather than stored and reloaded.
///
/// A full step is written out record by record rather than as a loop, so that each of its eight records has
/// a branch on its kind of its own (in the sink, inlined): 3–4 % faster on the generator's traces (one file, one
/// core: 0.62–0.64 → 0.59–0.61 s), for 9 KB more code.
///
/// Safety: the CPU must have AVX512F.
#[inline(always)]
unsafe fn hand_over<'a>(step: &Step, time: &mut u64, sink: &mut impl RecordSink<'a>) {
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

impl<'a> Records<'a> {
    /// [`Records::try_for_each`] with call records decoded eight at a time (see the module). Safety: the
    /// CPU must have BMI1, BMI2, AVX512F, AVX512BW, AVX512VBMI and AVX512VBMI2.
    #[target_feature(enable = "bmi1,bmi2,avx512f,avx512bw,avx512vbmi,avx512vbmi2")]
    pub(super) unsafe fn try_for_each_avx512(mut self, sink: &mut impl RecordSink<'a>) -> Result<(), RecordError> {
        let payload = self.payload;
        let mut time = self.time;
        let mut pos = self.pos;
        while pos < payload.len() {
            // SAFETY: here and below, the CPU has the features `decode_calls_at`, `Step::bytes*` and `hand_over`
            // need (this function's contract); they touch only `payload`'s bytes, by bounds-checked slices.
            let mut step = unsafe { decode_calls_at(payload, pos) };
            if step.records == 0 {
                // Another kind of record, a long varint, or the last bytes of the block.
                match self.decode_one::<Pext>(pos, time, sink) {
                    Ok(next) => (pos, time) = next,
                    Err(e) => {
                        sink.end(time);
                        return Err(e);
                    }
                }
                continue;
            }
            // While steps decode all eight records, the next eight are decoded before the current eight are
            // handed over: the sink's branch on each record's kind mispredicts often, and a misprediction then
            // does not throw away decoding.
            loop {
                if !step.full() {
                    // SAFETY: as above (BMI2).
                    pos += unsafe { step.bytes() };
                    // SAFETY: as above (AVX512F).
                    unsafe { hand_over(&step, &mut time, sink) };
                    break;
                }
                // SAFETY: as above (BMI2; the step is full).
                pos += unsafe { step.bytes_if_full() };
                // SAFETY: as above.
                let next = unsafe { decode_calls_at(payload, pos) };
                // SAFETY: as above (AVX512F).
                unsafe { hand_over(&step, &mut time, sink) };
                step = next;
            }
        }
        sink.end(time);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::skip_simd;
    use super::*;

    #[test]
    fn is_ascii_agrees_with_the_slice_method() {
        if !available() {
            skip_simd("AVX-512 is_ascii against <[u8]>::is_ascii", "this CPU lacks AVX512F, BW, VBMI or VBMI2");
            return;
        }
        let mut bytes = vec![b'a'; 300];
        for len in 0..bytes.len() {
            // SAFETY: `available()` checked the features.
            assert!(unsafe { is_ascii(&bytes[..len]) }, "len {len}");
            for at in 0..len {
                bytes[at] = 0x80;
                // SAFETY: as above.
                assert!(!unsafe { is_ascii(&bytes[..len]) }, "len {len}, high byte at {at}");
                // A high byte just past the end is not looked at.
                // SAFETY: as above.
                assert!(unsafe { is_ascii(&bytes[..at]) }, "len {at}, high byte after it");
                bytes[at] = b'a';
            }
        }
    }

    /// The first 16 varints that end in `window`, each as (value, length), decoded one byte at a time.
    fn varints(window: &[u8; 64]) -> Vec<(u64, usize)> {
        let mut out = Vec::new();
        let (mut value, mut len) = (0u64, 0usize);
        for &b in window {
            if len < 9 {
                value |= ((b & 0x7f) as u64) << (7 * len);
            }
            len += 1;
            if b & 0x80 == 0 {
                out.push((value, len));
                if out.len() == LANES {
                    break;
                }
                (value, len) = (0, 0);
            }
        }
        out
    }

    #[test]
    fn eight_records_agree_with_a_byte_at_a_time_decoder() {
        if !(available() && std::is_x86_feature_detected!("bmi2")) {
            skip_simd(
                "the 8-record AVX-512 decoder against a byte-at-a-time one",
                "this CPU lacks AVX512-VBMI2 or BMI2",
            );
            return;
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200_000 {
            // Varints of 1 to 6 bytes (mostly short), headers of every kind.
            let mut window = [0u8; 64];
            let mut at = 0;
            while at < 64 {
                let r = next();
                let len = if r % 8 == 0 { 1 + (r >> 3) as usize % 6 } else { 1 + (r >> 3) as usize % 2 };
                for k in 0..len.min(64 - at) {
                    let low = (r >> (16 + 7 * k)) as u8 & 0x7f;
                    window[at + k] = if k + 1 < len { low | 0x80 } else { low };
                }
                at += len;
            }
            if round % 3 == 0 {
                // No kind 3 headers: long runs of call records.
                let mut at = 0;
                for (i, (_, len)) in varints(&window).into_iter().enumerate() {
                    if i % 2 == 0 && window[at] & 3 == 3 {
                        window[at] &= !1;
                    }
                    at += len;
                }
            }
            let want = varints(&window);
            let mut good = 0;
            while good < LANES / 2 && 2 * good + 1 < want.len() {
                let (h, hl) = want[2 * good];
                let (_, dl) = want[2 * good + 1];
                if h & 3 == 3 || hl > 4 || dl > 4 {
                    break;
                }
                good += 1;
            }
            let mut out = [0u32; LANES];
            // SAFETY: the CPU has the features (checked above); the store is of 64 bytes into `out`.
            let (records, ends, kinds) = unsafe {
                let (values, records, ends, kinds) = decode_calls(&window);
                _mm512_storeu_si512(out.as_mut_ptr() as *mut _, values);
                (records, ends, kinds)
            };
            assert_eq!(records, good, "window {window:02x?}");
            for (i, &(value, _)) in want[..2 * good].iter().enumerate() {
                assert_eq!(out[i] as u64, value, "varint {i} of window {window:02x?}");
                if i % 2 == 0 {
                    assert_eq!((kinds >> i) as u64 & 3, value & 3, "kind of record {} of window {window:02x?}", i / 2);
                }
            }
            if good > 0 {
                let bytes: usize = want[..2 * good].iter().map(|&(_, len)| len).sum();
                // SAFETY: as above; the window has at least `2 * good` varint ends.
                assert_eq!(unsafe { bytes_of(ends, 2 * good) }, bytes);
            }
        }
    }
}
