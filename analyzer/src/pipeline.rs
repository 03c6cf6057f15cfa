//! The pipeline: map the inputs, cut them into units, decode units in parallel into partial call trees, and
//! stitch each thread's partials in order.
//!
//! A *unit* is a run of one thread's blocks of a binary trace (in sequence order), or a newline-aligned stretch
//! of a text log (all its threads). Workers decode units in parallel, taking them in order; one thread stitches
//! their outputs in order as they arrive (stitching costs the number of distinct stacks of a unit, not its
//! events), and workers stay a few units ahead of it, so memory holds a few partial results plus the final
//! trees, whatever the size of the input. Text-log units are parsed into per-thread event lists instead,
//! replayed in order when stitching (`crate::text_replay`: the rule for requests whose root raised needs the
//! thread's history and reads some of its future).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use pylu_formats::{event::join_name, legacy, BlockRef, CallOp, EventKind, Format, FuncRef, Record, RecordSink, Trace};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::AnalyzeError;
use crate::input::Input;
use crate::machine::{ChunkBuilder, TextEv, ThreadAgg, Warnings};
use crate::profile::{Analysis, Damage, DebugEvent, Function, LineStat, Location, ThreadProfile};
use crate::tree::{Tree, NO_FUNC};

/// Damage reports kept in full (the rest are only counted).
pub const MAX_DAMAGE_KEPT: usize = 20;

/// [`Options::text_read_ahead`]'s default: 16,384 events per thread (40 bytes each).
pub const DEFAULT_TEXT_READ_AHEAD: usize = 1 << 14;

/// The longest read-ahead per text-log thread that a retry uses ([`Options::text_read_ahead_retry`]).
pub const MAX_TEXT_READ_AHEAD: usize = 1 << 20;

/// Events that a retry may read ahead over all threads (about 40 bytes each: 160 MiB).
const TEXT_READ_AHEAD_BUDGET: usize = 1 << 22;

/// How to read the inputs.
#[derive(Clone)]
pub struct Options {
    /// Bytes per unit of parallel work (about). Bigger units merge fewer partial trees; smaller ones spread
    /// better over cores. Results do not depend on it, except where the input itself is inconsistent (an exit
    /// of a call that was never entered, see docs/ANALYZER.md).
    pub chunk_bytes: usize,
    /// Binary traces: grow units to a quarter of the input per core (at least `chunk_bytes`), so that most
    /// threads are one unit whose tree is kept as it is. Off, units are `chunk_bytes` (tests of stitching).
    pub adaptive_units: bool,
    /// Only events at or after this wall-clock time (ns since the epoch).
    pub since_ns: Option<i64>,
    /// Only events at or before this wall-clock time.
    pub until_ns: Option<i64>,
    /// Only these processes (empty: all).
    pub pids: Vec<u32>,
    /// Keep debugger records (for `events`); off, they are only counted.
    pub collect_events: bool,
    /// Keep per-line timings (for `lines`); off, only which functions have line records is kept (so that the
    /// functions table is the same either way), which saves a hash-map update per line record.
    pub collect_lines: bool,
    /// Text logs: how many events of a thread are read ahead of replaying them, to see which calls end (the
    /// rule for requests whose root raised cuts only calls that do not; docs/ANALYZER.md). About 40 bytes per
    /// event and thread. 0 takes every open call for dead, as before the read-ahead.
    pub text_read_ahead: usize,
    /// When a call the rule cut ends after all (its end lay beyond the read-ahead: a recursive entry point),
    /// analyze again with 64 times the read-ahead, up to [`MAX_TEXT_READ_AHEAD`] events per thread and 4 Mi
    /// events over all threads ([`Analysis::text_read_ahead`] tells the one used). Progress is reported for the
    /// first pass only.
    pub text_read_ahead_retry: bool,
    /// Called with the bytes of each finished unit (a progress bar).
    pub progress: Option<std::sync::Arc<dyn Fn(u64) + Send + Sync>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chunk_bytes: 8 << 20,
            adaptive_units: true,
            since_ns: None,
            until_ns: None,
            pids: Vec::new(),
            collect_events: false,
            collect_lines: true,
            text_read_ahead: DEFAULT_TEXT_READ_AHEAD,
            text_read_ahead_retry: true,
            progress: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("chunk_bytes", &self.chunk_bytes)
            .field("adaptive_units", &self.adaptive_units)
            .field("since_ns", &self.since_ns)
            .field("until_ns", &self.until_ns)
            .field("pids", &self.pids)
            .field("collect_events", &self.collect_events)
            .field("collect_lines", &self.collect_lines)
            .field("text_read_ahead", &self.text_read_ahead)
            .field("text_read_ahead_retry", &self.text_read_ahead_retry)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// The total size of `inputs` (for a progress bar).
pub fn total_bytes(inputs: &[Input]) -> u64 {
    inputs.iter().map(|i| i.bytes().len() as u64).sum()
}

/// Maps and analyzes `paths` (see [`crate::discover`]).
pub fn analyze_paths(paths: &[PathBuf], opts: &Options) -> Result<Analysis, AnalyzeError> {
    let inputs = paths.iter().map(|p| Input::open(p)).collect::<Result<Vec<_>, _>>()?;
    Ok(analyze(&inputs, opts))
}

/// Analyzes mapped inputs. Unreadable parts are reported in [`Analysis::damage`], never fatal.
pub fn analyze(inputs: &[Input], opts: &Options) -> Analysis {
    let mut a = analyze_once(inputs, opts);
    // A call the rule for raised requests cut ended after all: a recursive entry point whose calls span more
    // events than the read-ahead. Read again, further ahead, within a memory budget.
    while opts.text_read_ahead_retry && a.warnings.wrong_cuts > 0 {
        let budget = TEXT_READ_AHEAD_BUDGET / a.threads.len().max(1);
        let next = a.text_read_ahead.saturating_mul(64).min(MAX_TEXT_READ_AHEAD).min(budget);
        if next <= a.text_read_ahead {
            break;
        }
        a = analyze_once(inputs, &Options { text_read_ahead: next, progress: None, ..opts.clone() });
    }
    a
}

/// [`analyze`] with `opts.text_read_ahead` as it is.
fn analyze_once<'a>(inputs: &'a [Input], opts: &Options) -> Analysis {
    let mut stitcher = Stitcher::new(inputs, opts);
    let units = plan(inputs, opts, &mut stitcher);
    let run = |unit: &Unit<'a>| -> UnitOut<'a> {
        let out = run_unit(inputs, unit, opts);
        if let Some(p) = &opts.progress {
            p(unit.bytes);
        }
        out
    };
    in_order(&units, AHEAD_PER_WORKER * rayon::current_num_threads().max(1), &run, &mut |out| stitcher.stitch(out));
    stitcher.finish()
}

/// Runs `run` on every unit in parallel and hands the outputs to `stitch` in the units' order, on a thread of
/// its own, as they arrive. Workers (rayon's) take units in order as they come free, so no core waits for
/// another at the end of a batch, and stay at most `ahead` units ahead of the stitching, so memory holds that
/// many outputs whatever the number of units. A panic in `run` or `stitch` reaches the caller; nothing hangs.
fn in_order<U: Sync, O: Send>(
    units: &[U],
    ahead: usize,
    run: &(impl Fn(&U) -> O + Sync),
    stitch: &mut (impl FnMut(O) + Send),
) {
    let ahead = ahead.max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let progress = Progress::default();
    let (sender, receiver) = std::sync::mpsc::channel::<(usize, O)>();
    let progress = &progress;
    std::thread::scope(|threads| {
        let stitching = threads.spawn(move || {
            let _wake = WakeOnPanic(progress);
            let mut waiting = BTreeMap::new();
            let mut done = 0;
            for (i, out) in receiver {
                waiting.insert(i, out);
                while let Some(out) = waiting.remove(&done) {
                    stitch(out);
                    done += 1;
                    progress.update(|p| p.stitched = done);
                }
            }
        });
        rayon::scope(|scope| {
            for _ in 0..rayon::current_num_threads().max(1) {
                let sender = sender.clone();
                let next = &next;
                scope.spawn(move |_| {
                    // A worker or the stitcher that panics wakes the waiting workers, which then stop, so that
                    // none waits for a unit forever.
                    let _wake = WakeOnPanic(progress);
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(unit) = units.get(i) else { break };
                        {
                            let mut state = progress.state.lock().unwrap_or_else(|e| e.into_inner());
                            while i >= state.stitched + ahead && !state.abandoned {
                                state = progress.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                            }
                            if state.abandoned {
                                break;
                            }
                        }
                        // The stitcher stops only when every sender is gone (or it panicked: then this fails).
                        let _ = sender.send((i, run(unit)));
                    }
                });
            }
        });
        drop(sender);
        stitching.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
}

/// How many units each worker may run ahead of the stitching.
const AHEAD_PER_WORKER: usize = 4;

/// How far [`in_order`] has stitched, which its waiting workers watch.
#[derive(Default)]
struct Progress {
    state: std::sync::Mutex<ProgressState>,
    /// Notified at every change of `state`.
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct ProgressState {
    /// Units stitched.
    stitched: usize,
    /// A worker or the stitcher panicked: the workers stop.
    abandoned: bool,
}

impl Progress {
    fn update(&self, change: impl FnOnce(&mut ProgressState)) {
        // A panic while the lock was held cannot leave the state half-written: each change is one store.
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_all();
    }
}

/// Marks [`Progress`] as abandoned, and wakes the workers waiting on it, if dropped while its thread panics.
struct WakeOnPanic<'p>(&'p Progress);

impl Drop for WakeOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.update(|p| p.abandoned = true);
        }
    }
}

/// One unit of parallel work.
#[derive(Debug)]
struct Unit<'a> {
    file: u32,
    bytes: u64,
    kind: UnitKind<'a>,
}

#[derive(Debug)]
enum UnitKind<'a> {
    Binary { trace: Trace<'a>, thread: u64, blocks: Vec<BlockRef<'a>> },
    Legacy { range: Range<usize> },
}

/// Cuts every input into units, in an order that keeps each thread's units in sequence.
fn plan<'a>(inputs: &'a [Input], opts: &Options, st: &mut Stitcher<'a>) -> Vec<Unit<'a>> {
    let target = if opts.adaptive_units {
        opts.chunk_bytes.max((total_bytes(inputs) / (4 * rayon::current_num_threads().max(1)) as u64) as usize)
    } else {
        opts.chunk_bytes
    };
    let planned: Vec<Planned<'a>> =
        inputs.par_iter().enumerate().map(|(i, input)| plan_file(i as u32, input, opts, target)).collect();
    let mut units = Vec::new();
    for (u, d) in planned {
        units.extend(u);
        for d in d {
            st.damage(d);
        }
    }
    // (file, ordinal within its thread, offset): a thread's units stay in order, threads interleave.
    units.sort_by_key(|(ord, u)| (u.file, *ord));
    units.into_iter().map(|(_, u)| u).collect()
}

/// A file's units (each with its sort key) and what could not be read.
type Planned<'a> = (Vec<(u64, Unit<'a>)>, Vec<Damage>);

fn plan_file<'a>(file: u32, input: &'a Input, opts: &Options, target: usize) -> Planned<'a> {
    let data = input.bytes();
    let path = &input.path;
    let mut units = Vec::new();
    let mut damage = Vec::new();
    let dmg = |at, what: String| Damage { path: path.clone(), at, what };
    match input.format() {
        None if data.is_empty() => damage.push(dmg(None, "empty file".into())),
        None => damage.push(dmg(None, "not a pylu trace or pyliveupdate log".into())),
        Some(Format::Legacy) => {
            for (k, range) in legacy::split_chunks(data, opts.chunk_bytes).into_iter().enumerate() {
                let bytes = range.len() as u64;
                units.push(((k as u64) << 32, Unit { file, bytes, kind: UnitKind::Legacy { range } }));
            }
        }
        Some(Format::Binary) => match Trace::parse(data) {
            Err(e) => damage.push(dmg(None, e.to_string())),
            Ok(trace) => {
                if !opts.pids.is_empty() && !opts.pids.contains(&trace.header.pid) {
                    return (units, damage);
                }
                let mut per_thread: BTreeMap<u64, Vec<BlockRef<'a>>> = BTreeMap::new();
                for b in trace.blocks() {
                    match b {
                        Ok(b) => per_thread.entry(b.thread_id).or_default().push(b),
                        Err(e) => damage.push(dmg(Some(Location::Offset(e.offset)), e.kind.to_string())),
                    }
                }
                // Binary units are as big as parallelism allows: a thread's first unit becomes its tree as it is
                // (`ThreadAgg::stitch_owned`), later ones are copied into it.
                for (thread, mut blocks) in per_thread {
                    // File order is each thread's order (one writer appends a thread's blocks as it seals them);
                    // seq restarts when the OS gives a finished thread's id to a new thread, so it cannot order them.
                    blocks.sort_by_key(|b| b.offset);
                    let mut ordinal = 0u64;
                    let mut cur: Vec<BlockRef<'a>> = Vec::new();
                    let mut cur_bytes = 0usize;
                    let mut flush = |cur: &mut Vec<BlockRef<'a>>, cur_bytes: &mut usize, ordinal: &mut u64| {
                        if cur.is_empty() {
                            return;
                        }
                        let first = cur[0].offset;
                        units.push((
                            (*ordinal << 32) | (first >> 20).min(u32::MAX as u64),
                            Unit {
                                file,
                                bytes: *cur_bytes as u64,
                                kind: UnitKind::Binary { trace: trace.clone(), thread, blocks: std::mem::take(cur) },
                            },
                        ));
                        *ordinal += 1;
                        *cur_bytes = 0;
                    };
                    for b in blocks {
                        cur_bytes += b.len_in_file();
                        cur.push(b);
                        if cur_bytes >= target {
                            flush(&mut cur, &mut cur_bytes, &mut ordinal);
                        }
                    }
                    flush(&mut cur, &mut cur_bytes, &mut ordinal);
                }
            }
        },
    }
    (units, damage)
}

/// A function as a unit names it: by a binary file's id, or spelled out (text log, interned per unit).
#[derive(Debug, Clone, Copy)]
struct NamedFunc<'a> {
    module: &'a str,
    name: &'a str,
    file: &'a str,
    first_line: u32,
}

/// One thread's share of a unit.
#[derive(Debug)]
struct Part<'a> {
    pid: u32,
    tid: u64,
    chunk: ChunkBuilder,
    /// Text log: the thread's events, replayed in order when stitching (`ThreadAgg::replay`).
    text: Vec<TextEv>,
    thread_name: Option<&'a str>,
    lines: FxHashMap<(u32, u32), (u64, u64)>,
    /// Without `collect_lines`: the functions that have line records instead.
    line_funcs: LineFuncs,
    events: Vec<RawDebug<'a>>,
}

/// The set of functions with line records: a bit per function label (labels are dense from 0: a binary
/// file's ids, a text-log unit's interned names), and a hash set for labels past [`LINE_FUNC_BITS`] (a corrupt
/// id must not allocate much). A bit costs a line record a load and a store; the hash set cost it a lookup,
/// 0.75 % of the binary analysis.
#[derive(Debug, Default)]
struct LineFuncs {
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
    fn into_labels(self) -> impl Iterator<Item = u32> {
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

#[derive(Debug, Clone, Copy)]
struct RawDebug<'a> {
    time_ns: i64,
    func: u32,
    line: u32,
    kind: pylu_formats::DebugKind,
    name: &'a str,
    value: &'a str,
    truncated: bool,
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
        }
    }

    /// A line record: its timing if `collect_lines`, otherwise only that its function has line records.
    #[inline(always)]
    fn line(&mut self, func: u32, line: u32, duration_ns: u64, collect_lines: bool) {
        if collect_lines {
            let e = self.lines.entry((func, line)).or_default();
            e.0 += 1;
            e.1 += duration_ns;
        } else {
            self.line_funcs.add(func);
        }
    }
}

#[derive(Debug)]
struct UnitOut<'a> {
    file: u32,
    parts: Vec<Part<'a>>,
    /// Binary: function definitions seen (labels are the file's ids). Text log: the unit's interned names
    /// (labels are indices into it).
    defs: Vec<(u32, NamedFunc<'a>)>,
    legacy: bool,
    /// Text log: lines in the unit (to number the next unit's lines).
    line_count: u64,
    damage: Vec<Damage>,
    /// Damage with line numbers relative to the unit (text log).
    line_damage: Vec<(u64, &'static str)>,
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

fn run_unit<'a>(inputs: &'a [Input], unit: &Unit<'a>, opts: &Options) -> UnitOut<'a> {
    match &unit.kind {
        UnitKind::Binary { trace, thread, blocks } => {
            run_binary(&inputs[unit.file as usize].path, unit.file, trace, *thread, blocks, opts)
        }
        UnitKind::Legacy { range } => run_legacy(unit.file, &inputs[unit.file as usize].bytes()[range.clone()], opts),
    }
}

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
    for b in blocks {
        if let Err(e) = b.verify() {
            damage.push(Damage {
                path: path.to_owned(),
                at: Some(Location::Offset(e.offset)),
                what: e.kind.to_string(),
            });
            continue;
        }
        // Without --since/--until every call record is in the window: a sink that does not ask saves two
        // compares and branches per record.
        let decoded = if win.lo == 0 && win.hi == u64::MAX {
            b.records().try_for_each(&mut BinarySink::<false> { part: &mut part, defs: &mut defs, win, trace, opts })
        } else {
            b.records().try_for_each(&mut BinarySink::<true> { part: &mut part, defs: &mut defs, win, trace, opts })
        };
        if let Err(e) = decoded {
            damage.push(Damage {
                path: path.to_owned(),
                at: Some(Location::Offset(e.offset)),
                what: e.what.to_string(),
            });
        }
    }
    part.chunk.finish();
    UnitOut { file, parts: vec![part], defs, legacy: false, line_count: 0, damage, line_damage: Vec::new() }
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
        let untimed = matches!(r.kind, EventKind::FuncDef(_) | EventKind::ThreadName(_));
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

fn run_legacy<'a>(file: u32, chunk: &'a [u8], opts: &Options) -> UnitOut<'a> {
    let win = window_for(opts, None);
    let in_win = |t: i64| win.holds(t.max(0) as u64);
    let mut parts: Vec<Part<'a>> = Vec::new();
    let mut by_thread: FxHashMap<(u32, u64), usize> = FxHashMap::default();
    let mut last: ((u32, u64), usize) = ((u32::MAX, u64::MAX), usize::MAX);
    let mut names: Vec<(u32, NamedFunc<'a>)> = Vec::new();
    let mut interned: FxHashMap<(&'a str, &'a str), u32> = FxHashMap::default();
    let mut line_damage = Vec::new();
    let mut intern = |module: &'a str, name: &'a str, file: &'a str| -> u32 {
        *interned.entry((module, name)).or_insert_with(|| {
            names.push((names.len() as u32, NamedFunc { module, name, file, first_line: 0 }));
            (names.len() - 1) as u32
        })
    };
    let mut it = legacy::lines(chunk, 1);
    for ev in it.by_ref() {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                line_damage.push((e.line_no, e.what));
                continue;
            }
        };
        if !opts.pids.is_empty() && !opts.pids.contains(&ev.pid) {
            continue;
        }
        let key = (ev.pid, ev.tid);
        let pi = if last.0 == key {
            last.1
        } else {
            let i = *by_thread.entry(key).or_insert_with(|| {
                parts.push(Part::new(ev.pid, ev.tid));
                parts.len() - 1
            });
            last = (key, i);
            i
        };
        let part = &mut parts[pi];
        let t = ev.time_ns.max(0) as u64;
        let func_id = |f: FuncRef<'a>, intern: &mut dyn FnMut(&'a str, &'a str, &'a str) -> u32| match f {
            FuncRef::Named { module, name, file } => intern(module, name, file),
            FuncRef::Id(id) => id,
        };
        if !matches!(ev.kind, EventKind::ThreadName(_)) && !in_win(ev.time_ns) {
            continue;
        }
        match ev.kind {
            EventKind::ThreadName(n) => part.thread_name = Some(n),
            EventKind::Enter(f) => {
                let func = func_id(f, &mut intern);
                part.text.push(TextEv::Enter { func, t })
            }
            EventKind::Exit { func, duration_ns, .. } => {
                let func = func_id(func, &mut intern);
                part.text.push(TextEv::Exit { func, t, duration: duration_ns })
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
                let id = func_id(func, &mut intern);
                part.line(id, line, duration_ns, opts.collect_lines);
            }
            EventKind::Debug { func, line, kind, name, value, truncated } if opts.collect_events => {
                let id = func_id(func, &mut intern);
                part.events.push(RawDebug { time_ns: ev.time_ns, func: id, line, kind, name, value, truncated });
            }
            _ => {}
        }
    }
    // `parts` is in order of each thread's first line, so stitching never depends on hash order.
    let line_count = it.next_line_no() - 1;
    debug_assert_eq!(line_count, legacy::count_lines(chunk) + u64::from(!chunk.is_empty() && !chunk.ends_with(b"\n")));
    UnitOut { file, parts, defs: names, legacy: true, line_count, damage: Vec::new(), line_damage }
}

/// The key of a thread's state: binary threads keep their file's function ids until the end (a function may be
/// defined in a later block than its first use), so they are per file; text-log threads use global ids.
type ThreadKey = (u32, u64, u32);
const GLOBAL_LABELS: u32 = u32::MAX;

#[derive(Debug)]
struct ThreadState {
    agg: ThreadAgg,
    name: Option<String>,
    lines: FxHashMap<(u32, u32), (u64, u64)>,
    /// Without `collect_lines`: the functions with line records.
    line_funcs: rustc_hash::FxHashSet<u32>,
    events: Vec<DebugEvent>,
}

struct Stitcher<'a> {
    inputs: &'a [Input],
    functions: Vec<Function>,
    by_name: FxHashMap<String, u32>,
    /// Per binary file: its function ids → global ids (filled as definitions are seen).
    file_defs: Vec<FxHashMap<u32, u32>>,
    threads: BTreeMap<ThreadKey, ThreadState>,
    /// Text logs: events of a thread read ahead of its replay ([`Options::text_read_ahead`]).
    text_read_ahead: usize,
    /// Per file: lines of the text log stitched so far.
    lines_done: Vec<u64>,
    damage: Vec<Damage>,
    damage_count: u64,
}

impl<'a> Stitcher<'a> {
    fn new(inputs: &'a [Input], opts: &Options) -> Self {
        Stitcher {
            inputs,
            functions: Vec::new(),
            by_name: FxHashMap::default(),
            file_defs: vec![FxHashMap::default(); inputs.len()],
            threads: BTreeMap::new(),
            text_read_ahead: opts.text_read_ahead,
            lines_done: vec![0; inputs.len()],
            damage: Vec::new(),
            damage_count: 0,
        }
    }

    fn damage(&mut self, d: Damage) {
        self.damage_count += 1;
        if self.damage.len() < MAX_DAMAGE_KEPT {
            self.damage.push(d);
        }
    }

    fn intern(&mut self, f: &NamedFunc<'_>) -> u32 {
        let name = join_name(f.module, f.name);
        if let Some(&id) = self.by_name.get(&name) {
            return id;
        }
        let id = self.functions.len() as u32;
        self.functions.push(Function { name: name.clone(), file: f.file.to_owned(), first_line: f.first_line });
        self.by_name.insert(name, id);
        id
    }

    fn intern_name(&mut self, name: String) -> u32 {
        if let Some(&id) = self.by_name.get(&name) {
            return id;
        }
        let id = self.functions.len() as u32;
        self.functions.push(Function { name: name.clone(), file: String::new(), first_line: 0 });
        self.by_name.insert(name, id);
        id
    }

    fn stitch(&mut self, out: UnitOut<'a>) {
        let file = out.file;
        for d in out.damage {
            self.damage(d);
        }
        let first_line = self.lines_done[file as usize];
        for (line, what) in &out.line_damage {
            let path = self.inputs[file as usize].path.clone();
            self.damage(Damage { path, at: Some(Location::Line(first_line + line)), what: (*what).to_string() });
        }
        self.lines_done[file as usize] += out.line_count;
        let (remap, key_file): (Vec<u32>, u32) = if out.legacy {
            (
                out.defs.iter().map(|(_, f)| f).collect::<Vec<_>>().into_iter().map(|f| self.intern(f)).collect(),
                GLOBAL_LABELS,
            )
        } else {
            for (id, f) in &out.defs {
                let g = self.intern(f);
                self.file_defs[file as usize].entry(*id).or_insert(g);
            }
            (Vec::new(), file)
        };
        let relabel = |f: u32| if out.legacy { remap[f as usize] } else { f };
        for part in out.parts {
            let st = self.threads.entry((part.pid, part.tid, key_file)).or_insert_with(|| ThreadState {
                agg: ThreadAgg::new(),
                name: None,
                lines: FxHashMap::default(),
                line_funcs: Default::default(),
                events: Vec::new(),
            });
            if out.legacy {
                st.agg.replay(&part.text, &relabel, self.text_read_ahead);
            } else {
                st.agg.stitch_owned(part.chunk, true, &relabel);
            }
            if let Some(n) = part.thread_name {
                if st.name.as_deref() != Some(n) {
                    st.name = Some(n.to_owned());
                }
            }
            st.line_funcs.extend(part.line_funcs.into_labels().map(relabel));
            for ((f, line), (hits, ns)) in part.lines {
                let e = st.lines.entry((relabel(f), line)).or_default();
                e.0 += hits;
                e.1 += ns;
            }
            let thread = st.name.clone().unwrap_or_else(|| part.tid.to_string());
            st.events.extend(part.events.into_iter().map(|e| DebugEvent {
                time_ns: e.time_ns,
                pid: part.pid,
                tid: part.tid,
                thread: thread.clone(),
                func: relabel(e.func),
                line: e.line,
                kind: e.kind,
                name: e.name.to_owned(),
                value: e.value.to_owned(),
                truncated: e.truncated,
            }));
        }
    }

    fn finish(mut self) -> Analysis {
        // Binary ids never defined in their file get a name saying so.
        let mut labels: Vec<(u32, Vec<(u32, u32)>)> = Vec::new();
        let keys: Vec<ThreadKey> = self.threads.keys().copied().collect();
        for key in &keys {
            if key.2 == GLOBAL_LABELS {
                continue;
            }
            let st = &self.threads[key];
            let mut missing: Vec<u32> = st
                .agg
                .m
                .tree
                .nodes
                .iter()
                .map(|n| n.func)
                .chain(st.lines.keys().map(|k| k.0))
                .chain(st.line_funcs.iter().copied())
                .chain(st.events.iter().map(|e| e.func))
                .filter(|&f| f != NO_FUNC && !self.file_defs[key.2 as usize].contains_key(&f))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            let ids = missing.iter().map(|&f| (f, self.intern_name(format!("<function #{f}>")))).collect();
            labels.push((key.2, ids));
        }
        for (file, ids) in labels {
            self.file_defs[file as usize].extend(ids);
        }
        let file_defs = &self.file_defs;
        let states: Vec<(ThreadKey, ThreadState)> = std::mem::take(&mut self.threads).into_iter().collect();
        let mut warnings = Warnings::default();
        let mut calls = 0;
        let finished: Vec<(ThreadKey, ThreadProfile, Vec<DebugEvent>, Warnings, u64)> = states
            .into_par_iter()
            .map(|(key, mut st)| {
                st.agg.finish();
                let relabel = |f: u32| -> u32 {
                    if key.2 == GLOBAL_LABELS || f == NO_FUNC {
                        f
                    } else {
                        file_defs[key.2 as usize][&f]
                    }
                };
                let (tree, hists) = if key.2 == GLOBAL_LABELS {
                    (st.agg.m.tree, st.agg.m.hists)
                } else {
                    (st.agg.m.tree.into_relabelled(relabel), st.agg.m.hists.into_relabelled(relabel))
                };
                let mut lines: FxHashMap<(u32, u32), (u64, u64)> = FxHashMap::default();
                for ((f, l), (h, ns)) in st.lines {
                    let e = lines.entry((relabel(f), l)).or_default();
                    e.0 += h;
                    e.1 += ns;
                }
                let mut lines: Vec<LineStat> = lines
                    .into_iter()
                    .map(|((func, line), (hits, total_ns))| LineStat { func, line, hits, total_ns })
                    .collect();
                lines.sort_by_key(|l| (l.func, l.line));
                let mut events = st.events;
                for e in &mut events {
                    e.func = relabel(e.func);
                }
                let thread = st.name.unwrap_or_else(|| key.1.to_string());
                let w = st.agg.m.warnings;
                let calls = st.agg.m.calls;
                (key, ThreadProfile { pid: key.0, tid: key.1, thread, tree, hists, lines }, events, w, calls)
            })
            .collect();
        // The same thread in several binary files (a restarted writer) is one thread.
        let mut merged: BTreeMap<(u32, u64), ThreadProfile> = BTreeMap::new();
        let mut events = Vec::new();
        for (_, prof, ev, w, c) in finished {
            warnings.add(&w);
            calls += c;
            events.extend(ev);
            match merged.get_mut(&(prof.pid, prof.tid)) {
                None => {
                    merged.insert((prof.pid, prof.tid), prof);
                }
                Some(into) => merge_profile(into, prof),
            }
        }
        let mut threads: Vec<ThreadProfile> = merged.into_values().collect();
        threads.sort_by(|a, b| (a.pid, &a.thread, a.tid).cmp(&(b.pid, &b.thread, b.tid)));
        events.sort_by_key(|e| (e.time_ns, e.pid, e.tid));
        Analysis {
            functions: self.functions,
            threads,
            events,
            warnings,
            damage: self.damage,
            damage_count: self.damage_count,
            files: self.inputs.len(),
            bytes: total_bytes(self.inputs),
            calls,
            text_read_ahead: self.text_read_ahead,
        }
    }
}

/// Adds `b` into `a` (same thread: trees grafted at the root, line timings summed).
pub(crate) fn merge_profile(a: &mut ThreadProfile, b: ThreadProfile) {
    a.tree.graft(&b.tree, 0, |f| f);
    a.hists.merge(&b.hists, |f| f);
    let mut lines: BTreeMap<(u32, u32), (u64, u64)> = BTreeMap::new();
    for l in a.lines.drain(..).chain(b.lines) {
        let e = lines.entry((l.func, l.line)).or_default();
        e.0 += l.hits;
        e.1 += l.total_ns;
    }
    a.lines =
        lines.into_iter().map(|((func, line), (hits, total_ns))| LineStat { func, line, hits, total_ns }).collect();
}

#[allow(dead_code)]
fn _assert_tree_send(t: Tree) -> impl Send {
    t
}

#[cfg(test)]
mod tests {
    use super::{in_order, LineFuncs, LINE_FUNC_BITS};
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Runs `f` on a thread and fails if it takes longer than a minute (a hang), returning whether it panicked.
    fn panics_without_hanging(f: impl FnOnce() + Send + 'static) -> bool {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
            let _ = done.send(panicked);
        });
        finished.recv_timeout(Duration::from_secs(60)).expect("in_order hung")
    }

    /// Uneven pseudo-random work, so that units finish out of order.
    fn work(i: usize) {
        std::thread::sleep(Duration::from_micros((i as u64 * 7919) % 13 * 150));
    }

    #[test]
    fn outputs_are_stitched_in_order_and_workers_stay_close() {
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let units: Vec<usize> = (0..300).collect();
            let stitched = AtomicUsize::new(0);
            let farthest = AtomicUsize::new(0);
            let mut seen = Vec::new();
            pool.install(|| {
                in_order(
                    &units,
                    3,
                    &|&i: &usize| {
                        // How far this unit is ahead of the stitching when it starts.
                        let behind = stitched.load(Ordering::SeqCst);
                        farthest.fetch_max(i - behind.min(i), Ordering::SeqCst);
                        work(i);
                        i * 2
                    },
                    &mut |out| {
                        // Slower than the workers: without the bound they would run far ahead.
                        std::thread::sleep(Duration::from_micros(400));
                        seen.push(out);
                        stitched.fetch_add(1, Ordering::SeqCst);
                    },
                )
            });
            assert_eq!(seen, units.iter().map(|i| i * 2).collect::<Vec<_>>(), "{threads} threads");
            assert!(farthest.load(Ordering::SeqCst) < 3, "{threads} threads: a worker ran too far ahead");
        }
    }

    #[test]
    fn a_panic_in_a_worker_or_the_stitcher_reaches_the_caller() {
        for threads in [1, 2, 4] {
            let run_panics = panics_without_hanging(move || {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let units: Vec<usize> = (0..100).collect();
                pool.install(|| {
                    in_order(
                        &units,
                        2,
                        &|&i: &usize| {
                            work(i);
                            assert!(i != 37, "unit 37 fails");
                            i
                        },
                        &mut |_| {},
                    )
                });
            });
            assert!(run_panics, "{threads} threads");
            let stitch_panics = panics_without_hanging(move || {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let units: Vec<usize> = (0..100).collect();
                pool.install(|| in_order(&units, 2, &|&i: &usize| i, &mut |i| assert!(i != 11, "stitching 11 fails")));
            });
            assert!(stitch_panics, "{threads} threads");
        }
    }

    proptest! {
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
