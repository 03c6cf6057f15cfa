//! The call-stack machine, and how a chunk's calls are rebuilt without knowing what was on the stack before it.
//!
//! One `Machine` replays a thread's enters, exits, suspends and resumes onto a [`Tree`]. A chunk (a run of one
//! thread's binary blocks; text logs are replayed in order instead, see [`text_replay`]) does not know the
//! stack it starts in, so its `ChunkBuilder` runs a machine whose bottom is an *anchor* (a stand-in for
//! "whatever was on the stack"). Whenever the chunk touches a frame below its own (an exit or suspend of a call
//! that began earlier), it ends the current anchor with an `Op::Graft`, records the operation, and starts a new
//! anchor. Stitching (`ThreadAgg::stitch`) replays those operations, in order, on the thread's real stack: the
//! chunk's calls land under whatever was on top at that moment, exactly where a sequential pass would have put
//! them.
//!
//! Timing rules (the same in both places):
//! - a call's time is the sum of its stretches on the stack (suspended time does not count);
//! - a stretch lasts at least as long as the calls that ended inside it (recorded durations of the text log
//!   can disagree by rounding), so self time is never negative;
//! - a frame cut by an exit below it (an exception the log did not record, damage) gets no time of its own and
//!   no hit: it passes the time of the calls that ended inside it down to its caller. So per thread the self
//!   times add up to the root's total;
//! - a call still open at the end of its thread's records (a killed process) is *unfinished*: it gets its hit
//!   and lasts up to the thread's last event, as if it ended there; a generator still suspended then (closed
//!   without an exit) gets its hit where it last ran, its time being its stretches. Only the very end of a
//!   thread's records ends them (a chunk's open frames go on in the next chunk), so chunking changes nothing.
//!
//! A resumed generator or coroutine goes under whatever calls it now (its parent at resume time), and a
//! resume matches the most recently suspended invocation of that function on that thread.

pub(crate) mod text_replay;

use crate::hist::FuncHists;
use crate::tree::{Tree, Unfinished, NO_NODE};
use text_replay::TextReplay;

pub(crate) const NO_SLOT: u32 = u32::MAX;
/// [`Frame::slot`] of a frame resumed from a suspension the machine saw: its earlier time is in `acc`. Every other
/// frame with `acc` above 0 has a slot too, so a frame without one is a plain call, whose exit (nearly every
/// exit) needs no test of `acc`.
const RESUMED: u32 = u32::MAX - 1;

/// The chunk slot a suspension or a deferred duration waits for: none for a plain or [`RESUMED`] frame.
fn pending(slot: u32) -> u32 {
    if slot == RESUMED {
        NO_SLOT
    } else {
        slot
    }
}

/// [`Frame::key`] of a machine's bottom frame: no function's key.
const BOTTOM: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub node: u32,
    /// A chunk-local frame resumed from a suspension the chunk did not see: its earlier time is in `slot`.
    /// [`RESUMED`] for one resumed from a suspension seen ([`NO_SLOT`] means a plain call, `acc` 0).
    pub slot: u32,
    /// The function, widened so that the bottom frame's [`BOTTOM`] matches no function (see [`Frame::func`]).
    key: u64,
    /// When the current stretch on the stack began.
    pub start: u64,
    /// Time of the calls that ended (or passed time down) inside the current stretch.
    pub child_ns: u64,
    /// Time of the earlier stretches (a resumed generator).
    pub acc: u64,
    /// The node's path hash (the next lookup's key is computed from it, see [`crate::tree::path_hash`]).
    hash: u64,
}

impl Frame {
    /// The bottom frame of a machine whose calls hang from `node`.
    fn bottom(node: u32, hash: u64) -> Frame {
        Frame { node, slot: NO_SLOT, key: BOTTOM, start: 0, child_ns: 0, acc: 0, hash }
    }

    pub fn func(&self) -> u32 {
        self.key as u32
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Suspended {
    pub func: u32,
    pub acc: u64,
    pub slot: u32,
    /// Where it last ran (its hit goes there if it never resumes), or [`NO_NODE`] for a chunk's suspension of a
    /// call from before the chunk (the stitch finds it).
    pub node: u32,
}

/// A whole duration that must wait for the earlier stretches recorded in `slot` (see [`Frame::slot`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deferred {
    pub node: u32,
    pub func: u32,
    pub whole: u64,
    pub slot: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Warnings {
    /// Frames popped without their exit (an exception the log did not record, damage; the end of the input
    /// when unfinished calls are not counted, see `Options::unfinished`).
    pub cut_calls: u64,
    /// Calls still open or suspended at the end of their thread's records, counted as hits (unfinished).
    pub unfinished: u64,
    /// Exits, suspends or resumes that matched no open (or suspended) call.
    pub unmatched: u64,
    /// Text logs: calls that the rule for requests whose root raised cut as dead, and that ended after all,
    /// further ahead than the read-ahead (`Options::text_read_ahead`). Their exits are in `unmatched`.
    pub wrong_cuts: u64,
}

impl Warnings {
    pub fn add(&mut self, o: &Warnings) {
        self.cut_calls += o.cut_calls;
        self.unfinished += o.unfinished;
        self.unmatched += o.unmatched;
        self.wrong_cuts += o.wrong_cuts;
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub tree: Tree,
    /// Whole durations of ended calls, per function.
    pub hists: FuncHists,
    /// The open calls, above a bottom frame that stands for the *base*: the node the bottom call hangs from
    /// (the thread root, or a chunk's current anchor); the bottom frame's `child_ns` is the time passed down to
    /// the base. The bottom frame is never popped, so there always is a top frame (no branch on an empty
    /// stack when entering, leaving or passing time down).
    stack: Vec<Frame>,
    pub suspended: Vec<Suspended>,
    pub deferred: Vec<Deferred>,
    pub warnings: Warnings,
    /// Calls that ended (for throughput figures).
    pub calls: u64,
}

impl Machine {
    pub fn new() -> Self {
        let mut tree = Tree::new();
        // Room for a few calls: a machine per thread and chunk (see `Tree::new`); deeper stacks grow it.
        let mut stack = Vec::with_capacity(4);
        stack.push(Frame::bottom(0, tree.hash_of(0)));
        Machine {
            tree,
            hists: FuncHists::default(),
            stack,
            suspended: Vec::new(),
            deferred: Vec::new(),
            warnings: Warnings::default(),
            calls: 0,
        }
    }

    /// Hangs the calls from `base` from now on (no call may be open).
    pub fn set_base(&mut self, base: u32) {
        debug_assert!(!self.has_open());
        self.stack[0] = Frame::bottom(base, self.tree.hash_of(base));
    }

    /// The node the bottom call hangs from.
    pub fn base(&self) -> u32 {
        self.stack[0].node
    }

    /// Takes the time passed down to the base.
    pub fn take_base_child_ns(&mut self) -> u64 {
        std::mem::take(&mut self.stack[0].child_ns)
    }

    /// Whether a call is open.
    pub fn has_open(&self) -> bool {
        self.stack.len() > 1
    }

    /// The open calls, bottom first.
    pub fn frames(&self) -> &[Frame] {
        &self.stack[1..]
    }

    #[inline(always)]
    fn top(&self) -> &Frame {
        self.stack.last().expect("the bottom frame is never popped")
    }

    #[inline(always)]
    fn top_mut(&mut self) -> &mut Frame {
        self.stack.last_mut().expect("the bottom frame is never popped")
    }

    pub fn top_node(&self) -> u32 {
        self.top().node
    }

    #[inline(always)]
    fn push(&mut self, func: u32, start: u64, acc: u64, slot: u32) {
        // No cache of each frame's last child (loops call the same function again and again): it hit a quarter
        // of the time on the generator's traces, too seldom to pay for its mispredicted branch.
        let top = self.top();
        let (node, hash) = self.tree.child_hashed(top.node, top.hash, func);
        self.stack.push(Frame { node, slot, key: func as u64, start, child_ns: 0, acc, hash });
    }

    #[inline(always)]
    pub fn pass_down(&mut self, ns: u64) {
        self.top_mut().child_ns += ns;
    }

    #[inline(always)]
    pub fn enter(&mut self, func: u32, t: u64) {
        self.push(func, t, 0, NO_SLOT);
    }

    /// Pops the top frame as never ended. Rare (an exit below the top, an exception the log did not record, the
    /// end of the input), and out of the decode loop: inlined there, it made that loop spill more registers
    /// (measured with `leave_anchor` below: 2–3 % of the binary analysis).
    #[cold]
    #[inline(never)]
    pub fn abandon_top(&mut self) {
        if self.has_open() {
            let f = self.stack.pop().expect("an open call");
            self.tree.add_to_total_only(f.node, f.child_ns);
            self.pass_down(f.child_ns);
            self.warnings.cut_calls += 1;
        }
    }

    /// Position of the innermost open call of `func`; the frames above it are abandoned.
    #[inline]
    fn unwind_to(&mut self, func: u32) -> Option<Frame> {
        if self.top().key != func as u64 {
            // The bottom frame matches no function.
            let pos = self.stack.iter().rposition(|f| f.key == func as u64)?;
            while self.stack.len() > pos + 1 {
                self.abandon_top();
            }
        }
        self.stack.pop()
    }

    /// A call of `func` ended at `t` (or lasted `duration`, when the recorder measured it). `false` when no
    /// call of `func` is open (nothing changes then).
    #[inline(always)]
    pub fn exit(&mut self, func: u32, t: u64, duration: Option<u64>) -> bool {
        let Some(f) = self.unwind_to(func) else { return false };
        let raw = duration.unwrap_or_else(|| t.saturating_sub(f.start));
        let seg = raw.max(f.child_ns);
        let stats = &mut self.tree.nodes[f.node as usize].stats;
        stats.total_ns += seg;
        if f.slot == NO_SLOT {
            stats.observe(seg);
            self.hists.record(f.func(), seg);
        } else {
            self.exit_after_suspension(f.node, f.func(), f.acc, f.slot, seg);
        }
        self.calls += 1;
        self.pass_down(seg);
        true
    }

    /// [`Machine::exit`] of a frame with earlier stretches: resumed from a suspension the machine saw
    /// ([`RESUMED`]: `acc` holds them), or that a chunk did not see (`slot`: the hit and the duration wait for
    /// `ThreadAgg::stitch`). Out of line: inlined at each position of the decode loop's step, it made the loop a
    /// quarter larger (0x3c0d → 0x4a15 bytes) and no faster.
    #[cold]
    #[inline(never)]
    fn exit_after_suspension(&mut self, node: u32, func: u32, acc: u64, slot: u32, seg: u64) {
        if slot == RESUMED {
            self.tree.nodes[node as usize].stats.observe(acc + seg);
            self.hists.record(func, acc + seg);
            // Its earlier stretches count in its whole duration, not in this total.
            self.tree.add_to_sum(node, acc);
        } else {
            // The stretch counts in the total now, the whole duration at the stitch.
            self.tree.add_to_sum(node, seg.wrapping_neg());
            self.deferred.push(Deferred { node, func, whole: acc + seg, slot });
        }
    }

    /// The generator or coroutine `func` left the stack at `t`. `false` when it is not on the stack.
    pub fn suspend(&mut self, func: u32, t: u64) -> bool {
        let Some(f) = self.unwind_to(func) else { return false };
        let seg = t.saturating_sub(f.start).max(f.child_ns);
        self.tree.add_to_total_only(f.node, seg);
        self.pass_down(seg);
        self.suspended.push(Suspended { func, acc: f.acc + seg, slot: pending(f.slot), node: f.node });
        true
    }

    /// Takes the most recent suspension of `func`.
    pub fn take_suspended(&mut self, func: u32) -> Option<Suspended> {
        let i = self.suspended.iter().rposition(|s| s.func == func)?;
        Some(self.suspended.remove(i))
    }

    pub fn resume_from(&mut self, s: Suspended, t: u64) {
        let slot = if s.slot == NO_SLOT && s.acc > 0 { RESUMED } else { s.slot };
        self.push(s.func, t, s.acc, slot);
    }

    /// The end of the thread, whose last event was at `last` (`None`: unfinished calls are not counted, see
    /// `Options::unfinished`): open frames end there as unfinished calls (or are abandoned), suspensions never
    /// resumed count where they last ran, and the root gets the thread's total.
    pub fn finish(&mut self, last: Option<u64>) {
        match last {
            Some(t) => {
                while self.has_open() {
                    self.end_unfinished(t);
                }
                for s in std::mem::take(&mut self.suspended) {
                    self.count_suspended(s);
                }
            }
            None => {
                while self.has_open() {
                    self.abandon_top();
                }
            }
        }
        self.tree.nodes[0].stats.total_ns += self.take_base_child_ns();
    }

    /// Ends the top frame at the thread's last event `t` as an unfinished call: its hit, and its time up to `t`
    /// (as an exit there would; a thread's frames have no pending slot).
    fn end_unfinished(&mut self, t: u64) {
        let f = self.stack.pop().expect("an open call");
        debug_assert!(f.slot == NO_SLOT || f.slot == RESUMED);
        let seg = t.saturating_sub(f.start).max(f.child_ns);
        let stats = &mut self.tree.nodes[f.node as usize].stats;
        stats.total_ns += seg;
        stats.observe(f.acc + seg);
        self.hists.record(f.func(), f.acc + seg);
        if f.acc > 0 {
            // Its earlier stretches count in its whole duration, not in this total.
            self.tree.add_to_sum(f.node, f.acc);
        }
        self.tree.add_unfinished(f.node, Unfinished { calls: 1, ns: seg });
        self.warnings.unfinished += 1;
        self.pass_down(seg);
    }

    /// A suspension never resumed: an unfinished call whose whole duration is its stretches, counted where it
    /// last ran (its stretches are already in the totals).
    fn count_suspended(&mut self, s: Suspended) {
        if s.node == NO_NODE {
            return;
        }
        self.tree.nodes[s.node as usize].stats.observe(s.acc);
        self.hists.record(s.func, s.acc);
        self.tree.add_to_sum(s.node, s.acc);
        self.tree.add_unfinished(s.node, Unfinished { calls: 1, ns: 0 });
        self.warnings.unfinished += 1;
    }
}

/// What a chunk asks of the stack it started in, in order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    /// The calls under anchor node `anchor` (nodes `anchor..end` of the chunk tree) go under the real top, which
    /// also gets `child_ns`.
    Graft { anchor: u32, end: u32, child_ns: u64 },
    /// An exit of a call that began before the chunk.
    Exit { func: u32, t: u64, duration: Option<u64> },
    /// A suspend of a call that began before the chunk; its time so far goes to `slot` (the chunk keeps the
    /// suspension in its own list, so a later resume picks the most recent one, as a sequential pass would).
    Suspend { func: u32, t: u64, slot: u32 },
    /// A resume of a suspension from before the chunk: its earlier time goes to `slot`.
    TakeSuspended { func: u32, slot: u32 },
}

/// One thread's part of one chunk: a partial tree plus what to do with the stack it started in.
#[derive(Debug, Clone)]
pub(crate) struct ChunkBuilder {
    pub m: Machine,
    pub ops: Vec<Op>,
    pub slots: u32,
}

impl ChunkBuilder {
    pub fn new() -> Self {
        ChunkBuilder { m: Machine::new(), ops: Vec::new(), slots: 0 }
    }

    /// Ends the current anchor: the chunk's own frames are abandoned (a sequential pass would have unwound them
    /// too), and what was under the anchor is handed over.
    #[cold]
    #[inline(never)]
    fn leave_anchor(&mut self) {
        while self.m.has_open() {
            self.m.abandon_top();
        }
        self.ops.push(Op::Graft {
            anchor: self.m.base(),
            end: self.m.tree.len() as u32,
            child_ns: self.m.take_base_child_ns(),
        });
        let a = self.m.tree.add_root();
        self.m.set_base(a);
    }

    #[inline(always)]
    pub fn enter(&mut self, func: u32, t: u64) {
        self.m.enter(func, t);
    }

    #[inline(always)]
    pub fn exit(&mut self, func: u32, t: u64, duration: Option<u64>) {
        if !self.m.exit(func, t, duration) {
            self.leave_anchor();
            self.ops.push(Op::Exit { func, t, duration });
        }
    }

    pub fn suspend(&mut self, func: u32, t: u64) {
        if !self.m.suspend(func, t) {
            self.leave_anchor();
            let slot = self.new_slot();
            self.ops.push(Op::Suspend { func, t, slot });
            self.m.suspended.push(Suspended { func, acc: 0, slot, node: NO_NODE });
        }
    }

    pub fn resume(&mut self, func: u32, t: u64) {
        let s = match self.m.take_suspended(func) {
            Some(s) => s,
            None => {
                let slot = self.new_slot();
                self.ops.push(Op::TakeSuspended { func, slot });
                Suspended { func, acc: 0, slot, node: NO_NODE }
            }
        };
        self.m.resume_from(s, t);
    }

    fn new_slot(&mut self) -> u32 {
        self.slots += 1;
        self.slots - 1
    }

    /// Closes the last anchor. The chunk's open frames and suspensions stay for the stitch. Its histograms
    /// are compacted and its tree's index is freed here, in parallel, since they may wait for the stitch and
    /// then become the thread's.
    pub fn finish(&mut self) {
        self.ops.push(Op::Graft {
            anchor: self.m.base(),
            end: self.m.tree.len() as u32,
            child_ns: self.m.take_base_child_ns(),
        });
        self.m.hists.compact();
        self.m.tree.drop_index();
    }
}

/// One event of a text-log thread, kept as it was read (text logs are replayed in order on the thread's real
/// stack, see [`TextReplay`]). 24 bytes: a log holds one per call's enter and exit, kept until replayed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TextEv {
    Enter {
        func: u32,
        t: u64,
    },
    /// `duration`: as recorded, or [`NO_DURATION`] (an `Option<u64>` here made every event 32 bytes).
    Exit {
        func: u32,
        t: u64,
        duration: u64,
    },
    Suspend {
        func: u32,
        t: u64,
    },
    Resume {
        func: u32,
        t: u64,
    },
}

/// [`TextEv::Exit`] without a recorded duration (the text log's durations come from ms and are below 2^63 ns).
pub(crate) const NO_DURATION: u64 = u64::MAX;

const _: () = assert!(std::mem::size_of::<TextEv>() == 24);

/// A thread's real stack and tree, built from its chunks in order.
#[derive(Debug, Clone)]
pub(crate) struct ThreadAgg {
    pub m: Machine,
    /// Text logs: the read-ahead and the rule for requests whose root raised.
    text: TextReplay,
    /// The time of the thread's last event so far (within the time window), where unfinished calls end.
    last_t: u64,
}

impl ThreadAgg {
    pub fn new() -> Self {
        let mut m = Machine::new();
        // A thread's state waits until the end: its histograms take memory in proportion to the functions it
        // called, not a slot per label up to the highest (a thin table, see `FuncHists`).
        m.hists = FuncHists::sparse();
        ThreadAgg { m, text: TextReplay::default(), last_t: 0 }
    }

    /// The thread had an event at `t` (the latest of a unit's, in any order).
    pub fn saw(&mut self, t: u64) {
        self.last_t = self.last_t.max(t);
    }

    /// Reads a text-log stretch of this thread and replays it, `read_ahead` events behind, on the real stack
    /// (see [`TextReplay`]).
    pub fn replay(&mut self, evs: Vec<TextEv>, labels: &[u32], read_ahead: usize) {
        self.text.feed(&mut self.m, evs, labels, read_ahead);
    }

    /// The end of the thread: replays the text-log events still read ahead, then closes the stack, the calls
    /// still open ending as unfinished at the thread's last event if `unfinished` (abandoned otherwise).
    pub fn finish(&mut self, unfinished: bool) {
        self.text.finish(&mut self.m);
        self.m.finish(unfinished.then_some(self.last_t));
        self.m.hists.compact();
    }

    /// Replays a finished chunk on the real stack; `relabel` maps the chunk's function labels to this tree's.
    /// Like [`ThreadAgg::stitch`], but a thread's first chunk that never reached below its own frames becomes
    /// the thread's state as it is (its labels must already be the thread's: `identity_labels`), saving the
    /// copy of a tree that can hold millions of distinct stacks.
    pub fn stitch_owned(&mut self, c: ChunkBuilder, identity_labels: bool, relabel: &dyn Fn(u32) -> u32) {
        let fresh = self.m.tree.len() == 1 && !self.m.has_open() && self.m.suspended.is_empty() && self.m.calls == 0;
        if let (true, true, [Op::Graft { anchor: 0, child_ns, .. }]) = (identity_labels, fresh, c.ops.as_slice()) {
            if c.slots == 0 && c.m.deferred.is_empty() && self.m.stack[0].child_ns == 0 {
                let child_ns = *child_ns;
                let warnings = self.m.warnings;
                self.m = c.m;
                // The chunk's base is its node 0, now the thread's root.
                self.m.stack[0].child_ns = child_ns;
                self.m.warnings.add(&warnings);
                return;
            }
        }
        self.stitch(&c, relabel);
    }

    pub fn stitch(&mut self, c: &ChunkBuilder, relabel: &dyn Fn(u32) -> u32) {
        let local = &c.m.tree;
        let mut map = vec![NO_NODE; local.len()];
        // Per slot: the earlier time of a call from before the chunk, and where it last ran.
        let mut taken = vec![(0u64, NO_NODE); c.slots as usize];
        for op in &c.ops {
            match *op {
                Op::Graft { anchor, end, child_ns } => {
                    map[anchor as usize] = self.m.top_node();
                    for i in anchor as usize + 1..end as usize {
                        let n = &local.nodes[i];
                        let to = self.m.tree.child(map[n.parent as usize], relabel(n.func));
                        map[i] = to;
                        self.m.tree.nodes[to as usize].stats.merge(&n.stats);
                    }
                    self.m.pass_down(child_ns);
                }
                Op::Exit { func, t, duration } => {
                    if !self.m.exit(relabel(func), t, duration) {
                        self.m.warnings.unmatched += 1;
                    }
                }
                Op::Suspend { func, t, slot } => {
                    if self.m.suspend(relabel(func), t) {
                        // The chunk holds this suspension in its own list (see `Op::Suspend`).
                        let s = self.m.suspended.pop().expect("just suspended");
                        taken[slot as usize] = (s.acc, s.node);
                    } else {
                        self.m.warnings.unmatched += 1;
                    }
                }
                Op::TakeSuspended { func, slot } => match self.m.take_suspended(relabel(func)) {
                    Some(s) => taken[slot as usize] = (s.acc, s.node),
                    None => self.m.warnings.unmatched += 1,
                },
            }
        }
        // Every node but the anchors lies in one graft's range, so `map` now places them all. The sums' excesses
        // change no total, so they can follow the operations (one pass, whatever the number of grafts).
        for (n, excess) in local.sum_excesses() {
            if local.nodes[n as usize].parent != NO_NODE {
                self.m.tree.add_to_sum(map[n as usize], excess);
            }
        }
        let earlier = |slot: u32| if pending(slot) == NO_SLOT { 0 } else { taken[slot as usize].0 };
        for f in c.m.frames() {
            let node = map[f.node as usize];
            self.m.stack.push(Frame {
                node,
                hash: self.m.tree.hash_of(node),
                key: relabel(f.func()) as u64,
                acc: f.acc + earlier(f.slot),
                slot: if f.acc + earlier(f.slot) > 0 { RESUMED } else { NO_SLOT },
                ..*f
            });
        }
        for s in &c.m.suspended {
            let node = if s.node != NO_NODE { map[s.node as usize] } else { taken[s.slot as usize].1 };
            let (func, acc) = (relabel(s.func), s.acc + earlier(s.slot));
            self.m.suspended.push(Suspended { func, acc, slot: NO_SLOT, node });
        }
        for d in &c.m.deferred {
            let to = map[d.node as usize];
            self.m.tree.nodes[to as usize].stats.observe(d.whole + earlier(d.slot));
            self.m.tree.add_to_sum(to, d.whole + earlier(d.slot));
            self.m.hists.record(relabel(d.func), d.whole + earlier(d.slot));
        }
        self.m.hists.merge(&c.m.hists, relabel);
        self.m.warnings.add(&c.m.warnings);
        self.m.calls += c.m.calls;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a thread's state holds before its calls make it grow: tens of thousands of threads with a call or
    /// two each (a thread-per-request server) pay it in every chunk they appear in.
    #[test]
    fn a_threads_empty_state_is_small() {
        let t = ThreadAgg::new();
        let bytes = t.m.tree.heap_bytes() + t.m.stack.capacity() * std::mem::size_of::<Frame>();
        assert!(bytes <= 1024, "{bytes} bytes");
    }

    /// A thread that called three functions of high labels, over two chunks (the first taken over as it is,
    /// or replayed under new labels), holds three histograms once finished: not one per label up to the
    /// highest, ~38 KB a thread on a thread-per-request server's trace until 2026-12-07.
    #[test]
    fn a_threads_histograms_take_a_slot_per_function_called() {
        for owned in [true, false] {
            let mut c1 = ChunkBuilder::new();
            c1.enter(9_000, 10);
            c1.enter(5_000, 20);
            c1.exit(5_000, 25, None);
            c1.finish();
            let mut c2 = ChunkBuilder::new();
            c2.enter(7_000, 30);
            c2.exit(7_000, 32, None);
            c2.exit(9_000, 40, None);
            c2.finish();
            let relabel = |f: u32| if owned { f } else { f + 100_000 };
            let mut t = ThreadAgg::new();
            t.stitch_owned(c1, owned, &relabel);
            t.stitch_owned(c2, owned, &relabel);
            t.finish(true);
            let hists: Vec<(u32, u64)> = t.m.hists.iter().map(|(f, h)| (f, h.len())).collect();
            assert_eq!(hists, [5_000, 7_000, 9_000].map(|f| (relabel(f), 1)));
            assert!(t.m.hists.slots() <= 4, "{} slots (owned: {owned})", t.m.hists.slots());
        }
    }
}
