//! The scalar decoding loop: the ends of all varints of a 64-byte window from one mask, then each call record of
//! at most 8 bytes decoded from one 8-byte load, its payload bits gathered by shifts and masks ([`Portable`]) or
//! by BMI2's `pext` ([`Pext`]); every other record, and the last bytes of a block, by the general decoder.

use super::call_op;
use crate::binary::block::OP_OTHER;
use crate::binary::reader::{RecordSink, Records};
use crate::error::RecordError;
use crate::varint;

impl<'a> Records<'a> {
    /// Decodes the record at `pos` (the clock at `time`) into `sink` by the general decoder, and returns the
    /// position and clock after it. Position and clock are passed rather than kept in `self`, so that they stay in
    /// registers in the callers' loops.
    #[inline(always)]
    pub(super) fn decode_one<C: GatherPayload>(
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
            let id = crate::binary::reader::records::func_id(h >> 2).map_err(fail)?;
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
    pub(super) fn decode_into<C: GatherPayload>(mut self, sink: &mut impl RecordSink<'a>) -> Result<(), RecordError> {
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
            match self.decode_one::<C>(pos, time, sink) {
                Ok(next) => (pos, time) = next,
                Err(e) => {
                    sink.end(time);
                    return Err(e);
                }
            }
        }
        sink.end(time);
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
pub(super) trait GatherPayload {
    fn gather(w: u64) -> u64;
}

/// Three shift-and-mask steps, each halving the number of groups (8 → 4 → 2 → 1).
pub(super) struct Portable;

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
pub(super) struct Pext;

#[cfg(target_arch = "x86_64")]
impl GatherPayload for Pext {
    #[inline(always)]
    fn gather(w: u64) -> u64 {
        // SAFETY: `Pext` is only used where the CPU has BMI2: by `try_for_each_bmi2`, which `try_for_each` calls
        // only then, and by tests that check first.
        unsafe { std::arch::x86_64::_pext_u64(w, 0x7f7f_7f7f_7f7f_7f7f) }
    }
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
        #[cfg(target_arch = "x86_64")]
        if !std::is_x86_feature_detected!("bmi2") {
            super::super::tests::skip_simd("the pext gather against a naive one", "this CPU lacks BMI2");
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
}
