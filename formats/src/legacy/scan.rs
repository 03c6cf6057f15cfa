//! Finding a line's end, its first nine `;` and whether it is all ASCII in one pass over its bytes, 32 at a
//! time (SSE2 on x86_64, plain bit tricks elsewhere), instead of one pass per question (memchr for the `\n`, a
//! loop for ASCII, a search per column). [`super::lines`] reads every line through this; what it finds is only
//! used when the line is ASCII with at least nine `;` (nearly every line of a real log), otherwise the line
//! goes to the exact parser, so the answers never differ (property-tested against it).

use super::line::SEPARATORS_BEFORE_MESSAGE;

/// Bytes looked at per step.
const BLOCK: usize = 32;

/// What one pass over a line found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineScan {
    /// The line's length: the position of its `\n`, or all of the input when there is none.
    pub len: usize,
    /// Positions of the line's first `count` `;`.
    pub seps: [usize; SEPARATORS_BEFORE_MESSAGE],
    pub count: usize,
    /// Whether every byte of the line is ASCII.
    pub ascii: bool,
}

/// Bit `i` set where `block[i]` is `;`, where it is `\n`, and where it is not ASCII.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks(block: &[u8; BLOCK]) -> (u32, u32, u32) {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    // SAFETY: SSE2 is part of the x86_64 baseline, so these instructions always exist; the two unaligned loads
    // read bytes 0..16 and 16..32 of `block`, which holds 32.
    unsafe {
        let (lo, hi) = (_mm_loadu_si128(block.as_ptr().cast()), _mm_loadu_si128(block.as_ptr().add(16).cast()));
        let both = |v| _mm_movemask_epi8(v) as u32 & 0xFFFF;
        let (semi, newline) = (_mm_set1_epi8(b';' as i8), _mm_set1_epi8(b'\n' as i8));
        (
            both(_mm_cmpeq_epi8(lo, semi)) | both(_mm_cmpeq_epi8(hi, semi)) << 16,
            both(_mm_cmpeq_epi8(lo, newline)) | both(_mm_cmpeq_epi8(hi, newline)) << 16,
            both(lo) | both(hi) << 16,
        )
    }
}

/// [`masks`] in one 32-byte AVX2 register instead of two SSE2 ones: half the compares and mask moves. Only for
/// code compiled with AVX2 enabled (see [`scan_limited_avx2`]), on CPUs that have it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn masks_avx2(block: &[u8; BLOCK]) -> (u32, u32, u32) {
    use std::arch::x86_64::{_mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8};
    // SAFETY: the unaligned load reads bytes 0..32 of `block`, which holds 32; AVX2 is enabled for this function,
    // which only runs where the CPU has it.
    unsafe {
        let v = _mm256_loadu_si256(block.as_ptr().cast());
        (
            _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(b';' as i8))) as u32,
            _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\n' as i8))) as u32,
            _mm256_movemask_epi8(v) as u32,
        )
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn masks(block: &[u8; BLOCK]) -> (u32, u32, u32) {
    masks_portable(block)
}

/// [`masks`] byte by byte: what other targets use, and the reference the SSE2 one is tested against.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn masks_portable(block: &[u8; BLOCK]) -> (u32, u32, u32) {
    let (mut semi, mut newline, mut high) = (0u32, 0u32, 0u32);
    for (i, &b) in block.iter().enumerate() {
        semi |= u32::from(b == b';') << i;
        newline |= u32::from(b == b'\n') << i;
        high |= u32::from(b >= 0x80) << i;
    }
    (semi, newline, high)
}

/// Scans the line at the start of `rest` (see [`LineScan`]), keeping only its first `limit` (at most
/// [`SEPARATORS_BEFORE_MESSAGE`]) `;`: fewer for the rest of a line whose first columns are known (see
/// [`super::lines`]).
#[inline(always)]
pub(crate) fn scan_limited(rest: &[u8], limit: usize) -> LineScan {
    scan_line_limited(rest, masks, limit)
}

/// [`scan_limited`] through [`masks_avx2`]: inlined into callers compiled with AVX2 enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn scan_limited_avx2(rest: &[u8], limit: usize) -> LineScan {
    scan_line_limited(rest, |block| masks_avx2(block), limit)
}

/// Whether `rest` starts with `prefix`, 32 bytes per compare (the last compare overlapping the one before it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn starts_with_avx2(rest: &[u8], prefix: &[u8]) -> bool {
    use std::arch::x86_64::{_mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8};
    let n = prefix.len();
    if n < BLOCK || rest.len() < n {
        return rest.starts_with(prefix);
    }
    let same = |at: usize| match (rest[at..].first_chunk::<BLOCK>(), prefix[at..].first_chunk::<BLOCK>()) {
        // SAFETY: each unaligned load reads the 32 bytes of an array of 32; AVX2 is enabled for this function,
        // which only runs where the CPU has it.
        (Some(a), Some(b)) => unsafe {
            let (a, b) = (_mm256_loadu_si256(a.as_ptr().cast()), _mm256_loadu_si256(b.as_ptr().cast()));
            _mm256_movemask_epi8(_mm256_cmpeq_epi8(a, b)) == -1
        },
        _ => false,
    };
    let mut at = 0;
    while at + BLOCK < n {
        if !same(at) {
            return false;
        }
        at += BLOCK;
    }
    same(n - BLOCK)
}

/// The scan, keeping the first `limit` (at most [`SEPARATORS_BEFORE_MESSAGE`]) `;`.
#[inline(always)]
fn scan_line_limited(rest: &[u8], masks: impl Fn(&[u8; BLOCK]) -> (u32, u32, u32), limit: usize) -> LineScan {
    let mut scan = LineScan { len: rest.len(), seps: [0; SEPARATORS_BEFORE_MESSAGE], count: 0, ascii: true };
    let mut base = 0;
    let mut padded = [0u8; BLOCK];
    loop {
        let block = match rest.get(base..).and_then(|r| r.first_chunk::<BLOCK>()) {
            Some(block) => block,
            None => {
                // The last bytes of the input, padded with NULs (neither `;`, `\n` nor non-ASCII).
                let tail = rest.get(base..).unwrap_or_default();
                padded[..tail.len()].copy_from_slice(tail);
                &padded
            }
        };
        let (semi, newline, high) = masks(block);
        // Only the bytes before the line's `\n` belong to it.
        let in_line = if newline == 0 { u32::MAX } else { (1u32 << newline.trailing_zeros()) - 1 };
        scan.ascii &= high & in_line == 0;
        let mut semi = semi & in_line;
        while semi != 0 && scan.count < limit {
            let Some(slot) = scan.seps.get_mut(scan.count) else { break };
            *slot = base + semi.trailing_zeros() as usize;
            scan.count += 1;
            semi &= semi - 1;
        }
        if newline != 0 {
            scan.len = base + newline.trailing_zeros() as usize;
            return scan;
        }
        base += BLOCK;
        if base >= rest.len() {
            return scan;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the scan must find, the slow way.
    fn expected(rest: &[u8]) -> LineScan {
        let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let line = &rest[..len];
        let mut seps = [0; SEPARATORS_BEFORE_MESSAGE];
        let mut count = 0;
        for (slot, at) in seps.iter_mut().zip(memchr::memchr_iter(b';', line)) {
            *slot = at;
            count += 1;
        }
        LineScan { len, seps, count, ascii: line.is_ascii() }
    }

    /// Bytes where `;`, `\n` and non-ASCII are common, at lengths around the block size.
    fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![6 => b'a'..=b'z', 2 => Just(b';'), 1 => Just(b'\n'), 1 => any::<u8>()];
        proptest::collection::vec(byte, 0..140)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn agrees_with_the_slow_way(rest in line_bytes(), from in 0usize..8) {
            let rest = rest.get(from..).unwrap_or_default();
            prop_assert_eq!(scan_limited(rest, SEPARATORS_BEFORE_MESSAGE), expected(rest));
            prop_assert_eq!(scan_line_limited(rest, masks_portable, SEPARATORS_BEFORE_MESSAGE), expected(rest));
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                prop_assert_eq!(unsafe { scan_limited_avx2(rest, SEPARATORS_BEFORE_MESSAGE) }, expected(rest));
            }
        }

        /// The rest of a line: its end and ASCII as the whole scan finds them, its first `limit` `;` only.
        #[test]
        fn the_rest_is_scanned_as_the_line(rest in line_bytes(), limit in 0..=SEPARATORS_BEFORE_MESSAGE) {
            let mut want = expected(&rest);
            want.count = want.count.min(limit);
            want.seps[limit..].fill(0);
            prop_assert_eq!(scan_limited(&rest, limit), want);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                prop_assert_eq!(unsafe { scan_limited_avx2(&rest, limit) }, want);
            }
        }

        /// `starts_with_avx2` is `starts_with`, on prefixes around the block size that mostly match.
        #[cfg(target_arch = "x86_64")]
        #[test]
        fn starts_with_avx2_is_starts_with(
            rest in proptest::collection::vec(prop_oneof![8 => Just(b'a'), 1 => any::<u8>()], 0..140),
            len in 0usize..140,
            flip in proptest::option::of(0usize..140),
        ) {
            let mut prefix: Vec<u8> = rest.iter().copied().take(len).collect();
            prefix.resize(len, b'a');
            if let Some(at) = flip.filter(|&at| at < prefix.len()) {
                prefix[at] ^= 1;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                prop_assert_eq!(unsafe { starts_with_avx2(&rest, &prefix) }, rest.starts_with(&prefix));
            }
        }

        #[test]
        fn masks_agree_with_the_portable_ones(block in proptest::array::uniform32(prop_oneof![
            Just(b';'), Just(b'\n'), Just(0x7f), Just(0x80), Just(0xff), any::<u8>()
        ])) {
            prop_assert_eq!(masks(&block), masks_portable(&block));
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                prop_assert_eq!(unsafe { masks_avx2(&block) }, masks_portable(&block));
            }
        }
    }

    #[test]
    fn empty_and_blank() {
        let scan_line = |rest| scan_limited(rest, SEPARATORS_BEFORE_MESSAGE);
        assert_eq!(scan_line(b""), expected(b""));
        assert_eq!(scan_line(b"\n"), expected(b"\n"));
        assert_eq!(scan_line(&[b';'; 64]), expected(&[b';'; 64]));
    }
}
