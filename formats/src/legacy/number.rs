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

/// An unsigned decimal integer made of ASCII digits only (no sign, no spaces), hand-rolled because it runs
/// three times per line.
#[inline]
pub(crate) fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
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

#[inline]
pub(crate) fn parse_u32(text: &[u8]) -> Option<u32> {
    parse_u64(text).and_then(|v| u32::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

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
