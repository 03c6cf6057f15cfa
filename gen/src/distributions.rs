//! The generator's random distributions, as lookup tables: sampling Zipf or log-normal directly costs a
//! `pow` or `exp` per draw, which was half of the generator's time. Tables are built with pure-Rust libm
//! (same bits on every platform), so output stays byte-identical across machines.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Ranks 1..=n with P(k) ∝ k^-exponent, by binary search in the cumulative weights.
#[derive(Debug, Clone)]
pub(crate) struct ZipfTable {
    cumulative: Vec<f64>,
}

impl ZipfTable {
    pub fn new(n: u32, exponent: f64) -> Self {
        let exponent = if exponent.is_finite() { exponent.max(0.0) } else { 1.0 };
        let mut total = 0.0;
        let cumulative = (1..=n.max(1))
            .map(|k| {
                total += libm::pow(f64::from(k), -exponent);
                total
            })
            .collect();
        ZipfTable { cumulative }
    }

    /// A rank from 0 (the most likely) to n - 1.
    #[inline]
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let u = rng.gen::<f64>() * total;
        self.cumulative.partition_point(|&c| c <= u).min(self.cumulative.len() - 1)
    }
}

/// Standard normal values are clamped to ±Z_LIMIT (a 1-in-10⁹ tail) and the table spans that range.
const Z_LIMIT: f64 = 6.0;
const STEPS_PER_UNIT: f64 = 128.0;

/// A log-normal distribution given by its median and σ: median × e^(σ·z), z standard normal, with
/// e^(σ·z) interpolated from a table.
#[derive(Debug, Clone)]
pub(crate) struct LogNormalTable {
    median: f64,
    factors: Vec<f64>,
}

impl LogNormalTable {
    pub fn new(median: f64, sigma: f64) -> Self {
        let points = (2.0 * Z_LIMIT * STEPS_PER_UNIT) as usize + 2;
        let factors = (0..points).map(|i| libm::exp(sigma * (i as f64 / STEPS_PER_UNIT - Z_LIMIT))).collect();
        LogNormalTable { median, factors }
    }

    #[inline]
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        let z: f64 = StandardNormal.sample(rng);
        let position = (z.clamp(-Z_LIMIT, Z_LIMIT) + Z_LIMIT) * STEPS_PER_UNIT;
        let index = (position as usize).min(self.factors.len() - 2);
        let fraction = position - index as f64;
        let (low, high) = (self.factors[index], self.factors[index + 1]);
        self.median * (low + (high - low) * fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn zipf_prefers_low_ranks_in_the_right_proportion() {
        let table = ZipfTable::new(100, 1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0u32; 100];
        for _ in 0..200_000 {
            counts[table.sample(&mut rng)] += 1;
        }
        // P(1) / P(2) = 2 for exponent 1.
        let ratio = f64::from(counts[0]) / f64::from(counts[1]);
        assert!((1.9..2.1).contains(&ratio), "{ratio}");
        assert!(counts[99] > 0);
    }

    #[test]
    fn log_normal_median_is_kept() {
        let table = LogNormalTable::new(1000.0, 1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut values: Vec<f64> = (0..100_001).map(|_| table.sample(&mut rng)).collect();
        values.sort_by(f64::total_cmp);
        let median = values[50_000];
        assert!((950.0..1050.0).contains(&median), "{median}");
        assert!(values.iter().all(|&v| v > 0.0));
    }
}
