//! The call-tree arena: one node per distinct stack, never one per call.
//!
//! Nodes live in a `Vec` and refer to each other by index, so a tree of a million nodes is one allocation and
//! merging chunk trees is index arithmetic. Children are found through one hash map keyed by (parent, function)
//! rather than per-node maps, which keeps a node small (the common case is a leaf).

use hdrhistogram::Histogram;
use rustc_hash::FxHashMap;

fn new_hist() -> Box<Histogram<u32>> {
    Box::new(Histogram::new(SIGFIG).expect("valid sigfig"))
}

/// Index of "no node" (the parent of a root).
pub const NO_NODE: u32 = u32::MAX;
/// The function label of a root (a thread, or a chunk's anchor).
pub const NO_FUNC: u32 = u32::MAX;

/// Latency distributions keep 2 significant digits: p99 within 1 %.
const SIGFIG: u8 = 2;

/// What the calls at one stack position add up to. Latency distributions are kept per thread and function
/// ([`FuncHists`]), not per node: a big profile has millions of distinct stacks, and a histogram precise to 1 %
/// is kilobytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Calls that ended here (a call that suspended and resumed elsewhere counts where it ended).
    pub hits: u64,
    /// Time on the stack at this position, children included (calls that never ended contribute the time of
    /// the calls that ended inside them, see `docs/ANALYZER.md`).
    pub total_ns: u64,
    /// Sum of the whole durations of the calls counted in `hits` (for the exact mean).
    pub sum_ns: u64,
    pub min_ns: u64,
    pub max_ns: u64,
}

impl Stats {
    /// A call ended after being on the stack for `whole_ns` in all.
    #[inline]
    pub fn observe(&mut self, whole_ns: u64) {
        if self.hits == 0 || whole_ns < self.min_ns {
            self.min_ns = whole_ns;
        }
        self.max_ns = self.max_ns.max(whole_ns);
        self.hits += 1;
        self.sum_ns += whole_ns;
    }

    pub fn merge(&mut self, other: &Stats) {
        self.total_ns += other.total_ns;
        if other.hits == 0 {
            return;
        }
        if self.hits == 0 || other.min_ns < self.min_ns {
            self.min_ns = other.min_ns;
        }
        self.max_ns = self.max_ns.max(other.max_ns);
        self.hits += other.hits;
        self.sum_ns += other.sum_ns;
    }
}

/// Whole call durations per function label: mergeable HDR histograms (2 significant digits, so quantiles are
/// within 1 %; `u32` counts). A function's first [`RAW_PER_FUNC`] durations are kept as plain values instead:
/// most functions are called a few times per chunk, and merging a histogram costs its few thousand counters
/// where recording a value costs one.
#[derive(Debug, Clone, Default)]
pub struct FuncHists {
    by_func: Vec<Option<Box<Histogram<u32>>>>,
    raw_count: Vec<u8>,
    raw: Vec<(u32, u64)>,
    /// Durations of functions that have a histogram, not recorded yet: recorded [`PENDING_MAX`] at a time,
    /// grouped by function, so each histogram's counters are loaded once per batch rather than once per call
    /// (thousands of histograms do not fit in the caches; the counter load was most of the recording cost).
    /// A histogram's contents do not depend on the order of its values.
    pending: Vec<(u32, u64)>,
    /// Scratch for [`FuncHists::flush`]: per label, a count then an offset; the labels seen; values by label.
    slot: Vec<u32>,
    seen: Vec<u32>,
    sorted: Vec<u64>,
}

/// Durations held in [`FuncHists::pending`] before they are recorded.
const PENDING_MAX: usize = 1 << 14;

/// Values kept raw per function before it gets a histogram.
pub const RAW_PER_FUNC: u8 = 32;

/// Labels above this are not given a histogram (a corrupt id must not allocate gigabytes).
const MAX_HIST_LABEL: u32 = 1 << 22;

impl FuncHists {
    /// The index of `func`'s histogram, growing the tables to hold it; `None` for an implausible id.
    #[inline]
    fn slot(&mut self, func: u32) -> Option<usize> {
        if func >= MAX_HIST_LABEL {
            return None;
        }
        let i = func as usize;
        if i >= self.by_func.len() {
            self.by_func.resize_with(i + 1, || None);
            self.raw_count.resize(i + 1, 0);
        }
        Some(i)
    }

    #[inline]
    pub fn record(&mut self, func: u32, whole_ns: u64) {
        let Some(i) = self.slot(func) else { return };
        if self.by_func[i].is_some() {
            self.pending.push((func, whole_ns));
            if self.pending.len() >= PENDING_MAX {
                self.flush();
            }
        } else if self.raw_count[i] < RAW_PER_FUNC {
            self.raw_count[i] += 1;
            self.raw.push((func, whole_ns));
        } else {
            let h = self.by_func[i].insert(new_hist());
            record(h, whole_ns);
        }
    }

    /// Records the pending durations, grouped by function (a counting sort).
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.slot.len() < self.by_func.len() {
            self.slot.resize(self.by_func.len(), 0);
        }
        self.seen.clear();
        for &(f, _) in &self.pending {
            let c = &mut self.slot[f as usize];
            if *c == 0 {
                self.seen.push(f);
            }
            *c += 1;
        }
        let mut at = 0u32;
        for &f in &self.seen {
            let c = &mut self.slot[f as usize];
            let n = *c;
            *c = at;
            at += n;
        }
        self.sorted.resize(self.pending.len(), 0);
        for &(f, v) in &self.pending {
            let c = &mut self.slot[f as usize];
            self.sorted[*c as usize] = v;
            *c += 1;
        }
        // `slot[f]` is now the end of f's values, and the labels in `seen` are in the order of their ranges.
        let mut begin = 0usize;
        for &f in &self.seen {
            let end = self.slot[f as usize] as usize;
            let h = self.by_func[f as usize].as_mut().expect("pending only for functions with a histogram");
            for &v in &self.sorted[begin..end] {
                record(h, v);
            }
            self.slot[f as usize] = 0;
            begin = end;
        }
        self.pending.clear();
    }

    /// Adds `other`'s durations, relabelled.
    pub fn merge(&mut self, other: &FuncHists, relabel: impl Fn(u32) -> u32) {
        for &(f, v) in other.raw.iter().chain(&other.pending) {
            self.record(relabel(f), v);
        }
        for (f, h) in other.by_func.iter().enumerate().filter_map(|(i, h)| h.as_deref().map(|h| (i as u32, h))) {
            self.add(relabel(f), h);
        }
    }

    fn add(&mut self, func: u32, h: &Histogram<u32>) {
        let Some(i) = self.slot(func) else { return };
        match &mut self.by_func[i] {
            // Auto-resizing histograms add whatever their ranges; only a count overflow fails (ignored).
            Some(mine) => drop(mine.add(h)),
            slot @ None => *slot = Some(Box::new(h.clone())),
        }
    }

    /// Moves the raw values into histograms (before reading quantiles).
    pub fn compact(&mut self) {
        self.flush();
        for (f, v) in std::mem::take(&mut self.raw) {
            let h = self.by_func[f as usize].get_or_insert_with(new_hist);
            record(h, v);
        }
        self.raw_count.iter_mut().for_each(|c| *c = RAW_PER_FUNC);
    }

    /// The histogram of `func` ([`FuncHists::compact`] first).
    pub fn get(&self, func: u32) -> Option<&Histogram<u32>> {
        debug_assert!(self.raw.is_empty() && self.pending.is_empty(), "compact() before reading");
        self.by_func.get(func as usize).and_then(|h| h.as_deref())
    }

    /// Every histogram ([`FuncHists::compact`] first).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Histogram<u32>)> {
        debug_assert!(self.raw.is_empty() && self.pending.is_empty(), "compact() before reading");
        self.by_func.iter().enumerate().filter_map(|(i, h)| h.as_deref().map(|h| (i as u32, h)))
    }

    /// Only the functions `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        self.raw.retain(|&(f, _)| keep(f));
        self.pending.retain(|&(f, _)| keep(f));
        for (i, h) in self.by_func.iter_mut().enumerate() {
            if !keep(i as u32) {
                *h = None;
            }
        }
    }
}

#[inline]
fn record(h: &mut Histogram<u32>, v: u64) {
    // `record` grows an auto-resizing histogram; it fails only when a count would overflow.
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// Children lists of a [`Tree`] (`children[n]` is node `n`'s), stored contiguously: a tree of millions of
/// nodes would otherwise need millions of small vectors.
#[derive(Debug, Clone)]
pub struct Children {
    start: Vec<u32>,
    items: Vec<u32>,
}

impl std::ops::Index<usize> for Children {
    type Output = [u32];

    fn index(&self, n: usize) -> &[u32] {
        &self.items[self.start[n] as usize..self.start[n + 1] as usize]
    }
}

impl Children {
    /// Applies `f` to each node's list (to sort them).
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut [u32])) {
        for n in 0..self.start.len() - 1 {
            f(&mut self.items[self.start[n] as usize..self.start[n + 1] as usize]);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub func: u32,
    pub parent: u32,
    pub stats: Stats,
}

/// An arena of nodes; node 0 is the root.
#[derive(Debug, Clone)]
pub struct Tree {
    pub nodes: Vec<Node>,
    index: FxHashMap<u64, u32>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// A tree holding only its root (node 0).
    pub fn new() -> Self {
        let mut t = Tree { nodes: Vec::with_capacity(64), index: FxHashMap::default() };
        t.add_root();
        t
    }

    /// Adds another parentless node and returns it (chunk trees use one per stretch of unknown context).
    pub fn add_root(&mut self) -> u32 {
        self.nodes.push(Node { func: NO_FUNC, parent: NO_NODE, stats: Stats::default() });
        (self.nodes.len() - 1) as u32
    }

    /// The child of `parent` for `func`, created on first use.
    #[inline]
    pub fn child(&mut self, parent: u32, func: u32) -> u32 {
        let key = ((parent as u64) << 32) | func as u64;
        let next = self.nodes.len() as u32;
        let idx = *self.index.entry(key).or_insert(next);
        if idx == next {
            self.nodes.push(Node { func, parent, stats: Stats::default() });
        }
        idx
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// Children of every node (indices, in creation order), in one allocation.
    pub fn children(&self) -> Children {
        let n = self.nodes.len();
        let mut start = vec![0u32; n + 1];
        for node in &self.nodes {
            if node.parent != NO_NODE {
                start[node.parent as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; start[n] as usize];
        for (i, node) in self.nodes.iter().enumerate() {
            if node.parent != NO_NODE {
                let at = &mut fill[node.parent as usize];
                items[*at as usize] = i as u32;
                *at += 1;
            }
        }
        Children { start, items }
    }

    /// Self time of every node: total minus the children's totals.
    pub fn self_times(&self) -> Vec<u64> {
        let mut s: Vec<u64> = self.nodes.iter().map(|n| n.stats.total_ns).collect();
        for n in &self.nodes {
            if n.parent != NO_NODE {
                let p = n.parent as usize;
                s[p] = s[p].saturating_sub(n.stats.total_ns);
            }
        }
        s
    }

    /// Adds every node of `other` (root included) into this tree under `at`, functions relabelled through
    /// `relabel`. Returns where each node of `other` went.
    pub fn graft(&mut self, other: &Tree, at: u32, relabel: impl Fn(u32) -> u32) -> Vec<u32> {
        let mut map = vec![NO_NODE; other.nodes.len()];
        for (i, n) in other.nodes.iter().enumerate() {
            let to = if n.parent == NO_NODE { at } else { self.child(map[n.parent as usize], relabel(n.func)) };
            map[i] = to;
            self.nodes[to as usize].stats.merge(&n.stats);
        }
        map
    }

    /// A copy with functions relabelled, merging siblings that now share a label.
    pub fn relabelled(&self, relabel: impl Fn(u32) -> u32) -> Tree {
        let mut t = Tree::new();
        t.graft(self, 0, relabel);
        t
    }
}
