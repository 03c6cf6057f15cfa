//! Latency histograms: log-linear buckets at most 1/64 of a value wide, whose middles are within 1/128 of every
//! value in them (the bound HdrHistogram guarantees with 2 significant digits), recorded in a handful of
//! instructions.
//!
//! Why not the `hdrhistogram` crate: the analyzer records one duration per profiled call, 100 million per second
//! on two cores, and the crate's `record` (range checks, auto-resize, min/max bookkeeping) was a quarter of the
//! whole analysis. Here a value's bucket is one `lzcnt`, a shift and an add, and the counters cover only the
//! range of buckets a function has used; a function's first 64 values are only listed (see [`LatencyHist`]).
//!
//! Bucket layout (HdrHistogram's with 128 sub-buckets, unit 1 ns): values below 128 each have their own bucket
//! (index = value); above, octave `b ≥ 1` (values in `[64·2^b, 128·2^b)`) has 64 buckets of width `2^b`, at
//! indices `64·b + (v >> b)`. The largest `u64` lands at index 3,775. Quantiles are reported as the middle of
//! their bucket. (Until 2026-11-26 the buckets were half as wide, HdrHistogram's own layout for 2 significant
//! digits: twice the counters for a bound of 1/256, and the analyzer 2 % slower, its counters missing the cache
//! more often.)

mod funcs;

pub use funcs::FuncHists;

/// Buckets in all (the index of `u64::MAX`, plus one).
const BUCKETS: u32 = 57 * 64 + 128;

/// The bucket of `v`.
#[inline(always)]
fn index_of(v: u64) -> u32 {
    // 0 for v < 128, else the octave above [64, 128).
    let octave = 57 - (v | 127).leading_zeros();
    (octave << 6) + (v >> octave) as u32
}

/// The lowest value of bucket `i`, and the bucket's width.
fn bucket_range(i: u32) -> (u64, u64) {
    if i < 128 {
        (i as u64, 1)
    } else {
        let octave = (i >> 6) - 1;
        (((i & 63) as u64 + 64) << octave, 1 << octave)
    }
}

/// Durations recorded by bucket, not counted, before a histogram starts counting. A function called a few
/// times on a thread has durations octaves apart (a cache hit and a query), and counting them would take a
/// byte for every bucket between: with thousands of threads × functions that was most of the memory. Two
/// bytes a value while listing; the frequently called functions count after their first 64 calls, so the
/// list costs the hot path nothing.
const LISTED_UP_TO: u64 = 64;
// A listed bucket fits in 16 bits.
const _: () = assert!(BUCKETS <= 1 << 16);

/// Appends bucket `b` as the `k`-th value of a list (two to an element, see [`LatencyHist`]).
fn list_push(listed: &mut Vec<u32>, k: u64, b: u32) {
    if k.is_multiple_of(2) {
        listed.push(b);
    } else if let Some(pair) = listed.last_mut() {
        *pair |= b << 16;
    }
}

/// Counts of durations (ns) per bucket. Mergeable; counts saturate at `u32::MAX` (four billion calls of one
/// function, on one thread, in one bucket).
///
/// Two modes. *Listing* (the first `LISTED_UP_TO` values, or after `LatencyHist::compact`): `low` is
/// empty and `high_or_listed` holds each value's bucket, two to an element (the `k`-th value's in the low half
/// of element `k / 2` when `k` is even, else in its high half). *Counting*: counts over the range of buckets
/// used so far, each in two parts, its low 8 bits in `low`, one byte per bucket, and the rest in
/// `high_or_listed`, which is allocated at the first carry.
/// Recording touches only `low`: a thread's counters are a quarter of the size of `u32` counters, so more of
/// them (and of the tree) stay in cache. Counts, quantiles and equality do not depend on the mode.
#[derive(Debug, Clone, Default)]
pub struct LatencyHist {
    /// Counting: the bucket of `low[0]`.
    first: u32,
    /// Counting: each bucket's count, low 8 bits. Empty while listing.
    low: Vec<u8>,
    /// Listing: the bucket of every value recorded, in order, 16 bits each. Counting: empty, or as long as
    /// `low`, each count's bits above the low 8 (saturating).
    high_or_listed: Vec<u32>,
    total: u64,
}

impl PartialEq for LatencyHist {
    fn eq(&self, o: &Self) -> bool {
        // The same counts per bucket, whatever the mode or the range of buckets each holds.
        self.total == o.total && self.bucket_counts() == o.bucket_counts()
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
        self.record_bucket(index_of(v));
    }

    /// Counts a value of bucket `i`.
    #[inline(always)]
    fn record_bucket(&mut self, i: u32) {
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
        if self.high_or_listed.is_empty() {
            self.high_or_listed = vec![0; self.low.len()];
        }
        self.high_or_listed[at] = self.high_or_listed[at].saturating_add(1);
    }

    /// Records a value of bucket `i` while listing, or when counting outside the range held so far.
    #[cold]
    fn record_outside(&mut self, i: u32) {
        if self.low.is_empty() {
            if self.total < LISTED_UP_TO {
                list_push(&mut self.high_or_listed, self.total, i);
                return;
            }
            self.start_counting();
        }
        self.cover(i, i + 1);
        let at = (i - self.first) as usize;
        self.set(at, self.count(at) + 1);
    }

    /// From listing to counting (nothing to do when counting already, or empty).
    fn start_counting(&mut self) {
        if !self.low.is_empty() {
            return;
        }
        let listed: Vec<u32> = self.listed().collect();
        self.high_or_listed = Vec::new();
        let (Some(&lo), Some(&hi)) = (listed.iter().min(), listed.iter().max()) else { return };
        self.first = lo;
        self.low = vec![0; (hi - lo + 1) as usize];
        // A compacted list can hold a bucket more than 255 times: counted with carries.
        for b in listed {
            let at = (b - lo) as usize;
            self.set(at, self.count(at) + 1);
        }
    }

    /// Back to listing when the list would take at most half the counters' bytes (a listed value takes two
    /// bytes, a counter one). A function called a few hundred times on a thread can have durations twenty
    /// octaves apart (1,250 counters for 300 values): with a thousand threads, such counters were a third of
    /// the memory. Only a finished chunk and a merge compact: the decode loop's histograms count from their
    /// 65th value whatever their spread, so that a hot function's calls never leave the inlined path.
    pub(crate) fn compact(&mut self) {
        if self.low.is_empty() || self.total.saturating_mul(4) > self.low.len() as u64 {
            return;
        }
        // Fewer values than counters / 4: no count is saturated, and the list is short.
        let mut listed = Vec::with_capacity(self.total.div_ceil(2) as usize);
        let mut k = 0u64;
        let mut list = |b: u32, n: u64| {
            for _ in 0..n {
                list_push(&mut listed, k, b);
                k += 1;
            }
        };
        if self.high_or_listed.is_empty() {
            // Most counters are zero: read eight at a time, and only the non-zero ones looked at.
            let words = self.low.chunks_exact(8);
            let tail = words.remainder();
            for (w, word) in words.enumerate() {
                let mut bytes = u64::from_le_bytes(word.try_into().expect("8 bytes"));
                while bytes != 0 {
                    let j = bytes.trailing_zeros() / 8;
                    list(self.first + (w * 8) as u32 + j, (bytes >> (8 * j)) & 0xFF);
                    bytes &= !(0xFF << (8 * j));
                }
            }
            let tail_first = self.first + (self.low.len() - tail.len()) as u32;
            for (j, &c) in tail.iter().enumerate() {
                list(tail_first + j as u32, c as u64);
            }
        } else {
            for (b, c) in self.bucket_counts() {
                list(b, c);
            }
        }
        debug_assert_eq!(k, self.total);
        (self.first, self.low, self.high_or_listed) = (0, Vec::new(), listed);
    }

    /// Listing: the bucket of each value recorded, in order.
    fn listed(&self) -> impl Iterator<Item = u32> + '_ {
        debug_assert!(self.low.is_empty());
        (0..self.total as usize).map(|k| self.high_or_listed[k / 2] >> (16 * (k % 2)) & 0xFFFF)
    }

    /// Each bucket with values, and its count (saturated), in bucket order (buckets are ordered as their
    /// values: what a rank test needs).
    pub fn bucket_counts(&self) -> Vec<(u32, u64)> {
        if self.low.is_empty() {
            let mut listed: Vec<u32> = self.listed().collect();
            listed.sort_unstable();
            let mut out: Vec<(u32, u64)> = Vec::new();
            for b in listed {
                match out.last_mut() {
                    Some((last, n)) if *last == b => *n += 1,
                    _ => out.push((b, 1)),
                }
            }
            return out;
        }
        (0..self.low.len())
            .filter_map(|k| Some((self.first + k as u32, self.count(k))).filter(|&(_, c)| c != 0))
            .collect()
    }

    /// The count of bucket `first + at` (which must be held).
    #[inline]
    fn count(&self, at: usize) -> u64 {
        let high = self.high_or_listed.get(at).map_or(0, |&h| h as u64);
        (self.low[at] as u64 + (high << 8)).min(u32::MAX as u64)
    }

    /// Sets the count of bucket `first + at` (which must be held) to `n`, saturated.
    #[inline]
    fn set(&mut self, at: usize, n: u64) {
        let n = n.min(u32::MAX as u64);
        self.low[at] = n as u8;
        if n >> 8 != 0 && self.high_or_listed.is_empty() {
            self.high_or_listed = vec![0; self.low.len()];
        }
        if let Some(h) = self.high_or_listed.get_mut(at) {
            *h = (n >> 8) as u32;
        }
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
        if !self.high_or_listed.is_empty() {
            let mut high = vec![0; low.len()];
            high[from..to].copy_from_slice(&self.high_or_listed);
            self.high_or_listed = high;
        }
        self.first = new_first;
        self.low = low;
    }

    /// Adds `other`'s counts, then lists the result again if its counters are mostly empty.
    pub fn add(&mut self, other: &LatencyHist) {
        if other.low.is_empty() {
            for b in other.listed() {
                self.record_bucket(b);
            }
        } else {
            self.add_counts(other);
        }
        self.compact();
    }

    /// [`LatencyHist::add`] of a histogram that is counting.
    fn add_counts(&mut self, other: &LatencyHist) {
        self.start_counting();
        self.cover(other.first, other.first + other.low.len() as u32);
        let at = (other.first - self.first) as usize;
        let n = other.low.len();
        if self.high_or_listed.is_empty() {
            self.high_or_listed = vec![0; self.low.len()];
        }
        let (low, high) = (&mut self.low[at..at + n], &mut self.high_or_listed[at..at + n]);
        // Counts as u32, saturated; written as zipped iterators with selects so that the loops vectorize.
        let count = |low: u8, high: u32| if high >= 1 << 24 { u32::MAX } else { high << 8 | low as u32 };
        if other.high_or_listed.is_empty() {
            for ((l, h), &theirs) in low.iter_mut().zip(high.iter_mut()).zip(&other.low) {
                let c = count(*l, *h).saturating_add(theirs as u32);
                (*l, *h) = (c as u8, c >> 8);
            }
        } else {
            let theirs = other.low.iter().zip(&other.high_or_listed);
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
        self.quantiles([q])[0]
    }

    /// [`LatencyHist::quantile`] of each of `qs` (in increasing order), in one pass over the buckets: a diff
    /// takes four quantiles of every function of every run.
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [Option<u64>; N] {
        // The bucket of each quantile.
        let mut out: [Option<u32>; N] = [None; N];
        if self.total == 0 {
            return [None; N];
        }
        debug_assert!(qs.is_sorted(), "{qs:?}");
        let rank = |q: f64| ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let (mut next, mut seen, mut last) = (0, 0u64, None);
        for (b, c) in self.bucket_counts() {
            seen += c;
            last = Some(b);
            while next < N && seen >= rank(qs[next]) {
                out[next] = Some(b);
                next += 1;
            }
            if next == N {
                break;
            }
        }
        // Saturated counters can sum below `total`: the last bucket used then.
        let middle = |b: u32| {
            let (lo, width) = bucket_range(b);
            lo + width / 2
        };
        out.map(|b| b.or(last).map(middle))
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
        // 1000 is in [1000, 1008) (octave 3, width 8): its middle.
        assert_eq!(h.quantile(0.8), Some(1004));
        // 1,000,000 is in octave 13 (width 8192), bucket [999424, 1007616).
        assert_eq!(h.quantile(1.0), Some(999_424 + 4096));
        assert_eq!(h.len(), 5);
    }

    /// Counts past the low byte (carries into the high counts), merged, and saturated at `u32::MAX`, as `u32` counters
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
        big.start_counting();
        big.set(0, u32::MAX as u64 - 1);
        big.record(10);
        assert_eq!(big.count(0), u32::MAX as u64);
        big.record(10);
        assert_eq!(big.count(0), u32::MAX as u64);
        let mut sum = big.clone();
        sum.add(&big);
        assert_eq!(sum.count(0), u32::MAX as u64);
    }

    /// A few values octaves apart are listed (2 bytes each), not counted over the range between them; the
    /// 65th value starts counting.
    #[test]
    fn few_values_are_listed_then_counted() {
        let mut h = LatencyHist::default();
        h.record(100);
        h.record(3_000_000_000);
        assert!(h.low.is_empty());
        assert_eq!(h.high_or_listed, vec![index_of(100) | index_of(3_000_000_000) << 16]);
        assert_eq!(h.listed().collect::<Vec<_>>(), vec![index_of(100), index_of(3_000_000_000)]);
        h.record(7);
        assert_eq!(h.high_or_listed.len(), 2);
        assert_eq!(h.listed().collect::<Vec<_>>(), vec![index_of(100), index_of(3_000_000_000), 7]);
        assert_eq!(h.quantile(0.5), Some(100));
        for _ in 3..LISTED_UP_TO {
            h.record(100);
        }
        assert!(h.low.is_empty(), "still listing at {} values", h.len());
        assert_eq!(h.high_or_listed.len() as u64, LISTED_UP_TO / 2);
        h.record(200);
        assert_eq!(h.first, 7);
        assert_eq!(h.count((index_of(100) - 7) as usize), LISTED_UP_TO - 2);
        assert_eq!(index_of(200), 64 + 100);
        assert_eq!(h.bucket_counts(), vec![(7, 1), (100, 62), (164, 1), (index_of(3_000_000_000), 1)]);
    }

    /// A histogram whose counters are mostly empty lists again when compacted (merges do), and counts again,
    /// with carries, when recorded into: counts and quantiles never change.
    #[test]
    fn sparse_counters_are_listed_again() {
        let mut h = LatencyHist::default();
        // 300 values in bucket 10, then one six octaves up: 301 values over about 440 counters.
        for _ in 0..300 {
            h.record(10);
        }
        h.record(1 << 12);
        let span = (index_of(1 << 12) - 10 + 1) as u64;
        assert!(!h.low.is_empty() && h.low.len() as u64 >= span, "counting");
        assert!(span < 4 * 301, "not yet sparse enough: {span} counters");
        let dense = h.clone();
        h.compact();
        assert!(!h.low.is_empty(), "kept counting at {} values for {} counters", h.len(), h.low.len());
        // Twenty octaves up: 1,600 counters for 302 values.
        h.record(1 << 30);
        let before = h.bucket_counts();
        h.compact();
        assert!(h.low.is_empty(), "listing");
        assert_eq!(h.high_or_listed.len(), 151);
        assert_eq!(h.bucket_counts(), before);
        assert_eq!(h.len(), 302);
        assert_eq!(h.quantile(0.99), Some(10));
        assert_eq!(h.quantile(1.0), Some((1 << 30) + (1 << 30 >> 7)));
        // Recorded into: counting again, bucket 10 past its low byte.
        h.record(10);
        assert!(!h.low.is_empty());
        assert_eq!(h.count((10 - h.first) as usize), 301);
        // A merge compacts; equal to the same values recorded in one histogram.
        let mut merged = dense.clone();
        merged.add(&LatencyHist::default());
        let mut other = LatencyHist::default();
        other.record(1 << 30);
        other.record(10);
        merged.add(&other);
        assert!(merged.low.is_empty(), "a merge lists sparse counters");
        assert_eq!(merged, h);
    }

    /// The middle of the bucket of the `⌈q·n⌉`-th smallest of `sorted`, buckets computed another way than
    /// the histogram's: shift a value right until it is below 128; the bits shifted out are the bucket's width.
    fn ranked_middle(sorted: &[u64], q: f64) -> u64 {
        let v = sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        let mut shift = 0;
        while v >> shift >= 128 {
            shift += 1;
        }
        ((v >> shift) << shift) + (1u64 << shift) / 2
    }

    proptest! {
        /// Listing and counting hold the same counts per bucket (those of recording each value in its bucket),
        /// whichever mode each side of a merge is in.
        #[test]
        fn listing_and_counting_agree(
            vs in prop::collection::vec(any::<u64>().prop_map(|v| v >> (v % 64)), 0..200),
            split in 0usize..200,
            q in 0.0f64..=1.0,
        ) {
            let split = split.min(vs.len());
            let mut naive = std::collections::BTreeMap::new();
            let mut counting = LatencyHist::default();
            for &v in &vs {
                *naive.entry(index_of(v)).or_insert(0u64) += 1;
                counting.record(v);
                counting.start_counting();
            }
            let naive: Vec<(u32, u64)> = naive.into_iter().collect();
            let mut compacted = counting.clone();
            compacted.compact();
            let (mut a, mut b) = (LatencyHist::default(), LatencyHist::default());
            vs[..split].iter().for_each(|&v| a.record(v));
            vs[split..].iter().for_each(|&v| b.record(v));
            let mut b_into_a = a.clone();
            b_into_a.add(&b);
            b.add(&a);
            for h in [&counting, &compacted, &b_into_a, &b] {
                prop_assert_eq!(h.len(), vs.len() as u64);
                prop_assert_eq!(&h.bucket_counts(), &naive);
                prop_assert_eq!(h.quantile(q), counting.quantile(q));
            }
        }

        /// The quantile is the middle of the bucket of the `⌈q·n⌉`-th smallest value (`ranked_middle`).
        #[test]
        fn quantile_is_the_middle_of_the_ranked_values_bucket(
            mut vs in prop::collection::vec(any::<u64>().prop_map(|v| v >> (v % 64)), 1..200),
            q in 0.0f64..=1.0,
        ) {
            let mut h = LatencyHist::default();
            for &v in &vs {
                h.record(v);
            }
            vs.sort_unstable();
            prop_assert_eq!(h.quantile(q), Some(ranked_middle(&vs, q)));
        }

        /// Several quantiles in one pass are each the one taken alone (by hand, as above), ties of `q` included.
        #[test]
        fn quantiles_in_one_pass(
            mut vs in prop::collection::vec(any::<u64>().prop_map(|v| v >> (v % 64)), 1..200),
            mut qs in prop::array::uniform4(prop::sample::select(vec![0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0])),
        ) {
            let mut h = LatencyHist::default();
            for &v in &vs {
                h.record(v);
            }
            vs.sort_unstable();
            qs.sort_by(f64::total_cmp);
            prop_assert_eq!(h.quantiles(qs), qs.map(|q| Some(ranked_middle(&vs, q))));
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
    }
}
