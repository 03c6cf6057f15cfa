//! Decoding: one unit read into per-thread partial results ([`UnitOut`]), on a worker, in parallel with the
//! other units. A binary unit's records drive a [`ChunkBuilder`] (a partial call tree that does not know the
//! stack it starts in, see [`crate::machine`]); a text-log unit is parsed into per-thread event lists, replayed
//! in order when stitching. Both keep line timings, debugger records and the functions they name, within the
//! time window and the processes asked for.

use std::path::Path;

use pylu_formats::{legacy, BlockRef, CallOp, EventKind, FuncRef, Record, RecordSink, Trace};
use rustc_hash::FxHashMap;

use super::plan::{Unit, UnitKind};
use super::Options;
use crate::hist::LatencyHist;
use crate::input::Input;
use crate::machine::{ChunkBuilder, TextEv, NO_DURATION};
use crate::profile::{Damage, Location};

/// Decodes `unit` of `inputs`.
pub(super) fn decode<'a>(inputs: &'a [Input], unit: &Unit<'a>, opts: &Options) -> UnitOut<'a> {
    match &unit.kind {
        UnitKind::Binary { trace, thread, blocks } => UnitOut {
            trace: unit.trace,
            ..run_binary(&inputs[unit.file as usize].path, unit.file, trace, *thread, blocks, opts)
        },
        UnitKind::Legacy { range } => run_legacy(unit.file, &inputs[unit.file as usize].bytes()[range.clone()], opts),
    }
}

/// What a unit holds, per thread, ready to be stitched.
#[derive(Debug)]
pub(super) struct UnitOut<'a> {
    pub file: u32,
    /// Which trace of the file (see [`Unit::trace`]): binary function ids are per trace.
    pub trace: u32,
    pub parts: Vec<Part<'a>>,
    /// Binary: function definitions seen (labels are the file's ids). Text log: the unit's interned names
    /// (labels are indices into it).
    pub defs: Vec<(u32, NamedFunc<'a>)>,
    /// Text log, with `collect_lines`: the definitions its line records name, as (label in `defs`, file); the
    /// keys of the parts' `lines` index it. (A binary file's ids each name one definition: there the keys are
    /// the ids.)
    pub line_defs: Vec<(u32, &'a str)>,
    pub legacy: bool,
    /// Text log: lines in the unit (to number the next unit's lines).
    pub line_count: u64,
    pub damage: Vec<Damage>,
    /// What was read as it is but is worth a line: a trace's last block cut at the end of the file.
    pub notes: Vec<Damage>,
    /// Damage with line numbers relative to the unit (text log).
    pub line_damage: Vec<(u64, &'static str)>,
}

/// One thread's share of a unit.
#[derive(Debug)]
pub(super) struct Part<'a> {
    pub pid: u32,
    pub tid: u64,
    /// Binary: the thread's partial call tree.
    pub chunk: ChunkBuilder,
    /// Text log: the thread's events, replayed in order when stitching (`ThreadAgg::replay`).
    pub text: Vec<TextEv>,
    pub thread_name: Option<&'a str>,
    /// With `collect_lines`: line timings by (definition label, line): a binary file's function id, or an index
    /// into a text-log unit's [`UnitOut::line_defs`].
    pub lines: FxHashMap<(u32, u32), LineTotal>,
    /// Without `collect_lines`: the functions that have line records instead.
    pub line_funcs: LineFuncs,
    pub events: Vec<RawDebug<'a>>,
    /// The time of the thread's last event in the unit (within the window, see [`Window::last`]), 0 if none.
    pub last_t: u64,
}

/// A line's records summed: how many, their durations, and their distribution (for p50/p99).
#[derive(Debug, Default, Clone)]
pub(super) struct LineTotal {
    pub hits: u64,
    pub ns: u64,
    pub hist: LatencyHist,
}

impl LineTotal {
    pub fn add(&mut self, other: LineTotal) {
        self.hits += other.hits;
        self.ns += other.ns;
        self.hist.add(&other.hist);
    }
}

impl<'a> Part<'a> {
    fn new(pid: u32, tid: u64) -> Self {
        Part {
            pid,
            tid,
            chunk: ChunkBuilder::new(),
            text: Vec::new(),
            thread_name: None,
            lines: FxHashMap::default(),
            line_funcs: LineFuncs::default(),
            events: Vec::new(),
            last_t: 0,
        }
    }

    /// A line record: its timing if `collect_lines` (`label`: its definition's label, see [`Part::lines`]),
    /// otherwise only that its function has line records (`label`: the function's).
    #[inline(always)]
    fn line(&mut self, label: u32, line: u32, duration_ns: u64, collect_lines: bool) {
        if collect_lines {
            let e = self.lines.entry((label, line)).or_default();
            e.hits += 1;
            e.ns += duration_ns;
            e.hist.record(duration_ns);
        } else {
            self.line_funcs.add(label);
        }
    }
}

/// A function as a unit names it: by a binary file's id, or spelled out (text log, interned per unit).
#[derive(Debug, Clone, Copy)]
pub(super) struct NamedFunc<'a> {
    pub module: &'a str,
    pub name: &'a str,
    pub file: &'a str,
    pub first_line: u32,
}

/// A debugger record as a unit read it: the function by the unit's label, strings borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawDebug<'a> {
    /// Wall-clock ns since the epoch.
    pub time_ns: i64,
    pub func: u32,
    pub line: u32,
    pub kind: pylu_formats::DebugKind,
    pub name: &'a str,
    pub value: &'a str,
    pub truncated: bool,
}

/// The set of functions with line records: a bit per function label (labels are dense from 0: a binary
/// file's ids, a text-log unit's interned names), and a hash set for labels past [`LINE_FUNC_BITS`] (a corrupt
/// id must not allocate much). A bit costs a line record a load and a store; the hash set cost it a lookup,
/// 0.75 % of the binary analysis.
#[derive(Debug, Default)]
pub(super) struct LineFuncs {
    bits: Vec<u64>,
    beyond: rustc_hash::FxHashSet<u32>,
}

/// Labels [`LineFuncs`] keeps as bits (8 KiB at most per thread and unit).
const LINE_FUNC_BITS: u32 = 1 << 16;

impl LineFuncs {
    #[inline(always)]
    fn add(&mut self, f: u32) {
        let word = (f / 64) as usize;
        match self.bits.get_mut(word) {
            Some(w) => *w |= 1 << (f % 64),
            None => self.add_outside(f),
        }
    }

    #[cold]
    fn add_outside(&mut self, f: u32) {
        if f < LINE_FUNC_BITS {
            self.bits.resize((f / 64) as usize + 1, 0);
            self.bits[(f / 64) as usize] |= 1 << (f % 64);
        } else {
            self.beyond.insert(f);
        }
    }

    /// The labels, ascending among those kept as bits.
    pub fn into_labels(self) -> impl Iterator<Item = u32> {
        let bits = self.bits.into_iter().enumerate().flat_map(|(word, mut w)| {
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let bit = w.trailing_zeros();
                    w &= w - 1;
                    word as u32 * 64 + bit
                })
            })
        });
        bits.chain(self.beyond)
    }
}

/// The time window in a file's own clock.
#[derive(Debug, Clone, Copy)]
struct Window {
    lo: u64,
    hi: u64,
}

impl Window {
    #[inline(always)]
    fn holds(&self, t: u64) -> bool {
        t >= self.lo && t <= self.hi
    }

    /// A thread's last event so far, `last`, after an event at `t`: a call still running at `--until` runs to the
    /// window's end, if the thread had events after it.
    #[inline(always)]
    fn last(&self, last: u64, t: u64) -> u64 {
        if t >= self.lo {
            last.max(t.min(self.hi))
        } else {
            last
        }
    }
}

/// The window in a binary trace's monotonic clock (wall = anchor.wall + (mono - anchor.mono)).
fn window_for(opts: &Options, clock: Option<pylu_formats::ClockAnchor>) -> Window {
    let conv = |wall: i64| -> i128 {
        match clock {
            Some(c) => wall as i128 - c.wall_ns as i128 + c.monotonic_ns as i128,
            None => wall as i128,
        }
    };
    let lo = opts.since_ns.map_or(0, |s| conv(s).clamp(0, u64::MAX as i128) as u64);
    let hi = match opts.until_ns {
        None => u64::MAX,
        // Before the file's clock began: nothing is in the window.
        Some(u) if conv(u) < 0 => return Window { lo: 1, hi: 0 },
        Some(u) => conv(u).min(u64::MAX as i128) as u64,
    };
    Window { lo, hi }
}

/// A binary unit: one thread's blocks, each verified (a damaged block is reported and skipped) and its records
/// replayed onto the thread's partial tree.
fn run_binary<'a>(
    path: &Path,
    file: u32,
    trace: &Trace<'a>,
    thread: u64,
    blocks: &[BlockRef<'a>],
    opts: &Options,
) -> UnitOut<'a> {
    let win = window_for(opts, Some(trace.header.clock));
    let mut part = Part::new(trace.header.pid, thread);
    let mut defs = Vec::new();
    let mut damage = Vec::new();
    let mut notes = Vec::new();
    for b in blocks {
        if let Err(e) = b.verify() {
            // A torn block: its records up to the cut still count. Cut at the end of the file, it is the block
            // a live writer is still filling (the stub writes blocks in pieces) or a killed one was writing: a
            // note, not damage, since every record there is was read; cut anywhere else (a file joined after a
            // torn one), bytes of it are lost.
            let what = b.cut_damage().unwrap_or_else(|| e.kind.to_string());
            let at_end = b.cut.is_some_and(|c| b.offset + c.have == trace.bytes().len() as u64);
            let what = Damage { path: path.to_owned(), at: Some(Location::Offset(e.offset)), what };
            if at_end {
                notes.push(what);
            } else {
                damage.push(what);
            }
            if b.cut.is_none() {
                continue;
            }
        }
        // Without --since/--until every call record is in the window: a sink that does not ask saves two
        // compares and branches per record.
        let decoded = if win.lo == 0 && win.hi == u64::MAX {
            b.records().try_for_each(&mut BinarySink::<false> { part: &mut part, defs: &mut defs, win, trace, opts })
        } else {
            b.records().try_for_each(&mut BinarySink::<true> { part: &mut part, defs: &mut defs, win, trace, opts })
        };
        if let (Err(e), None) = (decoded, b.cut) {
            damage.push(Damage {
                path: path.to_owned(),
                at: Some(Location::Offset(e.offset)),
                what: e.what.to_string(),
            });
        }
    }
    part.chunk.finish();
    UnitOut {
        file,
        trace: 0,
        parts: vec![part],
        defs,
        line_defs: Vec::new(),
        legacy: false,
        line_count: 0,
        damage,
        notes,
        line_damage: Vec::new(),
    }
}

/// Where [`run_binary`] sends a block's records; `WINDOWED`: whether call records can fall outside `win`.
struct BinarySink<'s, 'a, const WINDOWED: bool> {
    part: &'s mut Part<'a>,
    defs: &'s mut Vec<(u32, NamedFunc<'a>)>,
    win: Window,
    trace: &'s Trace<'a>,
    opts: &'s Options,
}

impl<'a, const WINDOWED: bool> RecordSink<'a> for BinarySink<'_, 'a, WINDOWED> {
    #[inline(always)]
    fn call(&mut self, op: CallOp, func: u32, t: u64) {
        if WINDOWED && !self.win.holds(t) {
            return;
        }
        match op {
            CallOp::Enter => self.part.chunk.enter(func, t),
            CallOp::Exit | CallOp::ExitRaised => self.part.chunk.exit(func, t, None),
        }
    }

    #[inline(always)]
    fn suspend(&mut self, func: u32, t: u64) {
        if self.win.holds(t) {
            self.part.chunk.suspend(func, t)
        }
    }

    #[inline(always)]
    fn resume(&mut self, func: u32, t: u64) {
        if self.win.holds(t) {
            self.part.chunk.resume(func, t)
        }
    }

    #[inline(always)]
    fn line(&mut self, func: u32, line: u32, duration_ns: u64, t: u64) {
        if self.win.holds(t) {
            self.part.line(func, line, duration_ns, self.opts.collect_lines);
        }
    }

    /// The block's last event: unfinished calls end at the thread's last one.
    #[inline(always)]
    fn end(&mut self, t: u64) {
        self.part.last_t = self.win.last(self.part.last_t, t);
    }

    /// Without `collect_events` debug records are only checked (they are not counted here).
    #[inline(always)]
    fn wants_debug(&self) -> bool {
        self.opts.collect_events
    }

    /// Function definitions, thread names, debug records (calls, suspensions and line records come through the
    /// methods above; updates are not analyzed).
    #[inline(never)]
    fn other(&mut self, r: Record<'a>) {
        let t = r.time_ns;
        let untimed = !r.kind.is_timed();
        if !untimed && !self.win.holds(t) {
            return;
        }
        let part = &mut *self.part;
        match r.kind {
            EventKind::Debug { func: FuncRef::Id(f), line, kind, name, value, truncated }
                if self.opts.collect_events =>
            {
                let time_ns = self.trace.header.clock.to_wall(t);
                part.events.push(RawDebug { time_ns, func: f, line, kind, name, value, truncated });
            }
            EventKind::FuncDef(d) => self
                .defs
                .push((d.id, NamedFunc { module: d.module, name: d.qualname, file: d.file, first_line: d.first_line })),
            EventKind::ThreadName(n) => part.thread_name = Some(n),
            _ => {}
        }
    }
}

/// `a == b`, eight bytes at a time inline (a slice comparison called `memcmp` for every exit).
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or_default());
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    // The last eight bytes (overlapping the word before when the length is not a multiple of eight).
    word(a, n - 8) == word(b, n - 8)
}

/// The bytes of `chunk` from the start of `first` to the end of `last` (both slices of it, `first` before).
fn columns_between<'a>(chunk: &'a [u8], first: &str, last: &str) -> Option<&'a [u8]> {
    let start = (first.as_ptr() as usize).checked_sub(chunk.as_ptr() as usize)?;
    let end = (last.as_ptr() as usize + last.len()).checked_sub(chunk.as_ptr() as usize)?;
    chunk.get(start..end)
}

/// A text-log unit: its lines parsed into per-thread event lists, in order of each thread's first line, with
/// the functions it names interned per unit; a line that does not parse is reported and skipped.
fn run_legacy<'a>(file: u32, chunk: &'a [u8], opts: &Options) -> UnitOut<'a> {
    let win = window_for(opts, None);
    let in_win = |t: i64| win.holds(t.max(0) as u64);
    let mut parts: Vec<Part<'a>> = Vec::new();
    let mut by_thread: FxHashMap<(u32, u64), usize> = FxHashMap::default();
    let mut last: ((u32, u64), usize) = ((u32::MAX, u64::MAX), usize::MAX);
    let mut names: Vec<(u32, NamedFunc<'a>)> = Vec::new();
    let mut interned: FxHashMap<&'a [u8], u32> = FxHashMap::default();
    let mut by_pair: FxHashMap<(&'a str, &'a str), u32> = FxHashMap::default();
    // Line records' definitions: a line's `pathname` is its definition's file (a function patched from another
    // file has its lines there), which the interned name's file (its first line's) need not be.
    let mut line_defs: Vec<(u32, &'a str)> = Vec::new();
    let mut line_def_labels: FxHashMap<(u32, &'a str), u32> = FxHashMap::default();
    let mut line_damage = Vec::new();
    let mut intern = |module: &'a str, name: &'a str, file: &'a str| -> (u32, Option<&'a [u8]>) {
        let next = names.len() as u32;
        // Keyed by the line's bytes from the module to the name (`views; get`): one key to hash and compare
        // where the pair was two (a tenth of the parse went to interning). The bytes between are the column
        // separator, which neither column holds, so a key is one (module, name) pair; a pair spelled with other
        // spaces around its `;` gets a second label, which the stitch joins (it interns by the full name).
        let key = columns_between(chunk, module, name);
        let id = match key {
            Some(key) => *interned.entry(key).or_insert(next),
            // Not slices of the chunk (never, from the lines parser): keyed by the pair.
            None => *by_pair.entry((module, name)).or_insert(next),
        };
        if id == next {
            names.push((next, NamedFunc { module, name, file, first_line: 0 }));
        }
        (id, key)
    };
    // Per part: the keys and labels of the calls its enters opened, innermost last, as the original's rule
    // closes them (an exit ends the innermost open call of its function). An exit is nearly always the
    // innermost call's: its key compared with that one's takes the label without the map (half of the
    // interning's time). Only a shortcut: a key the same bytes as one interned has its label.
    let mut open_keys: Vec<Vec<(&'a [u8], u32)>> = Vec::new();
    let mut it = legacy::lines(chunk, 1);
    it.for_each_event(|ev| {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                line_damage.push((e.line_no, e.what));
                return;
            }
        };
        if !opts.pids.is_empty() && !opts.pids.contains(&ev.pid) {
            return;
        }
        let key = (ev.pid, ev.tid);
        let pi = if last.0 == key {
            last.1
        } else {
            let i = *by_thread.entry(key).or_insert_with(|| {
                parts.push(Part::new(ev.pid, ev.tid));
                open_keys.push(Vec::new());
                parts.len() - 1
            });
            last = (key, i);
            i
        };
        let part = &mut parts[pi];
        let t = ev.time_ns.max(0) as u64;
        let func_id =
            |f: FuncRef<'a>, intern: &mut dyn FnMut(&'a str, &'a str, &'a str) -> (u32, Option<&'a [u8]>)| match f {
                FuncRef::Named { module, name, file } => intern(module, name, file).0,
                FuncRef::Id(id) => id,
            };
        if ev.kind.is_timed() {
            // Out of the window too, as for a binary block (see `Window::last`).
            part.last_t = win.last(part.last_t, t);
            if !in_win(ev.time_ns) {
                return;
            }
        }
        match ev.kind {
            EventKind::ThreadName(n) => part.thread_name = Some(n),
            EventKind::Enter(FuncRef::Named { module, name, file }) => {
                let (func, key) = intern(module, name, file);
                if let Some(key) = key {
                    open_keys[pi].push((key, func));
                }
                part.text.push(TextEv::Enter { func, t })
            }
            EventKind::Exit { func: FuncRef::Named { module, name, file }, duration_ns, .. } => {
                let open = &mut open_keys[pi];
                let innermost = match (open.last(), columns_between(chunk, module, name)) {
                    (Some(&(top, id)), Some(key)) if same_bytes(top, key) => Some(id),
                    _ => None,
                };
                let func = match innermost {
                    Some(id) => {
                        open.pop();
                        id
                    }
                    None => {
                        let func = intern(module, name, file).0;
                        if let Some(k) = open.iter().rposition(|&(_, id)| id == func) {
                            open.truncate(k);
                        }
                        func
                    }
                };
                part.text.push(TextEv::Exit { func, t, duration: duration_ns.unwrap_or(NO_DURATION) })
            }
            EventKind::Enter(f) => {
                let func = func_id(f, &mut intern);
                part.text.push(TextEv::Enter { func, t })
            }
            EventKind::Exit { func, duration_ns, .. } => {
                let func = func_id(func, &mut intern);
                part.text.push(TextEv::Exit { func, t, duration: duration_ns.unwrap_or(NO_DURATION) })
            }
            EventKind::Suspend(f) => {
                let func = func_id(f, &mut intern);
                part.text.push(TextEv::Suspend { func, t })
            }
            EventKind::Resume(f) => {
                let func = func_id(f, &mut intern);
                part.text.push(TextEv::Resume { func, t })
            }
            EventKind::Line { func, line, duration_ns } => {
                let mut id = func_id(func, &mut intern);
                if opts.collect_lines {
                    let file = match func {
                        FuncRef::Named { file, .. } => file,
                        FuncRef::Id(_) => "",
                    };
                    id = *line_def_labels.entry((id, file)).or_insert_with(|| {
                        line_defs.push((id, file));
                        line_defs.len() as u32 - 1
                    });
                }
                part.line(id, line, duration_ns, opts.collect_lines);
            }
            EventKind::Debug { func, line, kind, name, value, truncated } if opts.collect_events => {
                let id = func_id(func, &mut intern);
                part.events.push(RawDebug { time_ns: ev.time_ns, func: id, line, kind, name, value, truncated });
            }
            _ => {}
        }
    });
    // `parts` is in order of each thread's first line, so stitching never depends on hash order.
    let line_count = it.next_line_no() - 1;
    debug_assert_eq!(line_count, legacy::count_lines(chunk) + u64::from(!chunk.is_empty() && !chunk.ends_with(b"\n")));
    UnitOut {
        file,
        trace: 0,
        parts,
        defs: names,
        line_defs,
        legacy: true,
        line_count,
        damage: Vec::new(),
        notes: Vec::new(),
        line_damage,
    }
}

#[cfg(test)]
mod tests {
    use super::{LineFuncs, LINE_FUNC_BITS};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_bytes_is_equality(a in prop::collection::vec(0u8..3, 0..40), b in prop::collection::vec(0u8..3, 0..40)) {
            prop_assert_eq!(super::same_bytes(&a, &b), a == b);
        }

        /// Whatever the labels (repeated, beyond the bits, corrupt-looking), the set holds each once.
        #[test]
        fn line_funcs_hold_each_label_once(labels in prop::collection::vec(
            prop_oneof![0u32..200, 0u32..LINE_FUNC_BITS + 100, any::<u32>()], 0..300)
        ) {
            let mut set = LineFuncs::default();
            for &f in &labels {
                set.add(f);
            }
            let mut got: Vec<u32> = set.into_labels().collect();
            got.sort_unstable();
            let mut want = labels.clone();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(got, want);
        }
    }
}
