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
    event::join_name, BlockRef, CallOp, ClockAnchor, DebugKind, EventKind, Format, FuncRef, Record, RecordSink, Trace,
    UpdateAction,
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
    /// Another call of the same function was open below this one when it ended (pstats' recursion).
    pub recursive: bool,
    /// Another call of the same function from the same caller was open below it.
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
}

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
    open_funcs: FxHashMap<u32, u32>,
    open_pairs: FxHashMap<(u32, u32), u32>,
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
            open_funcs: FxHashMap::default(),
            open_pairs: FxHashMap::default(),
            calls: 0,
            unclosed: 0,
            unmatched: 0,
            sink,
        }
    }

    fn opened(&mut self, func: u32, parent_func: u32) {
        if self.opts.recursion {
            *self.open_funcs.entry(func).or_default() += 1;
            *self.open_pairs.entry((parent_func, func)).or_default() += 1;
        }
    }

    /// Takes a frame off the open counts; returns whether another of its function (and of its pair) stays open.
    fn closed(&mut self, func: u32, parent_func: u32) -> (bool, bool) {
        if !self.opts.recursion {
            return (false, false);
        }
        let dec = |n: Option<&mut u32>| {
            n.map(|n| {
                *n -= 1;
                *n > 0
            })
            .unwrap_or(false)
        };
        let r = dec(self.open_funcs.get_mut(&func));
        let p = dec(self.open_pairs.get_mut(&(parent_func, func)));
        (r, p)
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
            self.closed(f.func, f.parent_func);
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
        let (recursive, pair_recursive) = self.closed(f.func, f.parent_func);
        let raw = duration.unwrap_or_else(|| t.saturating_sub(f.start));
        let seg = raw.max(f.child_ns);
        let whole = f.acc + seg;
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
    for input in inputs {
        let data = input.bytes();
        match input.format() {
            None => damage.push(format!("{}: {}", input.path.display(), crate::input::unreadable_reason(data))),
            Some(Format::Legacy) => legacy_files.push(input),
            Some(Format::Binary) => match Trace::parse(data) {
                Err(e) => damage.push(format!("{}: {e}", input.path.display())),
                Ok(trace) => {
                    let (file_units, file_damage) = plan_binary(&input.path, trace, funcs, &mut ordinal);
                    units.extend(file_units);
                    damage.extend(file_damage);
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
    total
}
