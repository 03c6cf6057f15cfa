//! A thread's latency histograms, one per function label it called ([`FuncHists`]).

use super::LatencyHist;

/// Whole call durations per function label (one [`LatencyHist`] each), in one of two layouts.
///
/// *Dense* (a new table): label `i`'s histogram at index `i`, so that the decode loop's `record` is one
/// bounds-checked index. A table holds a 64-byte slot for every label up to the highest it recorded: fine for a
/// chunk being decoded, but a thread-per-request server's tens of thousands of threads each called a few
/// functions of a table of hundreds, and their tables, kept until the end, were ~38 KB a thread (1.8 GB for
/// 47,499 threads, docs/PERFORMANCE.md, "Exports").
///
/// *Sparse* (after [`FuncHists::compact`], [`FuncHists::into_relabelled`], or [`FuncHists::sparse`]): only the
/// labels with a non-empty histogram, increasing, and their histograms beside them, so the table grows with the
/// functions called. A value recorded there is found by binary search, out of line. A thread's table
/// ([`FuncHists::sparse`], *thin*) moves between the two: dense while that costs at most [`THIN_DENSE_RATIO`]
/// slots a label (a text log's busy thread records inline), sparse otherwise (a request thread's few functions).
///
/// Both layouts hold the same histograms: the layout changes nothing that [`FuncHists::get`] and
/// [`FuncHists::iter`] return.
#[derive(Debug, Clone, Default)]
pub struct FuncHists {
    /// Dense: label `i`'s histogram at `i`, empty ones included. Always empty when sparse.
    dense: Vec<LatencyHist>,
    /// Sparse: the labels of the non-empty histograms, increasing.
    ids: Vec<u32>,
    /// Sparse: `ids[k]`'s histogram at `k` (none empty).
    hists: Vec<LatencyHist>,
    sparse: bool,
    /// Made by [`FuncHists::sparse`]: memory in proportion to the labels recorded, in either layout. Such a
    /// table turns dense once that costs at most [`THIN_DENSE_RATIO`] slots a label (a text log's thread that
    /// calls most of the log's functions then records inline, as the decode loop does: a binary search per
    /// call cost `pylu-processlogs` 3.5 % more instructions), and sparse again before it would cost more.
    thin: bool,
}

/// A thin table is dense only while its slots are at most this many per label recorded.
const THIN_DENSE_RATIO: usize = 4;

/// Labels above this are not given a histogram (a corrupt id must not allocate gigabytes). Sparse tables
/// drop them too, so that what is recorded does not depend on the layout.
const MAX_HIST_LABEL: u32 = 1 << 22;

impl FuncHists {
    /// An empty thin table (sparse until dense is as small, see [`FuncHists`]): for a thread's state, which waits
    /// until the end of the analysis.
    pub fn sparse() -> Self {
        FuncHists { sparse: true, thin: true, ..FuncHists::default() }
    }

    /// Whether the table is sparse (see [`FuncHists`]).
    pub fn is_sparse(&self) -> bool {
        self.sparse
    }

    /// Histogram slots allocated, empty ones included: the table's memory is 64 bytes each (plus the
    /// counters of the non-empty ones, and 4 bytes a label when sparse).
    pub fn slots(&self) -> usize {
        self.dense.capacity() + self.hists.capacity()
    }

    #[inline(always)]
    pub fn record(&mut self, func: u32, whole_ns: u64) {
        match self.dense.get_mut(func as usize) {
            Some(h) => h.record(whole_ns),
            None => self.record_unheld(func, whole_ns),
        }
    }

    /// [`FuncHists::record`] of a label without a dense slot: a dense table grows to it, a sparse one looks it
    /// up (or inserts it).
    #[cold]
    #[inline(never)]
    fn record_unheld(&mut self, func: u32, whole_ns: u64) {
        if let Some(h) = self.slot(func) {
            h.record(whole_ns);
        }
    }

    /// `func`'s histogram (empty if new), growing a dense table or inserting into a sparse one; `None` for an
    /// implausible label.
    fn slot(&mut self, func: u32) -> Option<&mut LatencyHist> {
        if func >= MAX_HIST_LABEL {
            return None;
        }
        let i = func as usize;
        if !self.sparse {
            if i < self.dense.len() {
                return Some(&mut self.dense[i]);
            }
            if !self.thin {
                self.dense.resize_with(i + 1, LatencyHist::default);
                return Some(&mut self.dense[i]);
            }
            // Thin: grown to a power of two (a scan of the table per doubling, not per new label), unless
            // that is more slots a label than a thin table may hold.
            let len = (i + 1).next_power_of_two();
            let held = self.dense.iter().filter(|h| !h.is_empty()).count();
            if len <= THIN_DENSE_RATIO * (held + 1) {
                self.dense.reserve_exact(len - self.dense.len());
                self.dense.resize_with(len, LatencyHist::default);
                return Some(&mut self.dense[i]);
            }
            self.make_sparse();
        }
        let k = match self.ids.binary_search(&func) {
            Ok(k) => k,
            Err(k) => {
                self.ids.insert(k, func);
                self.hists.insert(k, LatencyHist::default());
                let top = *self.ids.last().expect("just inserted") as usize + 1;
                if self.thin && top.next_power_of_two() <= THIN_DENSE_RATIO * self.ids.len() {
                    self.make_dense(top.next_power_of_two());
                    return Some(&mut self.dense[i]);
                }
                k
            }
        };
        Some(&mut self.hists[k])
    }

    /// The dense layout's non-empty histograms, as the sparse layout.
    fn make_sparse(&mut self) {
        let n = self.dense.iter().filter(|h| !h.is_empty()).count();
        let (mut ids, mut hists) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (f, h) in std::mem::take(&mut self.dense).into_iter().enumerate() {
            if !h.is_empty() {
                ids.push(f as u32);
                hists.push(h);
            }
        }
        (self.ids, self.hists, self.sparse) = (ids, hists, true);
    }

    /// The sparse layout's histograms, as a dense table of `len` slots (more than the highest label).
    fn make_dense(&mut self, len: usize) {
        let mut dense = Vec::with_capacity(len);
        dense.resize_with(len, LatencyHist::default);
        for (f, h) in std::mem::take(&mut self.ids).into_iter().zip(std::mem::take(&mut self.hists)) {
            dense[f as usize] = h;
        }
        (self.dense, self.sparse) = (dense, false);
    }

    /// These histograms under new labels, sparse; those that `relabel` gives one label are added together (in
    /// label order), the others moved.
    pub fn into_relabelled(self, relabel: impl Fn(u32) -> u32) -> FuncHists {
        let mut moved: Vec<(u32, LatencyHist)> =
            self.into_pairs().map(|(f, h)| (relabel(f), h)).filter(|&(f, _)| f < MAX_HIST_LABEL).collect();
        // Stable: histograms that get one label are added in their old labels' order.
        moved.sort_by_key(|&(f, _)| f);
        let mut out = FuncHists::sparse();
        out.ids.reserve_exact(moved.len());
        out.hists.reserve_exact(moved.len());
        for (f, h) in moved {
            match out.hists.last_mut() {
                Some(last) if out.ids.last() == Some(&f) => last.add(&h),
                _ => {
                    out.ids.push(f);
                    out.hists.push(h);
                }
            }
        }
        out
    }

    /// The non-empty histograms, by value, in label order.
    fn into_pairs(self) -> Box<dyn Iterator<Item = (u32, LatencyHist)>> {
        if self.sparse {
            Box::new(self.ids.into_iter().zip(self.hists))
        } else {
            Box::new(self.dense.into_iter().enumerate().filter(|(_, h)| !h.is_empty()).map(|(f, h)| (f as u32, h)))
        }
    }

    /// Adds `other`'s durations, relabelled.
    pub fn merge(&mut self, other: &FuncHists, relabel: impl Fn(u32) -> u32) {
        if !self.sparse {
            for (f, h) in other.iter() {
                if let Some(mine) = self.slot(relabel(f)) {
                    mine.add(h);
                }
            }
            return;
        }
        let mut theirs: Vec<(u32, &LatencyHist)> =
            other.iter().map(|(f, h)| (relabel(f), h)).filter(|&(f, _)| f < MAX_HIST_LABEL).collect();
        theirs.sort_by_key(|&(f, _)| f);
        // Labels this table holds are added in place; the others are gathered, then merged in in one pass.
        let mut new: Vec<(u32, LatencyHist)> = Vec::new();
        for (f, h) in theirs {
            match self.ids.binary_search(&f) {
                Ok(k) => self.hists[k].add(h),
                Err(_) => match new.last_mut() {
                    Some((last, mine)) if *last == f => mine.add(h),
                    _ => new.push((f, h.clone())),
                },
            }
        }
        if new.is_empty() {
            return;
        }
        let n = self.ids.len() + new.len();
        let (mut ids, mut hists) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut old = std::mem::take(&mut self.ids).into_iter().zip(std::mem::take(&mut self.hists)).peekable();
        for (f, h) in new {
            while let Some((g, mine)) = old.next_if(|&(g, _)| g < f) {
                ids.push(g);
                hists.push(mine);
            }
            ids.push(f);
            hists.push(h);
        }
        for (g, mine) in old {
            ids.push(g);
            hists.push(mine);
        }
        (self.ids, self.hists) = (ids, hists);
    }

    /// The histogram of `func`, if it has recorded anything.
    pub fn get(&self, func: u32) -> Option<&LatencyHist> {
        if self.sparse {
            return self.ids.binary_search(&func).ok().map(|k| &self.hists[k]);
        }
        self.dense.get(func as usize).filter(|h| !h.is_empty())
    }

    /// Lists again the histograms whose counters are mostly empty (see `LatencyHist::compact`), and makes the
    /// table sparse: a chunk's and a thread's histograms are compacted when done, and may then wait long.
    pub fn compact(&mut self) {
        if !self.sparse {
            self.make_sparse();
        }
        self.hists.iter_mut().for_each(LatencyHist::compact);
    }

    /// Every non-empty histogram, in label order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &LatencyHist)> {
        let dense = self.dense.iter().enumerate().filter(|(_, h)| !h.is_empty()).map(|(i, h)| (i as u32, h));
        // At most one of the two holds anything.
        dense.chain(self.ids.iter().copied().zip(&self.hists))
    }

    /// Only the functions `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        for (i, h) in self.dense.iter_mut().enumerate() {
            if !keep(i as u32) {
                *h = LatencyHist::default();
            }
        }
        let mut k = 0;
        self.hists.retain(|_| {
            k += 1;
            keep(self.ids[k - 1])
        });
        self.ids.retain(|&f| keep(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A thread that called three functions of high labels holds three histograms, not one per label up to
    /// the highest (the dense layout held 9,002 here, and 300,001 once relabelled).
    #[test]
    fn a_few_high_labels_take_a_few_slots() {
        let mut h = FuncHists::default();
        for (f, v) in [(5_000, 10), (9_000, 2_000), (9_001, 300), (9_000, 7)] {
            h.record(f, v);
        }
        assert!(!h.is_sparse());
        assert!(h.slots() > 9_000, "recording is dense: {}", h.slots());
        h.compact();
        assert!(h.is_sparse());
        assert_eq!(h.slots(), 3);
        let relabelled = h.clone().into_relabelled(|f| 100_000 + 20 * f);
        assert_eq!(relabelled.slots(), 3);
        assert_eq!(
            relabelled.iter().map(|(f, h)| (f, h.len())).collect::<Vec<_>>(),
            [(200_000, 1), (280_000, 2), (280_020, 1)]
        );
        // Recorded into and merged into when sparse: still a slot per label (or so, the vectors' growth).
        let mut thread = FuncHists::sparse();
        thread.record(3_000_000, 5);
        thread.merge(&h, |f| f * 100);
        thread.merge(&relabelled, |f| f);
        assert_eq!(thread.iter().count(), 7);
        assert!(thread.slots() <= 8, "{}", thread.slots());
        assert_eq!(thread.get(900_000).map(LatencyHist::len), Some(2));
        assert_eq!(thread.get(900_001), None);
        // Implausible labels are dropped in both layouts.
        thread.record(MAX_HIST_LABEL, 1);
        assert_eq!(thread.iter().count(), 7);
    }

    /// A thin table (a thread's) whose labels are most of those up to its highest turns dense, so that its
    /// records are inline; scattered labels keep it sparse, and a far label makes a dense one sparse again.
    #[test]
    fn a_thin_table_is_dense_only_while_that_is_small() {
        let mut h = FuncHists::sparse();
        for f in [3, 0, 1, 2, 5, 4, 7, 6] {
            h.record(f, 10);
        }
        assert!(!h.is_sparse(), "8 labels of 0..8");
        assert_eq!(h.slots(), 8);
        h.record(12, 10);
        assert!(!h.is_sparse() && h.slots() == 16, "{} slots", h.slots());
        h.record(1_000, 10);
        assert!(h.is_sparse(), "10 labels up to 1,000");
        assert_eq!(h.iter().map(|(f, _)| f).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5, 6, 7, 12, 1_000]);
        let mut scattered = FuncHists::sparse();
        for f in (0..50).map(|k| k * 100) {
            scattered.record(f, 1);
        }
        assert!(scattered.is_sparse());
        assert_eq!(scattered.iter().count(), 50);
        // An ordinary table (a chunk's, in the decode loop) is dense whatever its labels.
        let mut chunk = FuncHists::default();
        chunk.record(1_000, 1);
        assert!(!chunk.is_sparse());
    }

    /// One step on a table and on its model: label → the values recorded under it.
    #[derive(Debug, Clone)]
    enum Step {
        Record(u32, u64),
        Compact,
        /// Merges in a table of these calls (dense or sparse), relabelled by the step's targets.
        Merge(Vec<(u32, u64)>, bool),
        Relabel,
        /// Keeps the labels whose bit in the mask is set (labels modulo 32).
        Retain(u32),
    }

    /// Labels: mostly small (dense tables of a few slots), some implausible (dropped).
    fn label() -> impl Strategy<Value = u32> {
        prop_oneof![8 => 0u32..40, 1 => MAX_HIST_LABEL..MAX_HIST_LABEL + 3]
    }

    fn step() -> impl Strategy<Value = Step> {
        let value = any::<u64>().prop_map(|v| v >> (v % 64));
        prop_oneof![
            8 => (label(), value.clone()).prop_map(|(f, v)| Step::Record(f, v)),
            1 => Just(Step::Compact),
            2 => (prop::collection::vec((label(), value), 0..40), any::<bool>()).prop_map(|(c, s)| Step::Merge(c, s)),
            1 => Just(Step::Relabel),
            1 => any::<u32>().prop_map(Step::Retain),
        ]
    }

    /// The histogram of these values.
    fn hist_of(vs: &[u64]) -> LatencyHist {
        let mut h = LatencyHist::default();
        vs.iter().for_each(|&v| h.record(v));
        h
    }

    proptest! {
        /// Whatever the layout and the sequence of records, merges, relabellings and compactions, the table
        /// holds what a map from label to the values recorded under it holds (implausible labels dropped), and a
        /// sparse table a slot per label (give or take its vectors' growth).
        #[test]
        fn funchists_are_a_map_of_labels_to_values(
            sparse in any::<bool>(),
            steps in prop::collection::vec(step(), 0..60),
            targets in prop::collection::vec(prop_oneof![8 => 0u32..60, 1 => Just(MAX_HIST_LABEL)], 40),
        ) {
            let relabel = |f: u32| if f < 40 { targets[f as usize] } else { f };
            let mut hists = if sparse { FuncHists::sparse() } else { FuncHists::default() };
            let mut model: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
            // The most labels held at once (a sparse table's vectors keep their capacity when they shrink).
            let mut most = 0;
            for s in steps {
                match s {
                    Step::Record(f, v) => {
                        hists.record(f, v);
                        if f < MAX_HIST_LABEL {
                            model.entry(f).or_default().push(v);
                        }
                    }
                    Step::Compact => hists.compact(),
                    Step::Merge(calls, sparse) => {
                        let mut other = if sparse { FuncHists::sparse() } else { FuncHists::default() };
                        for &(f, v) in &calls {
                            other.record(f, v);
                            let g = relabel(f);
                            if f < MAX_HIST_LABEL && g < MAX_HIST_LABEL {
                                model.entry(g).or_default().push(v);
                            }
                        }
                        hists.merge(&other, relabel);
                    }
                    Step::Relabel => {
                        hists = hists.into_relabelled(relabel);
                        let mut relabelled: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
                        for (f, vs) in std::mem::take(&mut model) {
                            if relabel(f) < MAX_HIST_LABEL {
                                relabelled.entry(relabel(f)).or_default().extend(vs);
                            }
                        }
                        model = relabelled;
                    }
                    Step::Retain(mask) => {
                        let keep = |f: u32| mask >> (f % 32) & 1 == 1;
                        hists.retain(keep);
                        model.retain(|&f, _| keep(f));
                    }
                }
                let want: Vec<(u32, LatencyHist)> = model.iter().map(|(&f, vs)| (f, hist_of(vs))).collect();
                let got: Vec<(u32, LatencyHist)> = hists.iter().map(|(f, h)| (f, h.clone())).collect();
                prop_assert_eq!(&got, &want);
                for f in 0..61 {
                    let want = model.get(&f).map(|vs| hist_of(vs));
                    prop_assert_eq!(hists.get(f), want.as_ref());
                }
                most = most.max(model.len());
                if hists.is_sparse() {
                    prop_assert!(hists.slots() <= 2 * most.max(4), "{} slots, {} labels", hists.slots(), most);
                } else if hists.thin {
                    prop_assert!(hists.slots() <= THIN_DENSE_RATIO * (most + 1), "{} slots, {} labels", hists.slots(), most);
                }
            }
        }

        /// Moving histograms to new labels gives what adding them under those labels gives, merges or not.
        #[test]
        fn into_relabelled_is_merge(
            calls in prop::collection::vec((0u32..10, 0u64..1 << 20), 0..300),
            targets in prop::collection::vec(0u32..30, 10),
            sparse in any::<bool>(),
        ) {
            let mut hists = FuncHists::default();
            for &(f, v) in &calls {
                hists.record(f, v);
            }
            let relabel = |f: u32| targets[f as usize];
            let mut want = if sparse { FuncHists::sparse() } else { FuncHists::default() };
            want.merge(&hists, relabel);
            let got = hists.into_relabelled(relabel);
            prop_assert_eq!(got.iter().collect::<Vec<_>>(), want.iter().collect::<Vec<_>>());
        }
    }
}
