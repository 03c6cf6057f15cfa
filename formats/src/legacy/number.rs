//! Exact decimal arithmetic for the numbers the original log prints: Python float reprs (`1589113696.048286`,
//! `0.0123456789`, `1e-05`) and `{:.4f}` renderings. Going through `f64` would turn `1589113696.048286` s into
//! `…048285984` ns, so the digits are read as integers and scaled by a power of ten instead.

/// More significant digits than this cannot be held in a u64 mantissa; Python's repr never prints more
/// than 17, so digits past the 19th are dropped (they cannot change the result at ns precision anyway).
const MAX_MANTISSA_DIGITS: u32 = 19;

/// `text` × 10^`scale`, rounded half away from zero, or `None` when `text` is not a finite decimal
/// (`nan`, `inf`, empty, stray characters) or the result does not fit an i64.
pub(crate) fn scaled_decimal(text: &[u8], scale: i32) -> Option<i64> {
    let (negative, body) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let mut mantissa: u64 = 0;
    let mut significant = 0u32;
    let mut exponent: i32 = 0;
    let mut saw_digit = false;
    let mut i = 0;

    while let Some(&b) = body.get(i).filter(|b| b.is_ascii_digit()) {
        saw_digit = true;
        if significant < MAX_MANTISSA_DIGITS {
            mantissa = mantissa * 10 + u64::from(b - b'0');
            significant += u32::from(mantissa != 0);
        } else {
            exponent += 1;
        }
        i += 1;
    }
    if body.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&b) = body.get(i).filter(|b| b.is_ascii_digit()) {
            saw_digit = true;
            if significant < MAX_MANTISSA_DIGITS {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                significant += u32::from(mantissa != 0);
                exponent -= 1;
            }
            i += 1;
        }
    }
    if !saw_digit {
        return None;
    }
    if matches!(body.get(i), Some(b'e' | b'E')) {
        i += 1;
        let exp_negative = match body.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut exp_value: i32 = 0;
        let mut exp_digits = false;
        while let Some(&b) = body.get(i).filter(|b| b.is_ascii_digit()) {
            exp_digits = true;
            // Anything past ±10^4 is out of range whatever the mantissa; cap instead of overflowing.
            exp_value = (exp_value * 10 + i32::from(b - b'0')).min(10_000);
            i += 1;
        }
        if !exp_digits {
            return None;
        }
        exponent += if exp_negative { -exp_value } else { exp_value };
    }
    if i != body.len() {
        return None;
    }

    let magnitude = scale_by_pow10(mantissa, exponent + scale)?;
    let signed = if negative { -(magnitude as i128) } else { magnitude as i128 };
    i64::try_from(signed).ok()
}

/// `mantissa` × 10^`power`, rounded half away from zero.
fn scale_by_pow10(mantissa: u64, power: i32) -> Option<u128> {
    let m = u128::from(mantissa);
    if mantissa == 0 {
        return Some(0);
    }
    if power >= 0 {
        // u64 mantissa × 10^19 still fits a u128; larger cannot fit an i64 anyway.
        if power > 19 {
            return None;
        }
        return m.checked_mul(10u128.pow(power as u32));
    }
    let shift = power.unsigned_abs();
    if shift > 20 {
        // m < 10^19 < 0.5 × 10^20: rounds to zero.
        return Some(0);
    }
    let divisor = 10u128.pow(shift);
    let (quotient, remainder) = (m / divisor, m % divisor);
    Some(quotient + u128::from(remainder * 2 >= divisor))
}

/// 10^0 ..= 10^19 (all that fit a u64).
pub(super) const POW10: [u64; 20] = {
    let mut table = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// [`scaled_decimal`], faster on what the log mostly holds: plain `digits[.digits]` with at most 19 significant
/// digits (epochs such as `1709283600.000039`, durations such as `0.0040531158447265625`), in u64 arithmetic.
/// Anything else goes to [`scaled_decimal`], so the result is always the same as its (property-tested).
#[inline]
pub(crate) fn scaled_decimal_fast(text: &[u8], scale: i32) -> Option<i64> {
    match plain_decimal_prefix(text, scale) {
        Some((v, len)) if len == text.len() => Some(v),
        _ => scaled_decimal(text, scale),
    }
}

/// The longest `digits[.digits]` prefix of `text` × 10^`scale` and its length, when it has at most 19
/// significant digits (what [`scaled_decimal`] would give for that prefix alone); `None` when there is no such
/// prefix or it is not handled here.
#[inline(always)]
pub(crate) fn plain_decimal_prefix(text: &[u8], scale: i32) -> Option<(i64, usize)> {
    if !(0..=19).contains(&scale) {
        return None;
    }
    let (int_value, int_len) = digits_prefix(text);
    let (frac_value, frac_len, len) = match text.get(int_len) {
        Some(b'.') => {
            let (value, n) = digits_prefix(&text[int_len + 1..]);
            (value, n, int_len + 1 + n)
        }
        _ => (0, 0, int_len),
    };
    if int_len + frac_len == 0 {
        return None;
    }
    // Leading zeros are not significant (as in `scaled_decimal`); with at most 19 significant digits the
    // mantissa is exact (no digit dropped), below 10^19, and no digit loop above wrapped.
    let int_significant = int_len - text[..int_len].iter().take_while(|&&b| b == b'0').count();
    let mantissa = if int_significant > 0 {
        if int_significant + frac_len > 19 {
            return None;
        }
        int_value.wrapping_mul(POW10[frac_len]).wrapping_add(frac_value)
    } else {
        let frac = &text[len - frac_len..len];
        if frac_len - frac.iter().take_while(|&&b| b == b'0').count() > 19 {
            return None;
        }
        frac_value
    };
    let power = i64::from(scale) - frac_len as i64;
    let magnitude = if power >= 0 {
        mantissa.checked_mul(POW10[power as usize])?
    } else if power < -19 {
        // mantissa < 10^19 ≤ 0.5 × 10^20: rounds to zero.
        0
    } else {
        // Round half away from zero (`remainder * 2 >= divisor`, without overflowing).
        let divisor = POW10[power.unsigned_abs() as usize];
        let (quotient, remainder) = (mantissa / divisor, mantissa % divisor);
        quotient + u64::from(remainder >= divisor - remainder)
    };
    Some((i64::try_from(magnitude).ok()?, len))
}

/// The value of the leading ASCII digits of `text` and how many there are. The value wraps past 19 digits:
/// callers count the digits and refuse more.
#[inline(always)]
fn digits_prefix(text: &[u8]) -> (u64, usize) {
    let mut value = 0u64;
    let mut i = 0;
    // Eight digits at a time (SWAR), then one at a time.
    while let Some(word) = text.get(i..i + 8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        match eight_digits(u64::from_le_bytes(bytes)) {
            Some(v) => {
                value = value.wrapping_mul(100_000_000).wrapping_add(v);
                i += 8;
            }
            None => break,
        }
    }
    while let Some(&b) = text.get(i) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    (value, i)
}

/// Eight ASCII digits (the first in the lowest byte, as loaded little-endian) as their value, or `None` when
/// any byte is not a digit.
#[inline(always)]
fn eight_digits(word: u64) -> Option<u64> {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // Each byte is 0x30..=0x39 exactly when its high nibble is 3 and adding 6 keeps it 3.
    if (word & HIGH) | ((word.wrapping_add(0x0606_0606_0606_0606) & HIGH) >> 4) != 0x3333_3333_3333_3333 {
        return None;
    }
    Some(digits_value(word))
}

/// [`eight_digits`] of a word known to be eight ASCII digits.
#[inline(always)]
fn digits_value(word: u64) -> u64 {
    let v = word.wrapping_sub(0x3030_3030_3030_3030);
    // Pairs, then quads, then all eight (each step multiplies the earlier, more significant, lane). No lane
    // overflows into the next (99 < 2^8, 9999 < 2^16); wrapping only spells out that the top lane may.
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    (v.wrapping_mul(10_000) + (v >> 32)) & 0xFFFF_FFFF
}

/// How many of the eight bytes of `word` (the first in the lowest byte) are ASCII digits before the first that
/// is not (8: all are).
#[inline(always)]
pub(super) fn leading_digits(word: u64) -> usize {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    // A byte is a digit when its high nibble is 3 and stays 3 with 6 added (as in `eight_digits`); a carry out of
    // a byte that is not a digit can only spoil the bytes after it, which are not counted.
    let off = ((word & HIGH) ^ THREES) | ((word.wrapping_add(0x0606_0606_0606_0606) & HIGH) ^ THREES);
    // The high bit of each byte of `off` that is not zero (exactly: no borrow crosses bytes).
    let nonzero = (((off & 0x7F7F_7F7F_7F7F_7F7F).wrapping_add(0x7F7F_7F7F_7F7F_7F7F)) | off) & 0x8080_8080_8080_8080;
    (nonzero.trailing_zeros() / 8) as usize
}

/// The value of the first `n` (1 to 8) bytes of `word`, which must be digits: the others are replaced by leading
/// zeros.
#[inline(always)]
pub(super) fn first_digits(word: u64, n: usize) -> u64 {
    debug_assert!((1..=8).contains(&n));
    // The `n` digits moved to the top bytes, `0`s shifted in below them: the same number, eight digits long.
    let shifted = if n == 8 { word } else { (word << ((8 - n) * 8)) | (0x3030_3030_3030_3030u64 >> (n * 8)) };
    digits_value(shifted)
}

/// An unsigned decimal integer made of ASCII digits only (no sign, no spaces), hand-rolled because it runs
/// three times per line.
#[inline]
pub(crate) fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    if text.len() <= 19 {
        // Below 10^19: cannot overflow.
        let (value, n) = digits_prefix(text);
        return (n == text.len()).then_some(value);
    }
    let mut value: u64 = 0;
    for &b in text {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

/// [`parse_u64`] within u32. Up to nine digits (a line number, a pid) in one loop, inlined: no nine-digit number
/// overflows a u32, and the eight-at-a-time path of `parse_u64` never applies to a line number's few digits.
#[inline(always)]
pub(crate) fn parse_u32(text: &[u8]) -> Option<u32> {
    if (1..=9).contains(&text.len()) {
        let mut value = 0u32;
        for &b in text {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            value = value * 10 + u32::from(digit);
        }
        return Some(value);
    }
    parse_u64(text).and_then(|v| u32::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn epoch_seconds_are_exact() {
        assert_eq!(scaled_decimal(b"1589113696.048286", 9), Some(1_589_113_696_048_286_000));
        assert_eq!(scaled_decimal(b"1589113696.0", 9), Some(1_589_113_696_000_000_000));
        assert_eq!(scaled_decimal(b"1589113696", 9), Some(1_589_113_696_000_000_000));
        assert_eq!(scaled_decimal(b"1.5891136960482862e+09", 9), Some(1_589_113_696_048_286_200));
    }

    #[test]
    fn milliseconds_round_to_nanoseconds() {
        assert_eq!(scaled_decimal(b"0.0123456789", 6), Some(12_346));
        assert_eq!(scaled_decimal(b"0.0123454", 6), Some(12_345));
        assert_eq!(scaled_decimal(b"1e-05", 6), Some(10));
        assert_eq!(scaled_decimal(b"2.5e-07", 6), Some(0));
        assert_eq!(scaled_decimal(b"5e-07", 6), Some(1));
        assert_eq!(scaled_decimal(b"12.5", 6), Some(12_500_000));
        assert_eq!(scaled_decimal(b"0.0000", 6), Some(0));
        assert_eq!(scaled_decimal(b"-0.0015", 6), Some(-1_500));
        assert_eq!(scaled_decimal(b"1E3", 0), Some(1000));
        assert_eq!(scaled_decimal(b".5", 0), Some(1));
        assert_eq!(scaled_decimal(b"5.", 0), Some(5));
    }

    #[test]
    fn non_numbers_are_refused() {
        for bad in [&b""[..], b"-", b".", b"nan", b"inf", b"1e", b"1e+", b"1.2.3", b"1 ", b"0x10", b"1e-5x"] {
            assert_eq!(scaled_decimal(bad, 9), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn out_of_range_is_refused_not_wrapped() {
        assert_eq!(scaled_decimal(b"1e30", 9), None);
        assert_eq!(scaled_decimal(b"99999999999999999999", 9), None);
        assert_eq!(scaled_decimal(b"1e99999999999", 0), None);
        assert_eq!(scaled_decimal(b"1e-99999999999", 0), Some(0));
        assert_eq!(scaled_decimal(b"0e999", 0), Some(0));
    }

    /// The digit loop `parse_u64` had before its fast path: the reference it must agree with.
    fn parse_u64_reference(text: &[u8]) -> Option<u64> {
        if text.is_empty() || text.len() > 20 {
            return None;
        }
        text.iter().try_fold(0u64, |value, &b| {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            value.checked_mul(10)?.checked_add(u64::from(digit))
        })
    }

    #[test]
    fn fast_decimals_on_the_log_s_numbers() {
        assert_eq!(scaled_decimal_fast(b"1709283600.000039", 9), Some(1_709_283_600_000_039_000));
        assert_eq!(scaled_decimal_fast(b"0.0040531158447265625", 6), Some(4_053));
        assert_eq!(scaled_decimal_fast(b"0.00286102294921875", 6), Some(2_861));
        // Each of these is handled by the fast case (not only by the fallback).
        for (text, scale, expected) in [
            (&b"1709283600.000039"[..], 9, 1_709_283_600_000_039_000),
            (b"0.0040531158447265625", 6, 4_053),
            (b"12", 0, 12),
            (b".5", 0, 1),
            // 19 significant digits, shifted by 19 and 20 places: the largest divisions, and past them.
            (b"0.5000000000000000000", 0, 1),
            (b"0.4999999999999999999", 0, 0),
            (b"0.05000000000000000000", 0, 0),
            (b"9999999999999999999", 0, -1),
            (b"000", 0, 0),
            (b"00.000", 6, 0),
            (b"007.5", 0, 8),
        ] {
            let expected = (expected >= 0).then_some(expected);
            assert_eq!(
                plain_decimal_prefix(text, scale).map(|(v, _)| v),
                expected,
                "{}",
                String::from_utf8_lossy(text)
            );
            assert_eq!(scaled_decimal(text, scale), expected, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn leading_and_first_digits() {
        let w = |s: &[u8; 8]| u64::from_le_bytes(*s);
        assert_eq!(leading_digits(w(b"0.002861")), 1);
        assert_eq!(leading_digits(w(b"12345678")), 8);
        assert_eq!(leading_digits(w(b";2345678")), 0);
        assert_eq!(leading_digits(w(b"123\xff5678")), 3);
        assert_eq!(first_digits(w(b"0.002861"), 1), 0);
        assert_eq!(first_digits(w(b"4271;abc"), 4), 4271);
        assert_eq!(first_digits(w(b"00286102"), 8), 286_102);
        assert_eq!(first_digits(w(b"0028610x"), 7), 28_610);
    }

    #[test]
    fn eight_digits_edges() {
        assert_eq!(eight_digits(u64::from_le_bytes(*b"12345678")), Some(12_345_678));
        assert_eq!(eight_digits(u64::from_le_bytes(*b"99999999")), Some(99_999_999));
        assert_eq!(eight_digits(u64::from_le_bytes(*b"00000000")), Some(0));
        for bad in [b"1234567/", b"1234567:", b"/2345678", b":2345678", b"\xff2345678", b"1234\xfa678", b"1234 678"] {
            assert_eq!(eight_digits(u64::from_le_bytes(*bad)), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// Bytes that make numbers, near-numbers and the borders of the digit range.
    fn number_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            8 => b'0'..=b'9',
            3 => Just(b'0'),
            2 => Just(b'.'),
            1 => prop::sample::select(vec![b'e', b'E', b'+', b'-', b'/', b':', b' ', 0x00, 0x80, 0xfa, 0xff]),
        ];
        proptest::collection::vec(byte, 0..32)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn fast_decimal_agrees_with_the_general_one(text in number_bytes(), scale in -2i32..22) {
            prop_assert_eq!(scaled_decimal_fast(&text, scale), scaled_decimal(&text, scale));
        }

        #[test]
        fn fast_decimal_agrees_on_plain_numbers(
            int in "0{0,3}[0-9]{0,12}", frac in "0{0,8}[0-9]{0,16}", dot in any::<bool>(), scale in 0i32..20,
        ) {
            let text = if dot { format!("{int}.{frac}") } else { format!("{int}{frac}") };
            prop_assert_eq!(scaled_decimal_fast(text.as_bytes(), scale), scaled_decimal(text.as_bytes(), scale));
        }

        #[test]
        fn fast_decimal_agrees_at_19_significant_digits(
            zeros in "0{0,3}", sig in "[1-9][0-9]{17,19}", point in 0usize..24, scale in 0i32..20,
        ) {
            let digits = format!("{zeros}{sig}");
            let text = format!("{}.{}", &digits[..point.min(digits.len())], &digits[point.min(digits.len())..]);
            prop_assert_eq!(scaled_decimal_fast(text.as_bytes(), scale), scaled_decimal(text.as_bytes(), scale));
        }

        #[test]
        fn fast_integers_agree_with_the_digit_loop(text in number_bytes()) {
            prop_assert_eq!(parse_u64(&text), parse_u64_reference(&text));
            prop_assert_eq!(parse_u32(&text), parse_u64_reference(&text).and_then(|v| u32::try_from(v).ok()));
        }

        #[test]
        fn fast_integers_agree_on_long_numbers(text in "[0-9]{15,21}") {
            prop_assert_eq!(parse_u64(text.as_bytes()), parse_u64_reference(text.as_bytes()));
        }

        #[test]
        fn leading_and_first_digits_agree_with_the_digit_loop(word in proptest::array::uniform8(prop_oneof![
            6 => b'0'..=b'9', 1 => any::<u8>(), 1 => Just(b'.'), 1 => Just(b'/'), 1 => Just(b':'), 1 => Just(0xffu8),
        ])) {
            let n = word.iter().take_while(|b| b.is_ascii_digit()).count();
            prop_assert_eq!(leading_digits(u64::from_le_bytes(word)), n);
            if n > 0 {
                let value = word[..n].iter().fold(0u64, |v, &b| v * 10 + u64::from(b - b'0'));
                prop_assert_eq!(first_digits(u64::from_le_bytes(word), n), value);
            }
        }

        #[test]
        fn eight_digits_agrees_with_the_digit_loop(word in proptest::array::uniform8(prop_oneof![
            6 => b'0'..=b'9',
            1 => any::<u8>(),
            1 => prop::sample::select(vec![b'/', b':', 0x2f, 0x3a, 0x3f, 0x40, 0xfa, 0xff, 0x00]),
        ])) {
            let expected = parse_u64_reference(&word);
            prop_assert_eq!(eight_digits(u64::from_le_bytes(word)), expected);
        }
    }

    #[test]
    fn integers() {
        assert_eq!(parse_u64(b"140000000451001"), Some(140_000_000_451_001));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u32(b"4294967296"), None);
    }
}
