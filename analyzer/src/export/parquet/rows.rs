//! A thread's row group of `calls.parquet` as it fills: each call, handed over when it ends, is written straight
//! into the columns at its slot, its place among the thread's calls in the order they began, so that the rows
//! come out in that order without being sorted or copied (sorting rows handed over as they ended took a seventh
//! of the export, and copying them into the columns as much again).
//!
//! The replay numbers a thread's calls 1, 2, 3… as they enter and hands each over when it ends (a call after the
//! calls it made). A call's number gives its slot; the slots of calls still open when the row group is cut (the
//! callers of the last calls, suspended generators: a handful) are taken out of the columns and become the
//! first slots of the next row group, where they are still before every call that began after them.

use crate::export::replay::CallRow;

/// The low bits of a call id: its number within the thread (the high ones are the thread's ordinal).
const NUMBER: u64 = (1 << 40) - 1;

/// Which call each slot of the row group holds.
struct Slots {
    /// Slots whose call has ended.
    filled: Vec<bool>,
    /// The numbers of the calls in the first slots, carried over from earlier row groups (ascending).
    carried: Vec<u64>,
    /// The number of the call in slot `carried.len()`; later slots follow it one by one.
    base: u64,
    /// Slots filled.
    done: usize,
}

impl Slots {
    fn new() -> Self {
        // The replay's first call of a thread is number 1.
        Slots { filled: Vec::new(), carried: Vec::new(), base: 1, done: 0 }
    }

    /// The slot of an ended call, now filled.
    #[inline]
    fn claim(&mut self, call_id: u64) -> usize {
        let n = call_id & NUMBER;
        let slot = if n >= self.base {
            usize::try_from(n - self.base).ok().map(|k| k + self.carried.len()).filter(|&s| s < self.limit())
        } else {
            self.carried.binary_search(&n).ok()
        };
        // A number this replay never hands out (far ahead, or one already ended: only a bug would make one)
        // goes at the end, so that no call is lost.
        let slot = match slot {
            Some(s) if !self.filled.get(s).copied().unwrap_or(false) => s,
            _ => self.filled.len(),
        };
        if slot >= self.filled.len() {
            self.filled.resize(slot + 1, false);
        }
        self.filled[slot] = true;
        self.done += 1;
        slot
    }

    /// Slots past this many are not reserved for a call far ahead (a damaged trace's numbering cannot make the
    /// columns grow without bound): four times the calls ended, and at least a million.
    fn limit(&self) -> usize {
        (self.done * 4).max(1 << 20)
    }

    /// Cuts the row group: returns its slots and puts those not filled in `gaps` (ascending), which are the
    /// next row group's first slots unless `all` (the thread is over: a call never handed over is dropped).
    fn cut(&mut self, all: bool, gaps: &mut Vec<usize>) -> usize {
        gaps.clear();
        let (len, k) = (self.filled.len(), self.carried.len());
        let mut carried = Vec::new();
        for (i, _) in self.filled.iter().enumerate().filter(|(_, &f)| !f) {
            gaps.push(i);
            if !all {
                carried.push(if i < k { self.carried[i] } else { self.base + (i - k) as u64 });
            }
        }
        self.base += len.saturating_sub(k) as u64;
        self.filled.clear();
        self.filled.resize(carried.len(), false);
        self.carried = carried;
        self.done = 0;
        len
    }
}

/// Removes the values at `gaps` (ascending, within `v`) from `v`, keeping the others in order; returns how many.
fn squeeze<T: Copy>(v: &mut [T], gaps: &[usize]) -> usize {
    let Some(&first) = gaps.first() else {
        return v.len();
    };
    let mut w = first;
    for (i, &g) in gaps.iter().enumerate() {
        let end = gaps.get(i + 1).copied().unwrap_or(v.len());
        v.copy_within(g + 1..end, w);
        w += end - g - 1;
    }
    w
}

/// Keeps the values of `v` whose `keep` is set, in order, at its front; returns how many.
pub(super) fn compact(v: &mut [i64], keep: &[bool]) -> usize {
    let mut j = 0;
    for i in 0..keep.len() {
        v[j] = v[i];
        j += usize::from(keep[i]);
    }
    j
}

/// The optional values of a cut row group, compacted: `parents` parent ids, `closed` durations and self times.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cut {
    pub parents: usize,
    pub closed: usize,
}

/// The row group's columns, written by slot, and kept between row groups so that their memory is reused.
pub(super) struct Rows {
    slots: Slots,
    /// Keys into the row group's function dictionaries.
    pub func: Vec<u32>,
    /// Index into the sink's thread names.
    pub thread: Vec<u32>,
    pub depth: Vec<u32>,
    pub call_id: Vec<i64>,
    pub parent: Vec<i64>,
    pub has_parent: Vec<bool>,
    pub start: Vec<i64>,
    pub dur: Vec<i64>,
    pub selfs: Vec<i64>,
    pub closed: Vec<bool>,
    pub raised: Vec<bool>,
    pub suspensions: Vec<i64>,
    /// The row group's functions (global ids) in order of first use: the dictionaries' order.
    pub local: Vec<u32>,
    /// Global id → (row group number, local key): stale entries are those of an earlier row group (0: none).
    key_of: Vec<(u32, u32)>,
    generation: u32,
    gaps: Vec<usize>,
}

impl Rows {
    pub(super) fn new() -> Self {
        Rows {
            slots: Slots::new(),
            func: Vec::new(),
            thread: Vec::new(),
            depth: Vec::new(),
            call_id: Vec::new(),
            parent: Vec::new(),
            has_parent: Vec::new(),
            start: Vec::new(),
            dur: Vec::new(),
            selfs: Vec::new(),
            closed: Vec::new(),
            raised: Vec::new(),
            suspensions: Vec::new(),
            local: Vec::new(),
            key_of: Vec::new(),
            generation: 1,
            gaps: Vec::new(),
        }
    }

    /// Calls ended in this row group so far.
    pub(super) fn done(&self) -> usize {
        self.slots.done
    }

    /// The function's key in this row group's dictionaries.
    #[inline]
    fn key(&mut self, func: u32) -> u32 {
        let f = func as usize;
        if self.key_of.len() <= f {
            self.key_of.resize(f + 1, (0, 0));
        }
        let s = &mut self.key_of[f];
        if s.0 != self.generation {
            *s = (self.generation, self.local.len() as u32);
            self.local.push(func);
        }
        s.1
    }

    /// Sizes every column for `len` slots: they only grow (by a quarter at least), so their memory is zeroed
    /// once, not per row group. From a few rows: a text log's threads all have theirs at once, most of them few.
    #[cold]
    fn grow(&mut self, len: usize) {
        let len = (len + len / 4).max(64);
        self.func.resize(len, 0);
        self.thread.resize(len, 0);
        self.depth.resize(len, 0);
        self.call_id.resize(len, 0);
        self.parent.resize(len, 0);
        self.has_parent.resize(len, false);
        self.start.resize(len, 0);
        self.dur.resize(len, 0);
        self.selfs.resize(len, 0);
        self.closed.resize(len, false);
        self.raised.resize(len, false);
        self.suspensions.resize(len, 0);
    }

    /// Writes an ended call (`name`: its thread name's index) at its slot.
    #[inline]
    pub(super) fn put(&mut self, c: &CallRow<'_>, name: u32) {
        let s = self.slots.claim(c.call_id);
        if s >= self.func.len() {
            self.grow(s + 1);
        }
        let key = self.key(c.func);
        self.func[s] = key;
        self.thread[s] = name;
        self.depth[s] = c.depth;
        self.call_id[s] = c.call_id as i64;
        self.parent[s] = c.parent_id.unwrap_or(0) as i64;
        self.has_parent[s] = c.parent_id.is_some();
        self.start[s] = c.start_ns;
        let closed = match (c.dur_ns, c.self_ns) {
            (Some(d), Some(own)) => Some((d, own)),
            _ => None,
        };
        let (d, own) = closed.unwrap_or((0, 0));
        self.dur[s] = d as i64;
        self.selfs[s] = own as i64;
        self.closed[s] = closed.is_some();
        self.raised[s] = c.raised;
        self.suspensions[s] = i64::from(c.suspensions);
    }

    /// Cuts the row group (`all`: the thread is over): the slots of calls still open are taken out. Returns
    /// the rows left, the first of each column; [`Rows::compact`] then makes them ready to encode.
    pub(super) fn cut(&mut self, all: bool) -> usize {
        let len = self.slots.cut(all, &mut self.gaps);
        let g = &self.gaps;
        let mut n = len;
        if !g.is_empty() {
            n = squeeze(&mut self.func[..len], g);
            squeeze(&mut self.thread[..len], g);
            squeeze(&mut self.depth[..len], g);
            squeeze(&mut self.call_id[..len], g);
            squeeze(&mut self.parent[..len], g);
            squeeze(&mut self.has_parent[..len], g);
            squeeze(&mut self.start[..len], g);
            squeeze(&mut self.dur[..len], g);
            squeeze(&mut self.selfs[..len], g);
            squeeze(&mut self.closed[..len], g);
            squeeze(&mut self.raised[..len], g);
            squeeze(&mut self.suspensions[..len], g);
        }
        n
    }

    /// The optional values of the first `n` rows (a cut row group) compacted to those present, as their pages
    /// hold them.
    pub(super) fn compact(&mut self, n: usize) -> Cut {
        let parents = compact(&mut self.parent[..n], &self.has_parent[..n]);
        let closed = if self.closed[..n].iter().all(|&c| c) {
            n
        } else {
            compact(&mut self.dur[..n], &self.closed[..n]);
            compact(&mut self.selfs[..n], &self.closed[..n])
        };
        Cut { parents, closed }
    }

    /// Makes the rows of a thread that is over ready for another thread's calls, keeping their memory.
    pub(super) fn recycle(&mut self) {
        let mut filled = std::mem::take(&mut self.slots.filled);
        filled.clear();
        self.slots = Slots { filled, ..Slots::new() };
        self.next_group();
    }

    /// Starts the next row group's dictionaries (after the cut one is encoded).
    pub(super) fn next_group(&mut self) {
        self.local.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.key_of.clear();
            self.generation = 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(n: u64, depth: u32) -> CallRow<'static> {
        CallRow {
            call_id: (7 << 40) | n,
            parent_id: (!n.is_multiple_of(3)).then_some(n / 2),
            func: (n % 5) as u32,
            parent_func: None,
            depth,
            start_ns: n as i64 * 10,
            end_ns: None,
            last_start_ns: 0,
            dur_ns: (!n.is_multiple_of(7)).then_some(n),
            self_ns: (!n.is_multiple_of(7)).then_some(n / 2),
            raised: n.is_multiple_of(2),
            suspensions: 0,
            segments: &[],
            recursive: false,
            pair_recursive: false,
            args: &[],
        }
    }

    /// The call numbers of a cut row group, checking that each row's values are its call's.
    fn rows_of(rows: &mut Rows, all: bool) -> Vec<u64> {
        let n = rows.cut(all);
        let cut = rows.compact(n);
        let mut got = Vec::new();
        let (mut p, mut d) = (0, 0);
        for i in 0..n {
            let n = rows.call_id[i] as u64 & NUMBER;
            let want = call(n, 0);
            assert_eq!(rows.start[i], want.start_ns);
            assert_eq!(rows.local[rows.func[i] as usize], want.func);
            assert_eq!(rows.raised[i], want.raised);
            if rows.has_parent[i] {
                assert_eq!(Some(rows.parent[p] as u64), want.parent_id);
                p += 1;
            }
            if rows.closed[i] {
                assert_eq!((Some(rows.dur[d] as u64), Some(rows.selfs[d] as u64)), (want.dur_ns, want.self_ns));
                d += 1;
            }
            got.push(n);
        }
        assert_eq!((p, d), (cut.parents, cut.closed));
        rows.next_group();
        got
    }

    /// Ends the calls of a random thread as the replay does (at their exits) and cuts row groups of `batch`;
    /// returns the row groups' call numbers.
    fn replay(seed: u64, n: usize, batch: usize) -> Vec<Vec<u64>> {
        let mut x = seed | 1;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut next, mut open, mut groups, mut rows) = (1u64, Vec::new(), Vec::new(), Rows::new());
        let mut closed = 0;
        while closed < n {
            if open.is_empty() || (rand() % 2 == 0 && open.len() < 12) {
                open.push(next);
                next += 1;
            } else {
                rows.put(&call(open.pop().unwrap(), open.len() as u32), 0);
                closed += 1;
                if rows.done() >= batch {
                    groups.push(rows_of(&mut rows, false));
                }
            }
        }
        while let Some(c) = open.pop() {
            rows.put(&call(c, open.len() as u32), 0);
        }
        groups.push(rows_of(&mut rows, true));
        groups
    }

    #[test]
    fn every_call_once_each_row_group_in_order_of_beginning() {
        for seed in 1..100 {
            let groups = replay(seed, 1 + (seed as usize * 37) % 3000, 1 + seed as usize % 300);
            for g in &groups {
                assert!(g.windows(2).all(|w| w[0] < w[1]), "{g:?}");
            }
            let mut all: Vec<u64> = groups.iter().flatten().copied().collect();
            all.sort_unstable();
            let n = all.len() as u64;
            assert_eq!(all, (1..=n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_number_out_of_line_is_kept_not_lost() {
        let mut rows = Rows::new();
        for n in [2, 1 << 39, 1, 2] {
            rows.put(&call(n, 0), 0);
        }
        assert_eq!(rows_of(&mut rows, true), [1, 2, 1 << 39, 2]);
    }
}
