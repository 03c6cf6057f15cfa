//! The statistics of a diff: the Mann–Whitney U test on two latency histograms (a bucket's values are tied
//! ranks; the normal approximation with the tie correction), a Poisson test for call counts, and the run-to-run
//! spread of a side's runs. docs/DIFF.md says what they can and cannot tell.

use crate::hist::LatencyHist;

/// The outcome of a Mann–Whitney U test of `after` against `before`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UTest {
    /// Two-sided p-value (normal approximation, tie and continuity corrected).
    pub p_value: f64,
    /// The probability that a call after is slower than a call before (ties count half): 0.5 is no shift,
    /// the common-language effect size.
    pub p_slower: f64,
}

/// Mann–Whitney U over the bucket counts: every value of a bucket has the bucket's average rank. Buckets are
/// at most 1/64 of a value wide, so shifts smaller than that are invisible (ties), and larger ones are seen.
/// `None` when a side is empty.
pub fn mann_whitney(before: &LatencyHist, after: &LatencyHist) -> Option<UTest> {
    let (n1, n2) = (before.len() as f64, after.len() as f64);
    if before.is_empty() || after.is_empty() {
        return None;
    }
    let (b, a) = (before.bucket_counts(), after.bucket_counts());
    let (mut i, mut j) = (0, 0);
    let mut rank_below = 0.0f64;
    let mut rank_sum_after = 0.0f64;
    let mut ties = 0.0f64;
    // Merge the two bucket lists in bucket (= value) order.
    while i < b.len() || j < a.len() {
        let bi = b.get(i).map_or(u32::MAX, |x| x.0);
        let aj = a.get(j).map_or(u32::MAX, |x| x.0);
        let bucket = bi.min(aj);
        let cb = if bi == bucket {
            i += 1;
            b[i - 1].1 as f64
        } else {
            0.0
        };
        let ca = if aj == bucket {
            j += 1;
            a[j - 1].1 as f64
        } else {
            0.0
        };
        let t = cb + ca;
        rank_sum_after += ca * (rank_below + (t + 1.0) / 2.0);
        ties += t * t * t - t;
        rank_below += t;
    }
    // Saturated counters can sum below `len()`: the ranks counted are the sample.
    let n = rank_below;
    let n2_seen: f64 = a.iter().map(|x| x.1 as f64).sum();
    let n1_seen = n - n2_seen;
    let (n1, n2) = (n1.min(n1_seen), n2.min(n2_seen));
    let u = rank_sum_after - n2 * (n2 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)).max(1.0));
    let p_slower = if n1 * n2 > 0.0 { u / (n1 * n2) } else { 0.5 };
    if var <= 0.0 {
        // Every value in one bucket: nothing to tell apart.
        return Some(UTest { p_value: 1.0, p_slower });
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    Some(UTest { p_value: two_sided_p(z), p_slower })
}

/// Two-sided p-value of a count changing from `before` to `after` when both are Poisson with one rate (the
/// same program, the same work): the normal approximation of the difference.
pub fn poisson_p(before: f64, after: f64) -> f64 {
    let var = before + after;
    if var <= 0.0 {
        return 1.0;
    }
    two_sided_p(((after - before).abs() - 0.5).max(0.0) / var.sqrt())
}

/// `P(|Z| ≥ z)` for a standard normal `Z`.
pub fn two_sided_p(z: f64) -> f64 {
    erfc(z / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// The complementary error function, to a relative error under 1.2e-7 everywhere (the Chebyshev fit of
/// Numerical Recipes, `erfcc`): p-values are compared with thresholds like 0.01/300, not printed to 10 digits.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// How far apart the runs of one side are on a metric: the largest minus the smallest (0 with one run).
pub fn spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    if values.len() < 2 {
        0.0
    } else {
        max - min
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = u64>) -> LatencyHist {
        let mut h = LatencyHist::default();
        values.into_iter().for_each(|v| h.record(v));
        h
    }

    #[test]
    fn erfc_matches_known_values() {
        // erfc(0) = 1, erfc(1) = 0.157299207, erfc(2) = 0.004677735.
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-6);
        assert!((erfc(2.0) - 0.004_677_735).abs() < 1e-7);
        assert!((two_sided_p(1.959_964) - 0.05).abs() < 1e-5);
    }

    #[test]
    fn identical_samples_are_not_different() {
        let a = hist((0..1000).map(|i| 1000 + i * 37 % 5000));
        let t = mann_whitney(&a, &a).unwrap();
        assert!(t.p_value > 0.99, "{t:?}");
        assert!((t.p_slower - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_shift_by_half_is_found_and_its_direction_told() {
        let before = hist((0..400).map(|i| 10_000 + i * 97 % 20_000));
        let after = hist((0..400).map(|i| (10_000 + i * 97 % 20_000) * 3 / 2));
        let t = mann_whitney(&before, &after).unwrap();
        assert!(t.p_value < 1e-6, "{t:?}");
        assert!(t.p_slower > 0.6, "{t:?}");
        let back = mann_whitney(&after, &before).unwrap();
        assert!(back.p_slower < 0.4 && (back.p_value - t.p_value).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_u_with_ties() {
        // before {1, 2, 2}, after {2, 3}: ranks 1, 3, 3, 3, 5 (three tied 2s at ranks 2–4). R_after = 3 + 5 = 8,
        // U = 8 − 3 = 5, P(after slower) = 5/6; tie term 3³−3 = 24, var = 6/12·(6 − 24/20) = 2.4,
        // z = (|5 − 3| − 0.5)/√2.4 = 0.968, p = 0.333.
        let t = mann_whitney(&hist([1, 2, 2]), &hist([2, 3])).unwrap();
        assert!((t.p_slower - 5.0 / 6.0).abs() < 1e-12, "{t:?}");
        assert!((t.p_value - 0.333).abs() < 0.001, "{t:?}");
    }

    #[test]
    fn empty_side_has_no_test_and_spread_of_one_run_is_zero() {
        assert!(mann_whitney(&hist([]), &hist([5])).is_none());
        assert_eq!(spread(&[3.0]), 0.0);
        assert_eq!(spread(&[3.0, 7.0, 5.0]), 4.0);
        assert!(poisson_p(1000.0, 1000.0) > 0.9 && poisson_p(1000.0, 1300.0) < 1e-6);
    }
}
