//! The per-call replay the exports need: each thread's events in order (enter, exit, suspend, resume,
//! exceptions, calls never closed) become one [`CallRow`] per call, handed to a [`Sink`] when the call ends.
//!
//! The analysis pipeline ([`crate::machine`]) builds aggregated trees from chunks in parallel and never sees a
//! whole call; the exports need exactly that (a timeline, a row per call, callers for pstats). Threads are
//! independent, so binary traces are replayed one thread per task (its blocks in file order); text logs are
//! read in one pass, in order, each line going to its thread's state. The rules for times follow the machine's,
//! so that what the rows add up to is what `summary` reports: a call's duration is the distance from enter to
//! exit (or the duration a text log measured), never less than its children's; a call cut off (an exit below
//! it, the end of the thread) has no duration and hands its children's time to its caller; a generator's
//! duration is the sum of its stretches on the stack. Text logs are replayed with that rule only (an exit ends
//! the innermost open call of its function): the pipeline's extra rule for request handlers whose exception the
//! log did not record (docs/ANALYZER.md) is not applied here.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use pylu_formats::{
    event::join_name, BlockErrorKind, BlockRef, CallOp, ClockAnchor, DebugKind, EventKind, Format, FuncRef, Record,
    RecordSink, Trace, UpdateAction,
};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::input::Input;

mod binary;
mod text;

use binary::{plan_binary, run_binary_thread, BinaryUnit};
use text::run_legacy;

/// A function, as the exports name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Func {
    /// `module.qualname`, the name the other reports show.
    pub name: String,
    pub module: String,
    pub qualname: String,
    pub file: String,
    pub first_line: u32,
}

/// Every function of the inputs, under one numbering. Binary traces' definitions are read before the replay;
/// text logs add theirs as they are read.
#[derive(Debug, Default)]
pub struct Funcs {
    pub list: Vec<Func>,
    index: HashMap<(String, String, String, u32), u32>,
}

impl Funcs {
    fn intern(&mut self, module: &str, qualname: &str, file: &str, first_line: u32) -> u32 {
        let key = (module.to_owned(), qualname.to_owned(), file.to_owned(), first_line);
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(Func {
            name: join_name(module, qualname),
            module: module.to_owned(),
            qualname: qualname.to_owned(),
            file: file.to_owned(),
            first_line,
        });
        self.index.insert(key, i);
        i
    }
}

/// The thread a sink receives the calls of.
#[derive(Debug, Clone)]
pub struct ThreadMeta {
    /// The host named in the trace's header; `unknown` for text logs.
    pub host: Arc<str>,
    pub pid: u32,
    pub tid: u64,
    /// Numbers the threads of the whole replay (in input order); call ids carry it, so they are unique
    /// within a process even when its threads span several files.
    pub ordinal: u32,
    /// The thread is read from a text log, whose threads are replayed all at once (binary threads one by one
    /// per core): a sink should keep little per thread.
    pub text_log: bool,
}

/// A debugger value recorded while a call was the innermost one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugArg {
    pub kind: DebugKind,
    pub name: String,
    pub value: String,
    pub line: u32,
    /// The recorder cut the value.
    pub truncated: bool,
}

/// One call, handed over when it ended (or, for calls never closed, at the end of the thread).
#[derive(Debug)]
pub struct CallRow<'a> {
    /// `ordinal << 40 | n`: unique within the process.
    pub call_id: u64,
    pub parent_id: Option<u64>,
    pub func: u32,
    pub parent_func: Option<u32>,
    /// 0 for a call made at the thread's root.
    pub depth: u32,
    /// Wall-clock ns since the epoch.
    pub start_ns: i64,
    /// Where the timeline draws its last stretch's end: the exit's time (or start + measured duration).
    /// `None` for calls never closed.
    pub end_ns: Option<i64>,
    /// Wall start of the last stretch (`start_ns` unless the call suspended).
    pub last_start_ns: i64,
    /// Whole duration (all stretches of a generator). `None`: never closed.
    pub dur_ns: Option<u64>,
    pub self_ns: Option<u64>,
    pub raised: bool,
    pub suspensions: u32,
    /// Earlier stretches on the stack (wall start, wall end) of a call that suspended; empty otherwise.
    pub segments: &'a [(i64, i64)],
    /// Another call of the same function was open below this one when it ended, on the stack since before this
    /// one began (pstats' recursion; see [`Sink::outermost_after_all`] for when that call never closes).
    pub recursive: bool,
    /// The same for calls of the same function from the same caller.
    pub pair_recursive: bool,
    pub args: &'a [DebugArg],
}

/// Where a thread's replay goes.
pub trait Sink {
    fn thread_name(&mut self, _name: &str) {}
    fn call(&mut self, row: &CallRow<'_>);
    /// An update marker (wall-clock ns).
    fn update(&mut self, _time_ns: i64, _id: u32, _action: UpdateAction, _description: &str) {}
    /// A debugger value that no open call of its function received (every value, unless
    /// [`ReplayOptions::args`]).
    fn debug(&mut self, _time_ns: i64, _func: u32, _arg: DebugArg) {}
    /// `calls` calls of `func` (of the pair `caller` → `func`, when `caller` is given), whose whole durations add
    /// up to `ns`, were handed over as [`CallRow::recursive`] (or [`CallRow::pair_recursive`]), but every call of
    /// the function (or pair) that was open below them never closed: they were the outermost calls that ended
    /// after all (with [`ReplayOptions::recursion`]).
    fn outermost_after_all(&mut self, _func: u32, _caller: Option<u32>, _calls: u64, _ns: u64) {}
}

/// What the replay asks for beyond the rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOptions {
    /// Fill [`CallRow::recursive`] and [`CallRow::pair_recursive`] (two hash updates per call).
    pub recursion: bool,
    /// Keep debugger values as the open call's [`CallRow::args`].
    pub args: bool,
    /// Keep each suspended call's earlier stretches ([`CallRow::segments`]; timelines draw them).
    pub segments: bool,
}

/// What the whole replay saw.
#[derive(Debug, Default)]
pub struct Replayed {
    pub calls: u64,
    /// Calls never closed (cut off by an exit below them, or still open or suspended at the end).
    pub unclosed: u64,
    /// Exits and suspensions of a function with no open call.
    pub unmatched: u64,
    /// Damaged parts skipped, one line each.
    pub damage: Vec<String>,
    /// Read as they are but worth a line: a trace's last block cut at the end of the file.
    pub notes: Vec<String>,
}

/// An open call: 80 bytes, moved at every enter and exit (it was 136 with its two lists, which most calls never
/// fill, in the frame itself).
#[derive(Debug)]
struct Frame {
    func: u32,
    id: u64,
    /// The caller's id; [`NO_PARENT`] at the root.
    parent: u64,
    /// The caller's function; [`NO_CALLER`] at the root.
    parent_func: u32,
    depth: u32,
    /// Start of the current stretch (trace clock).
    start: u64,
    /// Children's time in the current stretch.
    child_ns: u64,
    /// Children's time in earlier stretches.
    child_before: u64,
    /// Time on the stack in earlier stretches.
    acc: u64,
    suspensions: u32,
    /// Wall start of the call's first stretch.
    first_start: i64,
    /// Earlier stretches and debugger values, when the options keep them and the call has some.
    extra: Option<Box<Extra>>,
}

const _: () = assert!(std::mem::size_of::<Frame>() <= 80);

#[derive(Debug, Default)]
struct Extra {
    segs: Vec<(i64, i64)>,
    args: Vec<DebugArg>,
    /// Calls of the frame's function that ended while it was the innermost open call of that function (so were
    /// recursive): if the frame never closes, they pass to the next open call of the function below it, or were
    /// outermost (see [`Sink::outermost_after_all`]).
    inner: Pending,
    /// The same for calls of the frame's pair (caller, function).
    inner_pair: Pending,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Pending {
    calls: u64,
    ns: u64,
    /// The earliest first start (wall ns) among them.
    since: i64,
}

impl Pending {
    fn add(&mut self, o: Pending) {
        self.since = if self.calls == 0 { o.since } else { self.since.min(o.since) };
        self.calls += o.calls;
        self.ns += o.ns;
    }
}

/// Where the next open call of a frame's function, and of its pair, is on the stack below it ([`NO_LINK`]: none).
#[derive(Debug, Clone, Copy)]
struct Link {
    func: u32,
    pair: u32,
}

const NO_LINK: u32 = u32::MAX;

/// [`Frame::parent`] of a call at the thread's root (ids count from 1).
const NO_PARENT: u64 = 0;

impl Frame {
    /// The frame as a row of a call never closed (an exit fills in the rest).
    fn row(&self, last_start_ns: i64) -> CallRow<'_> {
        CallRow {
            call_id: self.id,
            parent_id: (self.parent != NO_PARENT).then_some(self.parent),
            func: self.func,
            parent_func: (self.parent_func != NO_CALLER).then_some(self.parent_func),
            depth: self.depth,
            start_ns: self.first_start,
            last_start_ns,
            end_ns: None,
            dur_ns: None,
            self_ns: None,
            raised: false,
            suspensions: self.suspensions,
            segments: self.extra.as_ref().map_or(&[], |e| &e.segs),
            recursive: false,
            pair_recursive: false,
            args: self.extra.as_ref().map_or(&[], |e| &e.args),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Clock {
    Anchor(ClockAnchor),
    Wall,
}

impl Clock {
    fn wall(self, t: u64) -> i64 {
        match self {
            Clock::Anchor(c) => c.to_wall(t),
            Clock::Wall => t as i64,
        }
    }
}

/// One thread's replay state.
struct Thread<S> {
    meta: ThreadMeta,
    clock: Clock,
    opts: ReplayOptions,
    stack: Vec<Frame>,
    suspended: Vec<Frame>,
    next_id: u64,
    /// With [`ReplayOptions::recursion`]: the innermost open call of each function and pair (its place on the
    /// stack), and for each frame of the stack, the next one below it ([`Link`]).
    top_func: FxHashMap<u32, u32>,
    top_pair: FxHashMap<(u32, u32), u32>,
    links: Vec<Link>,
    calls: u64,
    unclosed: u64,
    unmatched: u64,
    sink: S,
}

const NO_CALLER: u32 = u32::MAX;

impl<S: Sink> Thread<S> {
    fn new(meta: ThreadMeta, clock: Clock, opts: ReplayOptions, sink: S) -> Self {
        Thread {
            meta,
            clock,
            opts,
            stack: Vec::new(),
            suspended: Vec::new(),
            next_id: 1,
            top_func: FxHashMap::default(),
            top_pair: FxHashMap::default(),
            links: Vec::new(),
            calls: 0,
            unclosed: 0,
            unmatched: 0,
            sink,
        }
    }

    /// A frame is about to go on top of the stack.
    fn opened(&mut self, func: u32, parent_func: u32) {
        if self.opts.recursion {
            let at = self.stack.len() as u32;
            let func_below = self.top_func.insert(func, at).unwrap_or(NO_LINK);
            let pair_below = self.top_pair.insert((parent_func, func), at).unwrap_or(NO_LINK);
            self.links.push(Link { func: func_below, pair: pair_below });
        }
    }

    /// The frame on top of the stack was taken off it; returns where the next open calls of its function and of
    /// its pair are.
    fn closed(&mut self, func: u32, parent_func: u32) -> Link {
        let none = Link { func: NO_LINK, pair: NO_LINK };
        if !self.opts.recursion {
            return none;
        }
        let link = self.links.pop().unwrap_or(none);
        match link.func {
            NO_LINK => self.top_func.remove(&func),
            below => self.top_func.insert(func, below),
        };
        match link.pair {
            NO_LINK => self.top_pair.remove(&(parent_func, func)),
            below => self.top_pair.insert((parent_func, func), below),
        };
        link
    }

    /// Hands `f`'s pending recursive calls (see [`Extra::inner`]) to the open calls `link` names, or to the sink
    /// as outermost: `f` never closes.
    fn settle(&mut self, f: &Frame, link: Link) {
        let Some(e) = f.extra.as_ref() else { return };
        let (inner, inner_pair) = (e.inner, e.inner_pair);
        if inner.calls > 0 {
            match self.covering(link.func, inner.since, false) {
                NO_LINK => self.sink.outermost_after_all(f.func, None, inner.calls, inner.ns),
                below => self.pending_at(below).inner.add(inner),
            }
        }
        if inner_pair.calls > 0 {
            match self.covering(link.pair, inner_pair.since, true) {
                NO_LINK if f.parent_func != NO_CALLER => {
                    self.sink.outermost_after_all(f.func, Some(f.parent_func), inner_pair.calls, inner_pair.ns)
                }
                NO_LINK => {}
                below => self.pending_at(below).inner_pair.add(inner_pair),
            }
        }
    }

    /// From the open call at `at` down its function's (or pair's) chain, the first whose current stretch on the
    /// stack began at or before `since`: it holds the whole of a call that first started then, so that call's
    /// time is in its duration. A generator that ends inside a call of its function may have begun before it.
    fn covering(&self, mut at: u32, since: i64, pair: bool) -> u32 {
        while at != NO_LINK && self.clock.wall(self.stack[at as usize].start) > since {
            let link = self.links[at as usize];
            at = if pair { link.pair } else { link.func };
        }
        at
    }

    fn pending_at(&mut self, at: u32) -> &mut Extra {
        self.stack[at as usize].extra.get_or_insert_with(Default::default)
    }

    fn push(&mut self, func: u32, t: u64) {
        let (parent, parent_func) = self.caller();
        let id = (u64::from(self.meta.ordinal) << 40) | self.next_id;
        self.next_id += 1;
        let depth = self.stack.len() as u32;
        self.opened(func, parent_func);
        self.stack.push(Frame {
            func,
            id,
            parent,
            parent_func,
            depth,
            start: t,
            child_ns: 0,
            child_before: 0,
            acc: 0,
            suspensions: 0,
            first_start: self.clock.wall(t),
            extra: None,
        });
    }

    /// The innermost open call's id and function (a new call's caller).
    fn caller(&self) -> (u64, u32) {
        match self.stack.last() {
            Some(f) => (f.id, f.func),
            None => (NO_PARENT, NO_CALLER),
        }
    }

    fn pass_down(&mut self, ns: u64) {
        if let Some(f) = self.stack.last_mut() {
            f.child_ns += ns;
        }
    }

    /// Pops the top frame as never closed.
    fn abandon_top(&mut self) {
        if let Some(f) = self.stack.pop() {
            let link = self.closed(f.func, f.parent_func);
            self.settle(&f, link);
            self.pass_down(f.child_ns);
            self.emit_unclosed(&f);
        }
    }

    fn emit_unclosed(&mut self, f: &Frame) {
        self.unclosed += 1;
        self.sink.call(&f.row(self.clock.wall(f.start)));
    }

    /// The innermost open call of `func`, the frames above it abandoned.
    fn unwind_to(&mut self, func: u32) -> Option<Frame> {
        let pos = self.stack.iter().rposition(|f| f.func == func)?;
        while self.stack.len() > pos + 1 {
            self.abandon_top();
        }
        self.stack.pop()
    }

    fn enter(&mut self, func: u32, t: u64) {
        self.push(func, t);
    }

    fn exit(&mut self, func: u32, t: u64, raised: bool, duration: Option<u64>) {
        let Some(f) = self.unwind_to(func) else {
            self.unmatched += 1;
            return;
        };
        let link = self.closed(f.func, f.parent_func);
        let cover = self.covering(link.func, f.first_start, false);
        let cover_pair = self.covering(link.pair, f.first_start, true);
        let (recursive, pair_recursive) = (cover != NO_LINK, cover_pair != NO_LINK);
        let raw = duration.unwrap_or_else(|| t.saturating_sub(f.start));
        let seg = raw.max(f.child_ns);
        let whole = f.acc + seg;
        // Recursive only if the call of its function below it closes: that one decides (see `settle`).
        let this = Pending { calls: 1, ns: whole, since: f.first_start };
        if recursive {
            self.pending_at(cover).inner.add(this);
        }
        if pair_recursive {
            self.pending_at(cover_pair).inner_pair.add(this);
        }
        let children = f.child_before + f.child_ns;
        self.pass_down(seg);
        self.calls += 1;
        let seg_start = self.clock.wall(f.start);
        let end = match duration {
            Some(d) => seg_start.saturating_add(d as i64),
            None => self.clock.wall(t),
        };
        self.sink.call(&CallRow {
            end_ns: Some(end.max(seg_start)),
            dur_ns: Some(whole),
            self_ns: Some(whole - children),
            raised,
            recursive,
            pair_recursive,
            ..f.row(seg_start)
        });
    }

    fn suspend(&mut self, func: u32, t: u64) {
        let Some(mut f) = self.unwind_to(func) else {
            // A generator that started before the trace: its earlier stretches are unknown.
            self.unmatched += 1;
            return;
        };
        self.closed(f.func, f.parent_func);
        let seg = t.saturating_sub(f.start).max(f.child_ns);
        self.pass_down(seg);
        f.acc += seg;
        f.child_before += f.child_ns;
        f.child_ns = 0;
        f.suspensions += 1;
        if self.opts.segments {
            let s = self.clock.wall(f.start);
            f.extra.get_or_insert_with(Default::default).segs.push((s, self.clock.wall(t).max(s)));
        }
        self.suspended.push(f);
    }

    fn resume(&mut self, func: u32, t: u64) {
        match self.suspended.iter().rposition(|f| f.func == func) {
            Some(i) => {
                let mut f = self.suspended.remove(i);
                let (parent, parent_func) = self.caller();
                if let Some(e) = f.extra.as_mut().filter(|_| parent_func != f.parent_func) {
                    // It no longer runs as a call of its old pair: the calls of that pair that ended inside it
                    // count as the pair's outermost (an approximation: an open call of that pair below it when
                    // they ended may still close).
                    let inner = std::mem::take(&mut e.inner_pair);
                    if inner.calls > 0 && f.parent_func != NO_CALLER {
                        self.sink.outermost_after_all(f.func, Some(f.parent_func), inner.calls, inner.ns);
                    }
                }
                // It runs under whoever resumed it now.
                f.parent = parent;
                f.parent_func = parent_func;
                f.depth = self.stack.len() as u32;
                f.start = t;
                self.opened(f.func, f.parent_func);
                self.stack.push(f);
            }
            // Suspended before the trace began (or a damaged block lost its suspension): a new call.
            None => self.push(func, t),
        }
    }

    fn debug(&mut self, t: u64, func: u32, arg: DebugArg) {
        match self.stack.last_mut() {
            Some(f) if self.opts.args && f.func == func => f.extra.get_or_insert_with(Default::default).args.push(arg),
            _ => {
                let time = self.clock.wall(t);
                self.sink.debug(time, func, arg)
            }
        }
    }

    fn finish(mut self) -> (ThreadMeta, S, u64, u64, u64) {
        while !self.stack.is_empty() {
            self.abandon_top();
        }
        for f in std::mem::take(&mut self.suspended) {
            self.settle(&f, Link { func: NO_LINK, pair: NO_LINK });
            self.emit_unclosed(&f);
        }
        (self.meta, self.sink, self.calls, self.unclosed, self.unmatched)
    }
}

/// Replays `inputs`: `new_sink` makes each thread's sink, `done` receives it when the thread is over. Binary
/// threads run in parallel; text logs are read in order, on one task.
pub fn replay<S, N, D>(inputs: &[Input], opts: ReplayOptions, funcs: &RwLock<Funcs>, new_sink: N, done: D) -> Replayed
where
    S: Sink + Send,
    N: Fn(&ThreadMeta) -> S + Sync,
    D: Fn(ThreadMeta, S) + Sync,
{
    let total = Mutex::new(Replayed::default());
    let add = |calls: u64, unclosed: u64, unmatched: u64| {
        let mut t = total.lock().expect("not poisoned");
        t.calls += calls;
        t.unclosed += unclosed;
        t.unmatched += unmatched;
    };
    let mut ordinal = 0u32;
    let mut units: Vec<BinaryUnit<'_>> = Vec::new();
    let mut legacy_files: Vec<&Input> = Vec::new();
    let mut damage = Vec::new();
    let mut notes = Vec::new();
    for input in inputs {
        let data = input.bytes();
        match input.format() {
            None => damage.push(format!("{}: {}", input.path.display(), crate::input::unreadable_reason(data))),
            Some(Format::Legacy) => legacy_files.push(input),
            Some(Format::Binary) => match Trace::parse(data) {
                Err(e) => damage.push(format!("{}: {e}", input.path.display())),
                Ok(trace) => {
                    let mut next = Some(trace);
                    while let Some(trace) = next.take() {
                        let (file_units, file_damage, file_notes, after) =
                            plan_binary(&input.path, trace, funcs, &mut ordinal);
                        units.extend(file_units);
                        damage.extend(file_damage);
                        notes.extend(file_notes);
                        next = after;
                    }
                }
            },
        }
    }
    let legacy_damage = Mutex::new(Vec::new());
    rayon::join(
        || {
            units.par_iter().for_each(|u| {
                let meta = u.meta.clone();
                let sink = new_sink(&meta);
                let mut th = Thread::new(meta, Clock::Anchor(u.trace.header.clock), opts, sink);
                let dmg = run_binary_thread(u, &mut th, funcs);
                let (meta, sink, c, un, um) = th.finish();
                add(c, un, um);
                done(meta, sink);
                if !dmg.is_empty() {
                    legacy_damage.lock().expect("not poisoned").extend(dmg);
                }
            })
        },
        || {
            if !legacy_files.is_empty() {
                let threads = run_legacy(&legacy_files, opts, funcs, ordinal, &new_sink, &legacy_damage);
                for th in threads {
                    let (meta, sink, c, un, um) = th.finish();
                    add(c, un, um);
                    done(meta, sink);
                }
            }
        },
    );
    let mut total = total.into_inner().expect("not poisoned");
    damage.extend(legacy_damage.into_inner().expect("not poisoned"));
    total.damage = damage;
    total.notes = notes;
    total
}
