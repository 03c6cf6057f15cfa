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
    event::join_name, legacy, BlockRef, CallOp, ClockAnchor, DebugKind, EventKind, Format, FuncRef, Record, RecordSink,
    Trace, UpdateAction,
};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::input::Input;

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
    fn debug(&mut self, _time_ns: i64, _func: u32, _arg: &DebugArg) {}
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

#[derive(Debug)]
struct Frame {
    func: u32,
    id: u64,
    parent: Option<u64>,
    parent_func: Option<u32>,
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
    segs: Vec<(i64, i64)>,
    args: Vec<DebugArg>,
    /// Wall start of the call's first stretch.
    first_start: i64,
}

impl Frame {
    /// The frame as a row of a call never closed (an exit fills in the rest).
    fn row(&self, last_start_ns: i64) -> CallRow<'_> {
        CallRow {
            call_id: self.id,
            parent_id: self.parent,
            func: self.func,
            parent_func: self.parent_func,
            depth: self.depth,
            start_ns: self.first_start,
            last_start_ns,
            end_ns: None,
            dur_ns: None,
            self_ns: None,
            raised: false,
            suspensions: self.suspensions,
            segments: &self.segs,
            recursive: false,
            pair_recursive: false,
            args: &self.args,
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

    fn opened(&mut self, func: u32, parent_func: Option<u32>) {
        if self.opts.recursion {
            *self.open_funcs.entry(func).or_default() += 1;
            *self.open_pairs.entry((parent_func.unwrap_or(NO_CALLER), func)).or_default() += 1;
        }
    }

    /// Takes a frame off the open counts; returns whether another of its function (and of its pair) stays open.
    fn closed(&mut self, func: u32, parent_func: Option<u32>) -> (bool, bool) {
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
        let p = dec(self.open_pairs.get_mut(&(parent_func.unwrap_or(NO_CALLER), func)));
        (r, p)
    }

    fn push(&mut self, func: u32, t: u64) {
        let (parent, parent_func) = match self.stack.last() {
            Some(f) => (Some(f.id), Some(f.func)),
            None => (None, None),
        };
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
            segs: Vec::new(),
            args: Vec::new(),
            first_start: self.clock.wall(t),
        });
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
            f.segs.push((s, self.clock.wall(t).max(s)));
        }
        self.suspended.push(f);
    }

    fn resume(&mut self, func: u32, t: u64) {
        match self.suspended.iter().rposition(|f| f.func == func) {
            Some(i) => {
                let mut f = self.suspended.remove(i);
                let (parent, parent_func) = match self.stack.last() {
                    Some(p) => (Some(p.id), Some(p.func)),
                    None => (None, None),
                };
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
            Some(f) if self.opts.args && f.func == func => f.args.push(arg),
            _ => {
                let time = self.clock.wall(t);
                self.sink.debug(time, func, &arg)
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
            None if data.is_empty() => damage.push(format!("{}: empty file", input.path.display())),
            None => damage.push(format!("{}: not a pylu trace or pyliveupdate log", input.path.display())),
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

struct BinaryUnit<'a> {
    path: PathBuf,
    trace: Trace<'a>,
    meta: ThreadMeta,
    blocks: Vec<BlockRef<'a>>,
    /// File function id → global id.
    ids: Arc<Vec<u32>>,
}

/// Groups a file's blocks by thread (file order is each thread's order) and reads its function definitions.
fn plan_binary<'a>(
    path: &std::path::Path,
    trace: Trace<'a>,
    funcs: &RwLock<Funcs>,
    ordinal: &mut u32,
) -> (Vec<BinaryUnit<'a>>, Vec<String>) {
    let mut damage = Vec::new();
    let mut per_thread: std::collections::BTreeMap<u64, Vec<BlockRef<'a>>> = Default::default();
    let mut good = Vec::new();
    for b in trace.blocks() {
        match b {
            Ok(b) => good.push(b),
            Err(e) => damage.push(format!("{}: offset {}: {}", path.display(), e.offset, e.kind)),
        }
    }
    // Definitions can come in any block of the file (the thread that first called the function sealed it),
    // so all are read first, in parallel; their records are decoded again by the replay.
    let defs: Vec<Vec<Def>> = good
        .par_iter()
        .map(|b| {
            let mut out = Vec::new();
            if b.verify().is_ok() {
                let _ = b.records().try_for_each(&mut DefSink(&mut out));
            }
            out
        })
        .collect();
    let mut ids: Vec<u32> = Vec::new();
    {
        let mut f = funcs.write().expect("not poisoned");
        for (id, module, qualname, file, line) in defs.into_iter().flatten() {
            let g = f.intern(&module, &qualname, &file, line);
            if ids.len() <= id as usize {
                ids.resize(id as usize + 1, u32::MAX);
            }
            ids[id as usize] = g;
        }
    }
    for b in good {
        per_thread.entry(b.thread_id).or_default().push(b);
    }
    let ids = Arc::new(ids);
    let host: Arc<str> = Arc::from(trace.header.hostname.as_str());
    let units = per_thread
        .into_iter()
        .map(|(tid, mut blocks)| {
            blocks.sort_by_key(|b| b.offset);
            let meta =
                ThreadMeta { host: host.clone(), pid: trace.header.pid, tid, ordinal: *ordinal, text_log: false };
            *ordinal += 1;
            BinaryUnit { path: path.to_owned(), trace: trace.clone(), meta, blocks, ids: ids.clone() }
        })
        .collect();
    (units, damage)
}

/// A function definition as read: file id, module, qualname, file, first line.
type Def = (u32, String, String, String, u32);

struct DefSink<'o>(&'o mut Vec<Def>);

impl<'a> RecordSink<'a> for DefSink<'_> {
    fn call(&mut self, _op: CallOp, _func: u32, _time_ns: u64) {}
    fn suspend(&mut self, _func: u32, _time_ns: u64) {}
    fn resume(&mut self, _func: u32, _time_ns: u64) {}
    fn line(&mut self, _func: u32, _line: u32, _duration_ns: u64, _time_ns: u64) {}
    fn wants_debug(&self) -> bool {
        false
    }
    fn other(&mut self, rec: Record<'a>) {
        if let EventKind::FuncDef(d) = rec.kind {
            self.0.push((d.id, d.module.to_owned(), d.qualname.to_owned(), d.file.to_owned(), d.first_line));
        }
    }
}

/// A function id no definition named: a placeholder function `fn#id`, interned on first use.
fn unknown_func(funcs: &RwLock<Funcs>, id: u32) -> u32 {
    funcs.write().expect("not poisoned").intern("", &format!("fn#{id}"), "", 0)
}

struct ThreadSink<'t, S> {
    th: &'t mut Thread<S>,
    ids: &'t [u32],
    funcs: &'t RwLock<Funcs>,
}

impl<S: Sink> ThreadSink<'_, S> {
    #[inline]
    fn g(&self, id: u32) -> u32 {
        match self.ids.get(id as usize) {
            Some(&g) if g != u32::MAX => g,
            _ => unknown_func(self.funcs, id),
        }
    }
}

impl<'a, S: Sink> RecordSink<'a> for ThreadSink<'_, S> {
    #[inline]
    fn call(&mut self, op: CallOp, func: u32, t: u64) {
        let f = self.g(func);
        match op {
            CallOp::Enter => self.th.enter(f, t),
            CallOp::Exit => self.th.exit(f, t, false, None),
            CallOp::ExitRaised => self.th.exit(f, t, true, None),
        }
    }
    fn suspend(&mut self, func: u32, t: u64) {
        let f = self.g(func);
        self.th.suspend(f, t)
    }
    fn resume(&mut self, func: u32, t: u64) {
        let f = self.g(func);
        self.th.resume(f, t)
    }
    fn line(&mut self, _func: u32, _line: u32, _duration_ns: u64, _t: u64) {}
    fn wants_debug(&self) -> bool {
        true
    }
    fn other(&mut self, r: Record<'a>) {
        match r.kind {
            EventKind::ThreadName(n) => self.th.sink.thread_name(n),
            EventKind::Update { id, action, description } => {
                let t = self.th.clock.wall(r.time_ns);
                self.th.sink.update(t, id, action, description)
            }
            EventKind::Debug { func: FuncRef::Id(f), line, kind, name, value, truncated } => {
                let f = self.g(f);
                let arg = DebugArg { kind, name: name.to_owned(), value: value.to_owned(), line, truncated };
                self.th.debug(r.time_ns, f, arg)
            }
            _ => {}
        }
    }
}

fn run_binary_thread<S: Sink>(u: &BinaryUnit<'_>, th: &mut Thread<S>, funcs: &RwLock<Funcs>) -> Vec<String> {
    let mut damage = Vec::new();
    for b in &u.blocks {
        if let Err(e) = b.verify() {
            damage.push(format!("{}: offset {}: {}", u.path.display(), e.offset, e.kind));
            continue;
        }
        let mut sink = ThreadSink { th, ids: &u.ids, funcs };
        if let Err(e) = b.records().try_for_each(&mut sink) {
            damage.push(format!("{}: offset {}: {}", u.path.display(), e.offset, e.what));
        }
    }
    damage
}

fn run_legacy<'i, S, N>(
    files: &[&'i Input],
    opts: ReplayOptions,
    funcs: &RwLock<Funcs>,
    mut ordinal: u32,
    new_sink: &N,
    damage: &Mutex<Vec<String>>,
) -> Vec<Thread<S>>
where
    S: Sink,
    N: Fn(&ThreadMeta) -> S,
{
    let host: Arc<str> = Arc::from("unknown");
    let mut threads: Vec<Thread<S>> = Vec::new();
    let mut by_key: FxHashMap<(u32, u64), usize> = FxHashMap::default();
    // Names borrow from the mapped logs: a lookup allocates nothing.
    let mut local: FxHashMap<(&'i str, &'i str, &'i str), u32> = FxHashMap::default();
    let mut bad_lines = 0u64;
    for input in files {
        for ev in legacy::lines(input.bytes(), 1) {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    bad_lines += 1;
                    if bad_lines <= 20 {
                        damage.lock().expect("not poisoned").push(format!(
                            "{}: line {}: {}",
                            input.path.display(),
                            e.line_no,
                            e.what
                        ));
                    }
                    continue;
                }
            };
            let i = *by_key.entry((ev.pid, ev.tid)).or_insert_with(|| {
                let meta = ThreadMeta { host: host.clone(), pid: ev.pid, tid: ev.tid, ordinal, text_log: true };
                ordinal += 1;
                let sink = new_sink(&meta);
                threads.push(Thread::new(meta, Clock::Wall, opts, sink));
                threads.len() - 1
            });
            let th = &mut threads[i];
            let mut id = |f: FuncRef<'i>| -> u32 {
                match f {
                    FuncRef::Named { module, name, file } => {
                        let key = (module, name, file);
                        if let Some(&g) = local.get(&key) {
                            return g;
                        }
                        let g = funcs.write().expect("not poisoned").intern(module, name, file, 0);
                        local.insert(key, g);
                        g
                    }
                    FuncRef::Id(n) => funcs.write().expect("not poisoned").intern("", &format!("fn#{n}"), "", 0),
                }
            };
            let t = ev.time_ns.max(0) as u64;
            match ev.kind {
                EventKind::ThreadName(n) => th.sink.thread_name(n),
                EventKind::Enter(f) => th.enter(id(f), t),
                EventKind::Exit { func, exception, duration_ns } => th.exit(id(func), t, exception, duration_ns),
                EventKind::Suspend(f) => th.suspend(id(f), t),
                EventKind::Resume(f) => th.resume(id(f), t),
                EventKind::Debug { func, line, kind, name, value, truncated } => {
                    let f = id(func);
                    th.debug(t, f, DebugArg { kind, name: name.to_owned(), value: value.to_owned(), line, truncated })
                }
                EventKind::Update { id: uid, action, description } => {
                    th.sink.update(ev.time_ns, uid, action, description)
                }
                _ => {}
            }
        }
    }
    if bad_lines > 20 {
        damage.lock().expect("not poisoned").push(format!("{} more lines that do not parse", bad_lines - 20));
    }
    threads
}
