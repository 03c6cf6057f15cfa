//! The call-tree arena: one node per distinct stack, never one per call.
//!
//! Nodes live in a `Vec` and refer to each other by index, so a tree of a million nodes is one allocation and
//! merging chunk trees is index arithmetic. Children are found through one open-addressing index over *path
//! hashes* ([`path_hash`]: a stack's hash is its caller's hash mixed with its function) rather than per-node
//! maps, which keeps a node small (the common case is a leaf). A slot holds only the node, so a lookup reads one
//! 4-byte slot and then the node it is about to update anyway.

/// Index of "no node" (the parent of a root).
pub const NO_NODE: u32 = u32::MAX;
/// The function label of a root (a thread, or a chunk's anchor).
pub const NO_FUNC: u32 = u32::MAX;

/// What the calls at one stack position add up to. Latency distributions are kept per thread and function
/// ([`crate::hist::FuncHists`]), not per node: a big profile has millions of distinct stacks, and a histogram
/// precise to 1 % is kilobytes. The summed whole durations of the calls (for the exact mean) are
/// [`Tree::sum_ns`]: they equal `total_ns` but where generators suspended or calls were cut, so the tree keeps
/// only the difference, for those few nodes (32-byte statistics, 40-byte nodes: more of a tree stays in cache).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Calls that ended here (a call that suspended and resumed elsewhere counts where it ended), and calls that
    /// never ended, still on the stack here at their thread's last event or last suspended here (see
    /// [`Unfinished`]).
    pub hits: u64,
    /// Time on the stack at this position, children included (calls cut by an exit below them contribute the
    /// time of the calls that ended inside them; unfinished ones their time up to the thread's last event, see
    /// `docs/ANALYZER.md`).
    pub total_ns: u64,
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
    }
}

/// The calls counted in a node's hits that never ended: still on the stack, or suspended, at their thread's last
/// event (a killed process, a generator closed without an exit). Kept apart from [`Stats`], for the few nodes
/// that have them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unfinished {
    pub calls: u64,
    /// The part of the node's total from their last enter or resume to the thread's last event (0 for a
    /// generator that was suspended then: suspended time does not count).
    pub ns: u64,
}

impl Unfinished {
    pub fn add(&mut self, o: Unfinished) {
        self.calls += o.calls;
        self.ns += o.ns;
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

/// 40 bytes: an enter's lookup reads `func` and `parent`, and the call's exit writes `stats`. The path hash
/// the index finds a node by is kept apart ([`Tree`]'s `hashes`), since only building the tree needs it.
#[derive(Debug, Clone)]
pub struct Node {
    pub func: u32,
    pub parent: u32,
    pub stats: Stats,
}

/// The hash of a stack: its parent's path hash mixed with its function. Computed from the parent's *hash*
/// rather than its index, so a lookup's key does not wait for the previous lookup's result. (This index analyzed
/// the generator's traces ~5 % faster than an `FxHashMap` keyed by (parent, function).)
#[inline(always)]
pub fn path_hash(parent_hash: u64, func: u32) -> u64 {
    (parent_hash.rotate_left(23) ^ (func as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Path hash of the `k`-th parentless node (roots and chunk anchors differ from each other).
fn root_hash(k: u32) -> u64 {
    path_hash(0x243F_6A88_85A3_08D3, k)
}

/// The index of a [`Tree`]: open addressing over path hashes (the slot number from their high bits), linear
/// probing. A slot holds the node index alone: a probe reads the slot and then the node it names, which the caller
/// is about to use anyway, and whose function and parent decide the match. Slots used to hold a 32-bit tag of the
/// hash too, which spared the node's load on a probe that collided; at the index's load (a quarter to a half)
/// collisions are rare, and 4-byte slots halve the index, a third of a thread's tree in cache: 1–3 % faster on
/// the generator's traces (docs/performance-log.md).
#[derive(Debug, Clone)]
struct PathIndex {
    slots: Vec<u32>,
    shift: u32,
}

const EMPTY_SLOT: u32 = u32::MAX;

/// The smallest index a tree keeps (an index of fewer slots is a dropped one, see [`Tree::drop_index`]).
const MIN_INDEX_BITS: u32 = 6;

impl PathIndex {
    fn with_bits(bits: u32) -> Self {
        PathIndex { slots: vec![EMPTY_SLOT; 1 << bits], shift: 64 - bits }
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }
}

/// An arena of nodes; node 0 is the root, and a node's parent always comes before it (nodes are only added
/// under existing ones), which lets passes in node order see parents first.
#[derive(Debug, Clone)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Each node's [`path_hash`], or empty once the index is dropped (see [`Tree::drop_index`]).
    hashes: Vec<u64>,
    index: PathIndex,
    roots: u32,
    /// Per node, the summed whole durations of its calls minus its `total_ns` (wrapping), where not zero: time
    /// a generator spent on the stack before it suspended here, or in another stack before it resumed and ended
    /// here, and time of calls cut off (see [`Tree::sum_ns`]).
    sum_excess: rustc_hash::FxHashMap<u32, u64>,
    /// Per node, its calls that never ended, where there are any (see [`Unfinished`]).
    unfinished: rustc_hash::FxHashMap<u32, Unfinished>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// A tree holding only its root (node 0).
    pub fn new() -> Self {
        // No room reserved ahead: a thread-per-request server has tens of thousands of threads with a call or two
        // each, in every chunk (64 nodes reserved were 3 KB a thread, most of `summary`'s memory there).
        let mut t = Tree {
            nodes: Vec::new(),
            hashes: Vec::new(),
            index: PathIndex::with_bits(MIN_INDEX_BITS),
            roots: 0,
            sum_excess: Default::default(),
            unfinished: Default::default(),
        };
        t.add_root();
        t
    }

    /// Adds another parentless node and returns it (chunk trees use one per stretch of unknown context).
    pub fn add_root(&mut self) -> u32 {
        self.ensure_index();
        self.hashes.push(root_hash(self.roots));
        self.roots += 1;
        self.nodes.push(Node { func: NO_FUNC, parent: NO_NODE, stats: Stats::default() });
        (self.nodes.len() - 1) as u32
    }

    /// The summed whole durations of the calls counted in `node`'s hits (for the exact mean).
    pub fn sum_ns(&self, node: u32) -> u64 {
        // Most trees have no excess at all: no hashing then.
        let excess = if self.sum_excess.is_empty() { 0 } else { self.sum_excess.get(&node).copied().unwrap_or(0) };
        self.nodes[node as usize].stats.total_ns.wrapping_add(excess)
    }

    /// Adds `ns` to `node`'s summed durations and not to its total (a whole duration longer than the stretch
    /// on this stack).
    #[cold]
    #[inline(never)]
    pub fn add_to_sum(&mut self, node: u32, ns: u64) {
        let e = self.sum_excess.entry(node).or_insert(0);
        *e = e.wrapping_add(ns);
    }

    /// Adds `ns` to `node`'s total and not to its summed durations (a stretch of a call that ends elsewhere,
    /// or never).
    #[cold]
    #[inline(never)]
    pub fn add_to_total_only(&mut self, node: u32, ns: u64) {
        self.nodes[node as usize].stats.total_ns += ns;
        self.add_to_sum(node, ns.wrapping_neg());
    }

    /// Sets `node`'s summed durations (when its total was set apart from its calls, see `select::filter_tree`).
    pub fn set_sum_ns(&mut self, node: u32, sum: u64) {
        let excess = sum.wrapping_sub(self.nodes[node as usize].stats.total_ns);
        if excess == 0 {
            self.sum_excess.remove(&node);
        } else {
            self.sum_excess.insert(node, excess);
        }
    }

    /// The nodes whose summed durations differ from their totals, with the difference (in no order).
    pub(crate) fn sum_excesses(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.sum_excess.iter().map(|(&n, &e)| (n, e))
    }

    /// The calls of `node` that never ended (counted in its hits, their time in its total).
    pub fn unfinished(&self, node: u32) -> Unfinished {
        self.unfinished.get(&node).copied().unwrap_or_default()
    }

    /// Adds to `node`'s calls that never ended (the caller counts their hits and time in its [`Stats`]).
    #[cold]
    pub fn add_unfinished(&mut self, node: u32, u: Unfinished) {
        if u != Unfinished::default() {
            self.unfinished.entry(node).or_default().add(u);
        }
    }

    /// Whether some node has calls that never ended.
    pub fn has_unfinished(&self) -> bool {
        !self.unfinished.is_empty()
    }

    /// The nodes with calls that never ended (in no order).
    pub fn unfinished_nodes(&self) -> impl Iterator<Item = (u32, Unfinished)> + '_ {
        self.unfinished.iter().map(|(&n, &u)| (n, u))
    }

    /// The path hash of `node` (to pass to [`Tree::child_hashed`]).
    #[inline]
    pub fn hash_of(&mut self, node: u32) -> u64 {
        self.ensure_index();
        self.hashes[node as usize]
    }

    /// The child of `parent` for `func`, created on first use.
    #[inline]
    pub fn child(&mut self, parent: u32, func: u32) -> u32 {
        let parent_hash = self.hash_of(parent);
        self.child_hashed(parent, parent_hash, func).0
    }

    /// [`Tree::child`] for a caller that knows `parent`'s path hash; returns the child and its hash.
    #[inline(always)]
    pub fn child_hashed(&mut self, parent: u32, parent_hash: u64, func: u32) -> (u32, u64) {
        let hash = path_hash(parent_hash, func);
        (self.find_or_insert(parent, func, hash), hash)
    }

    /// The child of `parent` for `func`, whose path hash is `hash`.
    #[inline(always)]
    fn find_or_insert(&mut self, parent: u32, func: u32, hash: u64) -> u32 {
        let mask = self.index.slots.len() - 1;
        let mut i = self.index.home(hash);
        // Only the lookup of a known stack (nearly every enter) is inlined into the caller's loop.
        loop {
            let n = self.index.slots[i & mask];
            if n == EMPTY_SLOT {
                return self.insert(parent, func, hash, i & mask);
            }
            let node = &self.nodes[n as usize];
            if node.func == func && node.parent == parent {
                return n;
            }
            i += 1;
        }
    }

    /// Adds the child of `parent` for `func` (path hash `hash`), whose lookup ended at the empty slot `i`.
    /// With a dropped index, which has only empty slots, rebuilds the index and looks again.
    #[cold]
    #[inline(never)]
    fn insert(&mut self, parent: u32, func: u32, hash: u64, i: usize) -> u32 {
        if self.index_dropped() {
            self.rebuild_dropped();
            return self.find_or_insert(parent, func, hash);
        }
        let n = self.nodes.len() as u32;
        self.nodes.push(Node { func, parent, stats: Stats::default() });
        self.hashes.push(hash);
        self.index.slots[i] = n;
        // At most half full: probes stay short.
        if self.nodes.len() * 2 > self.index.slots.len() {
            self.grow_index();
        }
        n
    }

    #[cold]
    fn grow_index(&mut self) {
        self.rebuild_index(64 - self.index.shift + 1);
    }

    /// Frees the index and the path hashes of a tree that may not be looked up again (a finished chunk's,
    /// which is read node by node when stitched, or becomes the thread's tree and is relabelled at the end):
    /// with a thousand threads they were a third of the trees' memory. A lookup rebuilds both (through
    /// `Tree::insert`, so the lookups' inlined path is unchanged: the dropped index is two empty slots).
    pub fn drop_index(&mut self) {
        self.index = PathIndex::with_bits(1);
        self.hashes = Vec::new();
    }

    fn index_dropped(&self) -> bool {
        self.index.slots.len() < 1 << MIN_INDEX_BITS
    }

    /// Rebuilds a dropped index and the path hashes (in node order: parents come first).
    #[cold]
    fn rebuild_dropped(&mut self) {
        let mut roots = 0;
        self.hashes = Vec::with_capacity(self.nodes.len());
        for n in 0..self.nodes.len() {
            let node = &self.nodes[n];
            let hash = if node.parent == NO_NODE {
                roots += 1;
                root_hash(roots - 1)
            } else {
                path_hash(self.hashes[node.parent as usize], node.func)
            };
            self.hashes.push(hash);
        }
        self.rebuild_index(index_bits_for(self.nodes.len()));
    }

    /// Makes sure the index and the path hashes are there.
    #[inline]
    fn ensure_index(&mut self) {
        if self.index_dropped() {
            self.rebuild_dropped();
        }
    }

    /// Replaces the index with one of `2^bits` slots holding every node but the parentless ones.
    fn rebuild_index(&mut self, bits: u32) {
        let mut index = PathIndex::with_bits(bits);
        let mask = index.slots.len() - 1;
        for (n, (node, &hash)) in self.nodes.iter().zip(&self.hashes).enumerate() {
            if node.parent == NO_NODE {
                continue;
            }
            let mut i = index.home(hash);
            while index.slots[i] != EMPTY_SLOT {
                i = (i + 1) & mask;
            }
            index.slots[i] = n as u32;
        }
        self.index = index;
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The bytes the tree's nodes, path hashes and index hold (reserved included).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.hashes.capacity() * std::mem::size_of::<u64>()
            + self.index.slots.capacity() * std::mem::size_of::<u32>()
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
        for (&n, &excess) in &other.sum_excess {
            self.add_to_sum(map[n as usize], excess);
        }
        for (&n, &u) in &other.unfinished {
            self.add_unfinished(map[n as usize], u);
        }
        map
    }

    /// A copy with functions relabelled, merging siblings that now share a label.
    pub fn relabelled(&self, relabel: impl Fn(u32) -> u32) -> Tree {
        let mut t = Tree::new();
        t.graft(self, 0, relabel);
        t
    }

    /// The same tree as [`Tree::relabelled`] gives. When the tree has one root and `relabel` gives its labels
    /// distinct labels (a binary file's function ids becoming the analysis' functions, the usual case), no
    /// siblings merge: the nodes keep their places and their statistics, and only the labels are redone (the
    /// path hashes and the index are dropped, see [`Tree::drop_index`]), a fraction of the cost of building the
    /// tree anew.
    pub fn into_relabelled(mut self, relabel: impl Fn(u32) -> u32) -> Tree {
        if self.relabel_in_place(&relabel) {
            self
        } else {
            self.relabelled(relabel)
        }
    }

    /// [`Tree::into_relabelled`]'s case without merges; `false` (and nothing changed) in any other case.
    fn relabel_in_place(&mut self, relabel: &impl Fn(u32) -> u32) -> bool {
        // Only node 0 is parentless, and every parent comes before its children (so hashes can be redone in order).
        if self.roots != 1 || self.nodes.iter().enumerate().skip(1).any(|(i, n)| n.parent as usize >= i) {
            return false;
        }
        if relabel_merges(self.nodes[1..].iter().map(|n| n.func).collect(), relabel) {
            return false;
        }
        for node in &mut self.nodes[1..] {
            node.func = relabel(node.func);
        }
        // Most relabelled trees are only read from now on: a lookup rebuilds the hashes and the index.
        self.drop_index();
        true
    }
}

/// The smallest index `insert` would keep for `nodes` nodes (at most half full).
fn index_bits_for(nodes: usize) -> u32 {
    (2 * nodes).next_power_of_two().trailing_zeros().max(MIN_INDEX_BITS)
}

/// Whether `relabel` gives two of `labels` (repeats allowed) the same label.
pub(crate) fn relabel_merges(mut labels: Vec<u32>, relabel: impl Fn(u32) -> u32) -> bool {
    labels.sort_unstable();
    labels.dedup();
    let mut relabelled: Vec<u32> = labels.into_iter().map(relabel).collect();
    relabelled.sort_unstable();
    relabelled.windows(2).any(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A tree from (parent pick, label) pairs: each node's parent is one of the nodes before it; with
    /// `second_root`, node 1 is a second parentless node (as a chunk's anchors are).
    fn tree_of(shape: &[(u16, u8)], second_root: bool) -> Tree {
        let mut t = Tree::new();
        if second_root {
            t.add_root();
        }
        for (k, &(parent, label)) in shape.iter().enumerate() {
            let parent = parent as u32 % t.len() as u32;
            let n = t.child(parent, label as u32);
            t.nodes[n as usize].stats.observe(k as u64 + 1);
            // A total unlike the duration (a generator's stretch), so that merges must carry the sums apart.
            t.add_to_total_only(n, k as u64);
            t.nodes[n as usize].stats.total_ns += k as u64 + 1;
            if k % 5 == 0 {
                t.add_unfinished(n, Unfinished { calls: 1, ns: k as u64 });
            }
        }
        t
    }

    /// A node as the tests compare it: function, parent, hits, total, summed durations, min, max, unfinished.
    type Described = (u32, u32, u64, u64, u64, u64, u64, Unfinished);

    fn described(t: &Tree) -> Vec<Described> {
        t.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let s = &n.stats;
                let u = t.unfinished(i as u32);
                (n.func, n.parent, s.hits, s.total_ns, t.sum_ns(i as u32), s.min_ns, s.max_ns, u)
            })
            .collect()
    }

    proptest! {
        /// Relabelling in place gives the tree a rebuild gives (nodes, order, statistics), and its index finds
        /// every node, whether the labels stay distinct (in place) or merge or the tree has two roots (rebuilt).
        #[test]
        fn into_relabelled_is_relabelled(
            shape in prop::collection::vec((any::<u16>(), 0u8..12), 0..300),
            targets in prop::collection::vec(0u32..40, 12),
            second_root in any::<bool>(),
        ) {
            let t = tree_of(&shape, second_root);
            let relabel = |f: u32| targets[f as usize];
            let want = t.relabelled(relabel);
            let mut got = t.clone().into_relabelled(relabel);
            prop_assert_eq!(described(&got), described(&want));
            for n in 1..got.len() {
                let (parent, func) = (got.nodes[n].parent, got.nodes[n].func);
                prop_assert_eq!(got.child(parent, func) as usize, n);
            }
            prop_assert_eq!(got.len(), want.len());
        }

        /// After [`Tree::drop_index`], lookups find every node that was there and add new ones as before: the
        /// same tree as building it all with its index, with the same path hashes (recomputed, anchors' too).
        #[test]
        fn lookups_after_dropping_the_index(
            before in prop::collection::vec((any::<u16>(), 0u8..12), 0..300),
            after in prop::collection::vec((any::<u16>(), 0u8..12), 0..300),
            second_root in any::<bool>(),
        ) {
            let all: Vec<(u16, u8)> = before.iter().chain(&after).copied().collect();
            let want = tree_of(&all, second_root);
            let mut got = tree_of(&before, second_root);
            let hashes = got.hashes.clone();
            got.drop_index();
            prop_assert!(got.index_dropped() && got.hashes.is_empty());
            prop_assert_eq!(got.hash_of(0), hashes[0]);
            prop_assert_eq!(&got.hashes, &hashes);
            for n in 1..got.len() {
                let (parent, func) = (got.nodes[n].parent, got.nodes[n].func);
                if parent != NO_NODE {
                    prop_assert_eq!(got.child(parent, func) as usize, n);
                }
            }
            for (k, &(parent, label)) in after.iter().enumerate() {
                let k = before.len() + k;
                let parent = parent as u32 % got.len() as u32;
                let n = got.child(parent, label as u32);
                got.nodes[n as usize].stats.observe(k as u64 + 1);
                got.add_to_total_only(n, k as u64);
                got.nodes[n as usize].stats.total_ns += k as u64 + 1;
                if k % 5 == 0 {
                    got.add_unfinished(n, Unfinished { calls: 1, ns: k as u64 });
                }
            }
            prop_assert_eq!(described(&got), described(&want));
            prop_assert_eq!(&got.hashes, &want.hashes);
        }
    }
}
