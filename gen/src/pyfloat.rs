//! Floats printed the way Python prints them, so generated logs read like the original's: `repr(float)`
//! (what `'{}'.format(x)` gives) is the shortest round-trip text, in positional form for decimal exponents
//! -4..16 and as `1e-05` / `1.5e+16` otherwise, and always shows a fraction (`12.0`).

use std::fmt::Write;

/// Appends `repr(value)` to `out`. Non-finite values print as Python does (`nan`, `inf`, `-inf`).
pub(crate) fn push_repr(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("nan");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // Rust's `{:e}` is the same shortest round-trip digit string, just always in scientific form.
    let mut scientific = String::with_capacity(32);
    let _ = write!(scientific, "{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exponent) {
        push_positional(out, &digits, exponent);
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.unsigned_abs());
    }
}

/// `digits` (d.ddd × 10^exponent) in positional form with at least one fractional digit.
fn push_positional(out: &mut String, digits: &str, exponent: i32) {
    if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let integer_len = exponent as usize + 1;
    if digits.len() <= integer_len {
        out.push_str(digits);
        for _ in digits.len()..integer_len {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        out.push_str(&digits[..integer_len]);
        out.push('.');
        out.push_str(&digits[integer_len..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(v: f64) -> String {
        let mut s = String::new();
        push_repr(&mut s, v);
        s
    }

    #[test]
    fn matches_python() {
        // Each expected text is what CPython 3's repr() prints.
        assert_eq!(repr(1589113696.048286), "1589113696.048286");
        assert_eq!(repr(1589113696.0), "1589113696.0");
        assert_eq!(repr(0.0123456789), "0.0123456789");
        assert_eq!(repr(0.0001), "0.0001");
        assert_eq!(repr(0.00001), "1e-05");
        assert_eq!(repr(0.000015), "1.5e-05");
        assert_eq!(repr(1e16), "1e+16");
        assert_eq!(repr(1234567890123456.0), "1234567890123456.0");
        assert_eq!(repr(12.5), "12.5");
        assert_eq!(repr(0.0), "0.0");
        assert_eq!(repr(-2.5), "-2.5");
        assert_eq!(repr(100.0), "100.0");
        assert_eq!(repr(1e-100), "1e-100");
    }
}
