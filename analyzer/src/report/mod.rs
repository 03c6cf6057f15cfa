//! Reports made from an [`Analysis`] through a [`Selection`](crate::Selection)'s views.
//! Every report is deterministic: children by function name, threads by (pid, name, id), never hash order.

pub mod events;
mod flame_frames;
pub mod flamegraph;
pub mod folded;
pub mod lines;
pub mod summary;
mod table;

use crate::profile::Analysis;
use crate::tree::{Children, Tree};

/// Children of every node, sorted by function name.
pub(crate) fn sorted_children(a: &Analysis, tree: &Tree) -> Children {
    let mut ch = tree.children();
    ch.for_each_mut(|c| {
        c.sort_by(|&x, &y| a.func_name(tree.nodes[x as usize].func).cmp(a.func_name(tree.nodes[y as usize].func)))
    });
    ch
}

/// Nanoseconds as microseconds with 3 decimals (what JSON carries: exact to the ns, readable).
pub(crate) fn us(ns: u64) -> f64 {
    (ns as f64 / 1e3 * 1e3).round() / 1e3
}

/// Nanoseconds as milliseconds, for tables: `{:.3}` of `ns as f64 / 1e6`.
pub(crate) fn ms(ns: u64) -> String {
    let mut out = Vec::with_capacity(16);
    push_ms(&mut out, ns);
    // SAFETY: `push_ms` writes ASCII only.
    unsafe { String::from_utf8_unchecked(out) }
}

/// [`ms`], but a duration that would show as `0.000` without being zero (under 500 ns) gets two significant
/// digits (`0.00042`, `0.000042`), for per-call columns: a function that takes 400 ns is not free.
pub(crate) fn ms_fine(ns: u64) -> String {
    match ns {
        1..=99 => format!("0.0000{ns:02}"),
        100..=499 => format!("0.000{:02}", (ns + 5) / 10),
        _ => ms(ns),
    }
}

/// [`ms`] appended to `out`, without the formatting machinery (`format!` cost ~700 instructions a number, and a
/// summary formats tens of thousands of them).
pub(crate) fn push_ms(out: &mut Vec<u8>, ns: u64) {
    // In integers when the rounding cannot differ: below 10^15 ns the float is within 10^-7 ms of ns / 10^6,
    // which is never closer than 10^-6 ms to a rounding boundary unless it lies on one (ns ending in 500), whose
    // side only the float's own error decides.
    if ns < 1_000_000_000_000_000 && ns % 1000 != 500 {
        push_decimal(out, (ns + 500) / 1000, 3);
        return;
    }
    out.extend_from_slice(format!("{:.3}", ns as f64 / 1e6).as_bytes());
}

/// `n` appended to `out` in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `scaled / 10^decimals` appended with exactly `decimals` decimals (`decimals` ≤ 4; inlined, so that the
/// divisions are by constants). The digits are made right to left in a local buffer and appended at once: an
/// `itoa` call and a push per digit had cost ~100 instructions a number more.
#[inline(always)]
fn push_decimal(out: &mut Vec<u8>, scaled: u64, decimals: u32) {
    // u64::MAX has 20 digits: with a point, 21 bytes.
    let mut buf = [0u8; 24];
    let mut at = buf.len();
    let mut n = scaled;
    for _ in 0..decimals {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    if decimals > 0 {
        at -= 1;
        buf[at] = b'.';
    }
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// `10^decimals` for [`push_fixed`]: exactly what `10f64.powi(decimals)` gives (small powers of ten are exact),
/// without the call.
const POW10_F64: [f64; 5] = [1.0, 10.0, 100.0, 1000.0, 10000.0];

/// `format!("{:.decimals$}", x)` appended to `out` (`decimals` ≤ 4), in integers when the rounding is sure:
/// `x × 10^decimals` is computed with an error below `y × 2^-53`, so unless it lies that close to a half (where
/// the exact value's side, or an exact tie's rounding to even, decides), rounding it gives the digits the exact
/// decimal expansion of `x` rounds to. Anything else (ties, negatives, huge or non-finite values) is formatted.
pub(crate) fn push_fixed(out: &mut Vec<u8>, x: f64, decimals: u32) {
    debug_assert!(decimals <= 4);
    let y = x * POW10_F64[decimals as usize];
    if x.is_sign_positive() && y < (1u64 << 52) as f64 {
        // `floor` and `round` without their calls (the default target has no SSE4.1 rounding): for 0 ≤ y < 2^52
        // the conversion truncates to the floor and `y - floor` is exact, so away from the half (checked) the
        // rounding is the floor or the one above it.
        let floor = y as u64;
        let frac = y - floor as f64;
        if (frac - 0.5).abs() > y * 1e-15 + 1e-300 {
            push_decimal(out, floor + u64::from(frac > 0.5), decimals);
            return;
        }
    }
    out.extend_from_slice(format!("{x:.*}", decimals as usize).as_bytes());
}

/// [`push_fixed`] as a `String` (what the tests compare with `format!`).
#[cfg(test)]
fn fixed(x: f64, decimals: u32) -> String {
    let mut out = Vec::with_capacity(16);
    push_fixed(&mut out, x, decimals);
    // SAFETY: `push_fixed` writes ASCII only (digits, `.`, and `format!`'s output of a float: `-`, digits,
    // `.`, `inf`, `NaN`).
    unsafe { String::from_utf8_unchecked(out) }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        #[test]
        fn ms_fine_is_ms_unless_it_would_read_zero(ns in 0u64..2_000) {
            let fine = super::ms_fine(ns);
            if ns == 0 || ns >= 500 {
                prop_assert_eq!(fine, super::ms(ns));
            } else {
                // Two significant digits: within 5 % of the value, never zero.
                let back: f64 = fine.parse().unwrap();
                prop_assert!((back * 1e6 - ns as f64).abs() <= ns as f64 * 0.05 + 1e-9, "{} for {}", fine, ns);
            }
        }

        #[test]
        fn ms_is_the_float_formatting(ns in prop_oneof![
            0u64..10_000_000,
            any::<u64>(),
            (0u64..1_000_000_000_000).prop_map(|k| k * 1000 + 499),
            (0u64..1_000_000_000_000).prop_map(|k| k * 1000 + 501),
            (999_999_000_000_000u64..1_000_001_000_000_000),
        ]) {
            prop_assert_eq!(super::ms(ns), format!("{:.3}", ns as f64 / 1e6));
        }

        /// Whatever the value (ties of every kind, values a hair from them, negatives, zeros of both signs,
        /// huge, non-finite), [`super::fixed`] is `format!`'s rounding.
        #[test]
        fn fixed_is_the_float_formatting(x in prop_oneof![
            (0u64..10_000_000).prop_map(|n| n as f64 / 1000.0),
            (0u64..10_000_000).prop_map(|n| n as f64 / 2000.0),
            (0u64..1_000_000).prop_map(|n| n as f64 / 20000.0),
            (0u64..10_000_000).prop_map(|n| n as f64 / 200000.0),
            (0u64..1_000_000_000).prop_map(|n| n as f64 * (100.0 / 29_372_319.0)),
            (0u64..10_000_000).prop_map(|n| (n as f64 / 2000.0).next_up()),
            (0u64..10_000_000).prop_map(|n| (n as f64 / 2000.0).next_down()),
            (0u64..1_000_000_000_000).prop_map(|n| n as f64 / 1000.0),
            any::<f64>(),
            prop_oneof![Just(0.0), Just(-0.0), Just(f64::INFINITY), Just(f64::NAN), Just(1e300), Just(4503599627370495.5)],
        ], decimals in 0u32..=4) {
            prop_assert_eq!(super::fixed(x, decimals), format!("{x:.*}", decimals as usize));
        }
    }
}
