//! Latency histograms: log-linear buckets precise to 1/128 of a value, as HdrHistogram's with 2 significant
//! digits (and giving the same quantiles), but recorded in a handful of instructions.
//!
//! Why not the `hdrhistogram` crate: the analyzer records one duration per profiled call, 100 million per second
//! on two cores, and the crate's `record` (range checks, auto-resize, min/max bookkeeping) was a quarter of the
//! whole analysis. Here a value's bucket is one `lzcnt`, a shift and an add, and the counters cover only the
//! range of buckets a function has used.
//!
//! Bucket layout (HdrHistogram's, unit 1 ns, 256 sub-buckets): values below 256 each have their own bucket
//! (index = value); above, octave `b ≥ 1` (values in `[128·2^b, 256·2^b)`) has 128 buckets of width `2^b`, at
//! indices `128·b + (v >> b)`. The largest `u64` lands at index 7,423.

/// Buckets in all (the index of `u64::MAX`, plus one).
const BUCKETS: u32 = 56 * 128 + 256;

/// The bucket of `v`.
#[inline(always)]
fn index_of(v: u64) -> u32 {
    // 0 for v < 256, else the octave above [128, 256).
    let octave = 56 - (v | 255).leading_zeros();
    (octave << 7) + (v >> octave) as u32
}

/// The lowest value of bucket `i`, and the bucket's width.
fn bucket_range(i: u32) -> (u64, u64) {
    if i < 256 {
        (i as u64, 1)
    } else {
        let octave = (i >> 7) - 1;
        (((i & 127) as u64 + 128) << octave, 1 << octave)
    }
}

/// Counts of durations (ns) per bucket, over the range of buckets used so far. Mergeable; counts saturate at
/// `u32::MAX` (four billion calls of one function, on one thread, in one bucket).
///
/// A count is kept in two parts: its low 8 bits in `low`, one byte per bucket, and the rest in `high`, which
/// is allocated at the first carry. Recording touches only `low`: a thread's counters are a quarter of the
/// size of `u32` counters, so more of them (and of the tree) stay in cache. The counts are the same.
#[derive(Debug, Clone, Default)]
pub struct LatencyHist {
    /// The bucket of `low[0]`.
    first: u32,
    low: Vec<u8>,
    /// Empty, or as long as `low`: each count's bits above the low 8 (saturating).
    high: Vec<u32>,
    total: u64,
}

impl PartialEq for LatencyHist {
    fn eq(&self, o: &Self) -> bool {
        // The same counts per bucket, whatever range of buckets each holds.
        let used = |h: &'_ LatencyHist| {
            let first = h.first;
            h.range_counts()
                .enumerate()
                .filter(|&(_, c)| c != 0)
                .map(move |(k, c)| (first + k as u32, c))
                .collect::<Vec<_>>()
        };
        self.total == o.total && used(self) == used(o)
    }
}

impl Eq for LatencyHist {}

impl LatencyHist {
    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    #[inline(always)]
    pub fn record(&mut self, v: u64) {
        let i = index_of(v);
        let at = i.wrapping_sub(self.first) as usize;
        match self.low.get_mut(at) {
            Some(c) => {
                *c = c.wrapping_add(1);
                if *c == 0 {
                    self.carry(at);
                }
            }
            None => self.record_outside(i),
        }
        self.total += 1;
    }

    /// Bucket `first + at` counted its 256th value since its low byte was last zero.
    #[cold]
    #[inline(never)]
    fn carry(&mut self, at: usize) {
        if self.high.is_empty() {
            self.high = vec![0; self.low.len()];
        }
        self.high[at] = self.high[at].saturating_add(1);
    }

    /// Counts a value in bucket `i`, which is outside the range held so far.
    #[cold]
    fn record_outside(&mut self, i: u32) {
        self.cover(i, i + 1);
        let at = (i - self.first) as usize;
        self.set(at, self.count(at) + 1);
    }

    /// The count of bucket `first + at` (which must be held).
    #[inline]
    fn count(&self, at: usize) -> u64 {
        let high = self.high.get(at).map_or(0, |&h| h as u64);
        (self.low[at] as u64 + (high << 8)).min(u32::MAX as u64)
    }

    /// Sets the count of bucket `first + at` (which must be held) to `n`, saturated.
    #[inline]
    fn set(&mut self, at: usize, n: u64) {
        let n = n.min(u32::MAX as u64);
        self.low[at] = n as u8;
        if n >> 8 != 0 && self.high.is_empty() {
            self.high = vec![0; self.low.len()];
        }
        if let Some(h) = self.high.get_mut(at) {
            *h = (n >> 8) as u32;
        }
    }

    /// The counts of the buckets held, from bucket `first` on.
    fn range_counts(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.low.len()).map(|k| self.count(k))
    }

    /// Grows the counters to hold buckets `lo..hi`, with slack towards the side that grew (a function's
    /// durations spread over a few octaves; growing one bucket at a time would copy the counters each time).
    fn cover(&mut self, lo: u32, hi: u32) {
        const SLACK: u32 = 64;
        let (first, end) = (self.first, self.first + self.low.len() as u32);
        if self.low.is_empty() {
            self.first = lo;
            self.low = vec![0; (hi - lo) as usize];
            return;
        }
        if lo >= first && hi <= end {
            return;
        }
        let new_first = if lo < first { lo.saturating_sub(SLACK) } else { first };
        let new_end = if hi > end { (hi + SLACK).min(BUCKETS) } else { end };
        let (from, to) = ((first - new_first) as usize, (end - new_first) as usize);
        let mut low = vec![0; (new_end - new_first) as usize];
        low[from..to].copy_from_slice(&self.low);
        if !self.high.is_empty() {
            let mut high = vec![0; low.len()];
            high[from..to].copy_from_slice(&self.high);
            self.high = high;
        }
        self.first = new_first;
        self.low = low;
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &LatencyHist) {
        if other.low.is_empty() {
            return;
        }
        self.cover(other.first, other.first + other.low.len() as u32);
        let at = (other.first - self.first) as usize;
        let n = other.low.len();
        if self.high.is_empty() {
            self.high = vec![0; self.low.len()];
        }
        let (low, high) = (&mut self.low[at..at + n], &mut self.high[at..at + n]);
        // Counts as u32, saturated; written as zipped iterators with selects so that the loops vectorize.
        let count = |low: u8, high: u32| if high >= 1 << 24 { u32::MAX } else { high << 8 | low as u32 };
        if other.high.is_empty() {
            for ((l, h), &theirs) in low.iter_mut().zip(high.iter_mut()).zip(&other.low) {
                let c = count(*l, *h).saturating_add(theirs as u32);
                (*l, *h) = (c as u8, c >> 8);
            }
        } else {
            let theirs = other.low.iter().zip(&other.high);
            for ((l, h), (&their_low, &their_high)) in low.iter_mut().zip(high.iter_mut()).zip(theirs) {
                let c = count(*l, *h).saturating_add(count(their_low, their_high));
                (*l, *h) = (c as u8, c >> 8);
            }
        }
        self.total += other.total;
    }

    /// The value at quantile `q` (0..=1) as the middle of its bucket: the bucket holding the `⌈q·n⌉`-th
    /// smallest value (at least the first). `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        let mut last = None;
        for (k, c) in self.range_counts().enumerate() {
            if c == 0 {
                continue;
            }
            seen += c;
            last = Some(k);
            if seen >= rank {
                break;
            }
        }
        // Saturated counters can sum below `total`: the last bucket used then.
        let (lo, width) = bucket_range(self.first + last? as u32);
        Some(lo + width / 2)
    }
}

/// Whole call durations per function label (one [`LatencyHist`] each).
#[derive(Debug, Clone, Default)]
pub struct FuncHists {
    by_func: Vec<LatencyHist>,
}

/// Labels above this are not given a histogram (a corrupt id must not allocate gigabytes).
const MAX_HIST_LABEL: u32 = 1 << 22;

impl FuncHists {
    /// `func`'s histogram, growing the table to hold it; `None` for an implausible id.
    #[inline(always)]
    fn slot(&mut self, func: u32) -> Option<&mut LatencyHist> {
        let i = func as usize;
        if i >= self.by_func.len() {
            if func >= MAX_HIST_LABEL {
                return None;
            }
            self.by_func.resize_with(i + 1, LatencyHist::default);
        }
        Some(&mut self.by_func[i])
    }

    #[inline(always)]
    pub fn record(&mut self, func: u32, whole_ns: u64) {
        if let Some(h) = self.slot(func) {
            h.record(whole_ns);
        }
    }

    /// These histograms under new labels, those that `relabel` gives one label added together. When it merges
    /// none (the usual case), the histograms are moved rather than added.
    pub fn into_relabelled(self, relabel: impl Fn(u32) -> u32) -> FuncHists {
        if crate::tree::relabel_merges(self.iter().map(|(f, _)| f).collect(), &relabel) {
            let mut merged = FuncHists::default();
            merged.merge(&self, relabel);
            return merged;
        }
        let mut moved = FuncHists::default();
        for (f, h) in self.by_func.into_iter().enumerate() {
            if !h.is_empty() {
                if let Some(slot) = moved.slot(relabel(f as u32)) {
                    *slot = h;
                }
            }
        }
        moved
    }

    /// Adds `other`'s durations, relabelled.
    pub fn merge(&mut self, other: &FuncHists, relabel: impl Fn(u32) -> u32) {
        for (f, h) in other.iter() {
            if let Some(mine) = self.slot(relabel(f)) {
                mine.add(h);
            }
        }
    }

    /// The histogram of `func`, if it has recorded anything.
    pub fn get(&self, func: u32) -> Option<&LatencyHist> {
        self.by_func.get(func as usize).filter(|h| !h.is_empty())
    }

    /// Every non-empty histogram.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &LatencyHist)> {
        self.by_func.iter().enumerate().filter(|(_, h)| !h.is_empty()).map(|(i, h)| (i as u32, h))
    }

    /// Only the functions `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        for (i, h) in self.by_func.iter_mut().enumerate() {
            if !keep(i as u32) {
                *h = LatencyHist::default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_are_contiguous_and_cover_every_value() {
        let mut expected_lo = 0u64;
        for i in 0..BUCKETS {
            let (lo, width) = bucket_range(i);
            assert_eq!(lo, expected_lo, "bucket {i}");
            assert_eq!(index_of(lo), i);
            assert_eq!(index_of(lo + (width - 1)), i);
            expected_lo = lo.wrapping_add(width);
        }
        assert_eq!(expected_lo, 0, "the last bucket ends at u64::MAX");
        assert_eq!(index_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_by_hand() {
        let mut h = LatencyHist::default();
        assert_eq!(h.quantile(0.5), None);
        for v in [10, 20, 30, 1000, 1_000_000] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.0), Some(10));
        assert_eq!(h.quantile(0.5), Some(30));
        // 1000 is in [1000, 1004) (octave 2, width 4): its middle.
        assert_eq!(h.quantile(0.8), Some(1002));
        // 1,000,000 is in octave 12 (width 4096), bucket [999424, 1003520).
        assert_eq!(h.quantile(1.0), Some(999_424 + 2048));
        assert_eq!(h.len(), 5);
    }

    /// Counts past the low byte (carries into `high`), merged, and saturated at `u32::MAX`, as `u32` counters
    /// would hold them.
    #[test]
    fn counts_carry_and_saturate_like_u32_counters() {
        let mut h = LatencyHist::default();
        let mut reference = vec![0u64; 3];
        for k in 0..70_000u64 {
            // Buckets 10, 11 and 12, unevenly, so each crosses several multiples of 256 at different times.
            let b = [10, 10, 11, 12, 10, 11][k as usize % 6];
            h.record(b);
            reference[(b - 10) as usize] += 1;
        }
        let counts = |h: &LatencyHist| (10..13).map(|b| h.count((b - h.first) as usize)).collect::<Vec<_>>();
        assert_eq!(counts(&h), reference);
        let mut twice = h.clone();
        twice.add(&h);
        assert_eq!(counts(&twice), reference.iter().map(|c| 2 * c).collect::<Vec<_>>());
        assert_eq!(twice.len(), 140_000);
        // One without carries merged into one with them, and the other way round.
        let mut small = LatencyHist::default();
        small.record(11);
        let mut a = small.clone();
        a.add(&h);
        let mut b = h.clone();
        b.add(&small);
        assert_eq!(a, b);
        assert_eq!(counts(&a), vec![reference[0], reference[1] + 1, reference[2]]);
        // Saturation: a count near u32::MAX plus more stays at u32::MAX.
        let mut big = LatencyHist::default();
        big.record(10);
        big.set(0, u32::MAX as u64 - 1);
        big.record(10);
        assert_eq!(big.count(0), u32::MAX as u64);
        big.record(10);
        assert_eq!(big.count(0), u32::MAX as u64);
        let mut sum = big.clone();
        sum.add(&big);
        assert_eq!(sum.count(0), u32::MAX as u64);
    }

    proptest! {
        /// The same quantiles as HdrHistogram with 2 significant digits (what the analyzer used before), as
        /// the middle of the bucket.
        #[test]
        fn same_quantiles_as_hdrhistogram(
            vs in prop::collection::vec(any::<u64>().prop_map(|v| v >> (v % 64)), 1..200),
            q in 0.0f64..=1.0,
        ) {
            let mut mine = LatencyHist::default();
            let mut hdr = hdrhistogram::Histogram::<u32>::new(2).unwrap();
            for &v in &vs {
                mine.record(v);
                hdr.record(v).unwrap();
            }
            prop_assert_eq!(mine.quantile(q), Some(hdr.median_equivalent(hdr.value_at_quantile(q))));
        }

        /// Within 1/128 of the exact quantile of the values recorded, whatever their range; merging two halves
        /// equals recording all.
        #[test]
        fn quantile_within_one_percent(mut vs in prop::collection::vec(0u64..1u64 << 50, 1..300), q in 0.0f64..=1.0) {
            let mut all = LatencyHist::default();
            let (mut a, mut b) = (LatencyHist::default(), LatencyHist::default());
            for (k, &v) in vs.iter().enumerate() {
                all.record(v);
                if k % 2 == 0 { a.record(v) } else { b.record(v) }
            }
            a.add(&b);
            prop_assert_eq!(a.quantile(q), all.quantile(q));
            vs.sort_unstable();
            let rank = ((q * vs.len() as f64).ceil() as usize).max(1);
            let exact = vs[rank - 1] as f64;
            let got = all.quantile(q).unwrap() as f64;
            prop_assert!((got - exact).abs() <= exact / 128.0 + 0.5, "{} vs {}", got, exact);
        }

        /// Moving histograms to new labels gives what adding them under those labels gives, merges or not.
        #[test]
        fn into_relabelled_is_merge(
            calls in prop::collection::vec((0u32..10, 0u64..1 << 20), 0..300),
            targets in prop::collection::vec(0u32..30, 10),
        ) {
            let mut hists = FuncHists::default();
            for &(f, v) in &calls {
                hists.record(f, v);
            }
            let relabel = |f: u32| targets[f as usize];
            let mut want = FuncHists::default();
            want.merge(&hists, relabel);
            let got = hists.into_relabelled(relabel);
            prop_assert_eq!(got.iter().collect::<Vec<_>>(), want.iter().collect::<Vec<_>>());
        }
    }
}
