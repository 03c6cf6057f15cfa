//! `calls.parquet`'s row groups, made where the replay runs: each thread's calls are collected (up to a row
//! group), put in start order, turned into columns and encoded into compressed pages on the replay's worker,
//! so the one writer only appends finished row groups to the file, as they come (each thread's in order).
//!
//! Columns repeat little work: `function`, `module`, `file` and `first_line` are dictionaries indexed by the
//! same keys (the row group's functions, in order of first use), so their data pages are one page encoded and
//! compressed once; `start` is `start_ns`'s page; `depth` is its own dictionary key.

use std::mem::MaybeUninit;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, RwLock};

use polars_parquet::parquet::encoding::Encoding;
use polars_parquet::parquet::error::ParquetResult;
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::CompressedPage;

use super::encode::{self, DataPage, Pages};
use super::order::start_order;
use super::Msg;
use crate::export::replay::{CallRow, DebugArg, Funcs, Sink, ThreadMeta};
use pylu_formats::UpdateAction;

/// The calls table's columns, `host` and `pid` first unless the files are partitioned by them.
pub(super) const COLUMNS: &[&str] = &[
    "tid",
    "thread",
    "function",
    "module",
    "file",
    "first_line",
    "depth",
    "call_id",
    "parent_id",
    "start_ns",
    "start",
    "duration_ns",
    "self_ns",
    "raised",
    "suspensions",
];

/// What every sink shares: how the calls table's pages are made.
pub(super) struct CallsLayout {
    pub partitioned: bool,
    /// One per column of the table's schema.
    pub descriptors: Vec<Descriptor>,
    pub pages: Pages,
}

/// A call waiting in its thread's batch: 64 bytes (options as flags), so that a run of them stays in a core's
/// cache while it is put in order and copied into the columns.
#[derive(Clone, Copy)]
pub(super) struct Pending {
    pub(super) call_id: u64,
    /// Meaningful with [`Pending::HAS_PARENT`].
    pub(super) parent_id: u64,
    pub(super) start_ns: i64,
    /// Meaningful with [`Pending::CLOSED`], as `self_ns`.
    pub(super) dur_ns: u64,
    pub(super) self_ns: u64,
    pub(super) func: u32,
    pub(super) depth: u32,
    pub(super) suspensions: u32,
    /// Index into [`CallsSink::names`].
    pub(super) name: u32,
    pub(super) flags: u8,
}

impl Pending {
    pub(super) const HAS_PARENT: u8 = 1;
    pub(super) const CLOSED: u8 = 2;
    pub(super) const RAISED: u8 = 4;

    fn from_row(c: &CallRow<'_>, name: u32) -> Self {
        let mut flags = 0;
        if c.parent_id.is_some() {
            flags |= Self::HAS_PARENT;
        }
        let closed = match (c.dur_ns, c.self_ns) {
            (Some(d), Some(s)) => Some((d, s)),
            _ => None,
        };
        if closed.is_some() {
            flags |= Self::CLOSED;
        }
        if c.raised {
            flags |= Self::RAISED;
        }
        let (dur_ns, self_ns) = closed.unwrap_or((0, 0));
        Pending {
            call_id: c.call_id,
            parent_id: c.parent_id.unwrap_or(0),
            start_ns: c.start_ns,
            dur_ns,
            self_ns,
            func: c.func,
            depth: c.depth,
            suspensions: c.suspensions,
            name,
            flags,
        }
    }
}

/// Room for `n` more values at the end of `v`, to be written by index (then [`Vec::set_len`]): zeroing them
/// first cost as much as the writes saved.
fn spare<T>(v: &mut Vec<T>, n: usize) -> &mut [MaybeUninit<T>] {
    v.reserve(n);
    &mut v.spare_capacity_mut()[..n]
}

/// A batch's columns in start order, kept between batches so that their memory is reused, not faulted in anew.
struct Columns {
    func: Vec<u32>,
    thread: Vec<u32>,
    depth: Vec<u32>,
    call_id: Vec<i64>,
    parent: Vec<i64>,
    has_parent: Vec<bool>,
    start: Vec<i64>,
    dur: Vec<i64>,
    selfs: Vec<i64>,
    closed: Vec<bool>,
    raised: Vec<bool>,
    suspensions: Vec<i64>,
    /// The row group's functions (global ids) in order of first use: the dictionaries' order.
    local: Vec<u32>,
    /// Global id → (row group number, local key): stale entries are those of an earlier row group (0: none).
    slot: Vec<(u32, u32)>,
    generation: u32,
    buf: Vec<u8>,
    levels: Vec<u8>,
}

impl Columns {
    fn new() -> Self {
        Columns {
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
            slot: Vec::new(),
            generation: 1,
            buf: Vec::new(),
            levels: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.func.clear();
        self.thread.clear();
        self.depth.clear();
        self.call_id.clear();
        self.parent.clear();
        self.has_parent.clear();
        self.start.clear();
        self.dur.clear();
        self.selfs.clear();
        self.closed.clear();
        self.raised.clear();
        self.suspensions.clear();
        self.local.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slot.clear();
            self.generation = 1;
        }
    }

    /// The function's key in this row group's dictionaries (`slot`, `local` and `generation` of [`Columns`],
    /// borrowed apart from the columns being written).
    #[inline]
    fn key(slot: &mut Vec<(u32, u32)>, local: &mut Vec<u32>, generation: u32, func: u32) -> u32 {
        let f = func as usize;
        if slot.len() <= f {
            slot.resize(f + 1, (0, 0));
        }
        let s = &mut slot[f];
        if s.0 != generation {
            *s = (generation, local.len() as u32);
            local.push(func);
        }
        s.1
    }

    fn len(&self) -> usize {
        self.func.len()
    }

    /// Copies `rows` into the columns in `order`. Each column's new values are sized first and written by
    /// index: pushing to twelve vectors a row kept their lengths in memory, and took most of the ordering.
    fn append(&mut self, rows: &[Pending], order: &[u32]) {
        let n = order.len();
        let at = self.func.len();
        let (parent_at, dur_at) = (self.parent.len(), self.dur.len());
        let (slot, local, generation) = (&mut self.slot, &mut self.local, self.generation);
        let func = spare(&mut self.func, n);
        let thread = spare(&mut self.thread, n);
        let depth = spare(&mut self.depth, n);
        let call_id = spare(&mut self.call_id, n);
        let has_parent = spare(&mut self.has_parent, n);
        let start = spare(&mut self.start, n);
        let closed = spare(&mut self.closed, n);
        let raised = spare(&mut self.raised, n);
        let suspensions = spare(&mut self.suspensions, n);
        // The optional values are compacted as they are written: a slot is kept only when the row has one.
        let parent = spare(&mut self.parent, n);
        let dur = spare(&mut self.dur, n);
        let selfs = spare(&mut self.selfs, n);
        let (mut np, mut nd) = (0, 0);
        for (i, &k) in order.iter().enumerate() {
            let r = &rows[k as usize];
            func[i].write(Self::key(slot, local, generation, r.func));
            thread[i].write(r.name);
            depth[i].write(r.depth);
            call_id[i].write(r.call_id as i64);
            start[i].write(r.start_ns);
            suspensions[i].write(i64::from(r.suspensions));
            let p = r.flags & Pending::HAS_PARENT != 0;
            let c = r.flags & Pending::CLOSED != 0;
            has_parent[i].write(p);
            closed[i].write(c);
            raised[i].write(r.flags & Pending::RAISED != 0);
            parent[np].write(r.parent_id as i64);
            np += usize::from(p);
            dur[nd].write(r.dur_ns as i64);
            selfs[nd].write(r.self_ns as i64);
            nd += usize::from(c);
        }
        // SAFETY: the loop wrote the first `n` spare values of each column every row fills, the first `np` of
        // `parent` and the first `nd` of `dur` and `selfs` (each within the `n` reserved by `spare`).
        unsafe {
            self.func.set_len(at + n);
            self.thread.set_len(at + n);
            self.depth.set_len(at + n);
            self.call_id.set_len(at + n);
            self.has_parent.set_len(at + n);
            self.start.set_len(at + n);
            self.closed.set_len(at + n);
            self.raised.set_len(at + n);
            self.suspensions.set_len(at + n);
            self.parent.set_len(parent_at + np);
            self.dur.set_len(dur_at + nd);
            self.selfs.set_len(dur_at + nd);
        }
    }
}

pub(super) struct CallsSink<'f> {
    pub(super) meta: ThreadMeta,
    pub(super) layout: Arc<CallsLayout>,
    pub(super) funcs: &'f RwLock<Funcs>,
    pub(super) rows: Vec<Pending>,
    pub(super) batch_rows: usize,
    pub(super) tx: SyncSender<Msg>,
    /// The thread's names so far (it is renamed rarely); rows point at the one they ended under.
    pub(super) names: Vec<String>,
    /// Set when the writer has gone (it failed): the replay's rows are dropped.
    pub(super) closed: bool,
    cols: Columns,
    events: Vec<EventRow>,
}

/// Rows are put in start order this many at a time (64 bytes each: they stay in a core's L2 cache, where a
/// whole row group's rows, ordered at once, made a fifth of the export wait for memory).
const ORDER_ROWS: usize = 8192;

/// Debugger values go to the writer this many at a time (one message each woke it for every value: a tenth of
/// the export's CPU went to waking threads).
const EVENT_BATCH: usize = 1024;

/// A debugger value no open call took, for `events.parquet`.
pub(super) struct EventRow {
    pub(super) thread: String,
    pub(super) time_ns: i64,
    pub(super) func: u32,
    pub(super) arg: DebugArg,
}

impl<'f> CallsSink<'f> {
    pub(super) fn new(
        meta: &ThreadMeta,
        layout: Arc<CallsLayout>,
        funcs: &'f RwLock<Funcs>,
        batch_rows: usize,
        tx: SyncSender<Msg>,
    ) -> Self {
        CallsSink {
            meta: meta.clone(),
            layout,
            funcs,
            rows: Vec::new(),
            batch_rows,
            tx,
            // Until the trace names it, a thread goes by its id (as in the other reports).
            names: vec![meta.tid.to_string()],
            closed: false,
            cols: Columns::new(),
            events: Vec::new(),
        }
    }

    /// Sends the debugger values collected so far.
    fn send_events(&mut self) {
        if self.events.is_empty() || self.closed {
            return;
        }
        let rows = std::mem::take(&mut self.events);
        if self.tx.send(Msg::Events { meta: self.meta.clone(), rows }).is_err() {
            self.closed = true;
        }
    }

    /// Sends what is left at the thread's end.
    pub(super) fn finish(mut self) {
        self.flush();
        self.send_events();
    }

    /// Puts the rows collected so far in order of their start, into the row group's columns: calls arrive as
    /// they end (children before their caller), and start times and ids in order delta-pack to a few bits.
    /// A few thousand rows at a time, so that the rows being ordered stay in the core's cache.
    fn order_rows(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        let order = start_order(&self.rows);
        self.cols.append(&self.rows, &order);
        self.rows.clear();
    }

    /// Encodes the row group and sends it.
    fn flush(&mut self) {
        self.order_rows();
        let len = self.cols.len();
        if len == 0 || self.closed {
            return;
        }
        let msg = match self.encode(len) {
            Ok(columns) => Msg::Calls { host: self.meta.host.clone(), pid: self.meta.pid, columns, len },
            Err(e) => Msg::Failed(e.to_string()),
        };
        self.cols.clear();
        if self.tx.send(msg).is_err() {
            self.closed = true;
        }
    }

    /// The row group's column chunks, in the schema's order.
    fn encode(&mut self, n: usize) -> ParquetResult<Vec<Vec<CompressedPage>>> {
        let layout = &*self.layout;
        let p = layout.pages;
        let c = &mut self.cols;
        let mut out: Vec<Vec<CompressedPage>> = Vec::with_capacity(layout.descriptors.len());
        let mut descs = layout.descriptors.iter();
        let mut next = || descs.next().expect("a descriptor per column");
        let mut buf = std::mem::take(&mut c.buf);
        let mut levels = std::mem::take(&mut c.levels);
        // A one-value dictionary column (the host): one RLE run of key 0.
        let one_key = |buf: &mut Vec<u8>| -> ParquetResult<DataPage> {
            buf.clear();
            buf.push(1);
            encode::rle_run(n, 0, 1, buf);
            p.data(Encoding::RleDictionary, &[], buf, n, 0, None)
        };
        // Constant integers (pid, tid): every delta 0, a few bytes per block.
        let constant = |v: i64, d: &Descriptor, buf: &mut Vec<u8>| -> ParquetResult<CompressedPage> {
            buf.clear();
            encode::delta_constant(v, n, buf);
            let stats = Some((&d.primitive_type, v, v));
            Ok(p.data(Encoding::DeltaBinaryPacked, &[], buf, n, 0, stats)?.page(d))
        };
        if !layout.partitioned {
            buf.clear();
            encode::plain_strings(std::iter::once(&*self.meta.host), &mut buf);
            let d = next();
            out.push(vec![p.dict(&buf, 1)?, one_key(&mut buf)?.page(d)]);
            out.push(vec![constant(i64::from(self.meta.pid), next(), &mut buf)?]);
        }
        out.push(vec![constant(self.meta.tid as i64, next(), &mut buf)?]);
        // thread: the thread's names so far as the dictionary.
        let max_name = c.thread.iter().copied().max().unwrap_or(0);
        buf.clear();
        encode::plain_strings(self.names[..=max_name as usize].iter().map(String::as_str), &mut buf);
        let dict = p.dict(&buf, max_name as usize + 1)?;
        buf.clear();
        encode::dict_keys(&c.thread, max_name, &mut buf);
        out.push(vec![dict, p.data(Encoding::RleDictionary, &[], &buf, n, 0, None)?.page(next())]);
        // function, module, file, first_line: one page of keys under four dictionaries.
        let nf = c.local.len();
        buf.clear();
        encode::dict_keys(&c.func, nf.saturating_sub(1) as u32, &mut buf);
        let keys = p.data(Encoding::RleDictionary, &[], &buf, n, 0, None)?;
        {
            let funcs = self.funcs.read().expect("not poisoned");
            let list = &funcs.list;
            let f = |k: &u32| &list[*k as usize];
            buf.clear();
            encode::plain_strings(c.local.iter().map(|k| f(k).name.as_str()), &mut buf);
            out.push(vec![p.dict(&buf, nf)?, keys.clone().page(next())]);
            buf.clear();
            encode::plain_strings(c.local.iter().map(|k| f(k).module.as_str()), &mut buf);
            out.push(vec![p.dict(&buf, nf)?, keys.clone().page(next())]);
            buf.clear();
            encode::plain_strings(c.local.iter().map(|k| f(k).file.as_str()), &mut buf);
            out.push(vec![p.dict(&buf, nf)?, keys.clone().page(next())]);
            buf.clear();
            encode::plain_i32(c.local.iter().map(|k| f(k).first_line as i32), &mut buf);
            out.push(vec![p.dict(&buf, nf)?, keys.page(next())]);
        }
        // depth: its own key into 0..=max.
        let max_depth = c.depth.iter().copied().max().unwrap_or(0);
        buf.clear();
        encode::plain_i32(0..=max_depth as i32, &mut buf);
        let dict = p.dict(&buf, max_depth as usize + 1)?;
        buf.clear();
        encode::dict_keys(&c.depth, max_depth, &mut buf);
        out.push(vec![dict, p.data(Encoding::RleDictionary, &[], &buf, n, 0, None)?.page(next())]);
        // call_id, parent_id, start_ns and start (one page), duration_ns, self_ns: delta-packed, with their
        // least and greatest values as statistics.
        let int64 =
            |vals: &[i64], defined: Option<&[bool]>, d: &Descriptor, buf: &mut Vec<u8>, levels: &mut Vec<u8>| {
                buf.clear();
                levels.clear();
                if let Some(defined) = defined {
                    encode::levels(defined, levels);
                }
                encode::delta(vals, buf);
                let stats = encode::min_max(vals).map(|(lo, hi)| (&d.primitive_type, lo, hi));
                p.data(Encoding::DeltaBinaryPacked, levels, buf, n, n - vals.len(), stats)
            };
        let d = next();
        out.push(vec![int64(&c.call_id, None, d, &mut buf, &mut levels)?.page(d)]);
        let d = next();
        out.push(vec![int64(&c.parent, Some(&c.has_parent), d, &mut buf, &mut levels)?.page(d)]);
        let d = next();
        let start = int64(&c.start, None, d, &mut buf, &mut levels)?;
        out.push(vec![start.clone().page(d)]);
        out.push(vec![start.page(next())]);
        let d = next();
        out.push(vec![int64(&c.dur, Some(&c.closed), d, &mut buf, &mut levels)?.page(d)]);
        let d = next();
        out.push(vec![int64(&c.selfs, Some(&c.closed), d, &mut buf, &mut levels)?.page(d)]);
        buf.clear();
        encode::plain_bools(&c.raised, &mut buf);
        out.push(vec![p.data(Encoding::Plain, &[], &buf, n, 0, None)?.page(next())]);
        buf.clear();
        encode::delta(&c.suspensions, &mut buf);
        out.push(vec![p.data(Encoding::DeltaBinaryPacked, &[], &buf, n, 0, None)?.page(next())]);
        c.buf = buf;
        c.levels = levels;
        Ok(out)
    }

    fn current_thread(&self) -> String {
        self.names.last().cloned().unwrap_or_default()
    }
}

impl Sink for CallsSink<'_> {
    fn thread_name(&mut self, name: &str) {
        if self.names.last().map(String::as_str) != Some(name) {
            self.names.push(name.to_owned());
        }
    }

    fn call(&mut self, c: &CallRow<'_>) {
        if self.closed {
            return;
        }
        self.rows.push(Pending::from_row(c, (self.names.len() - 1) as u32));
        if self.rows.len() >= ORDER_ROWS.min(self.batch_rows) {
            self.order_rows();
            if self.cols.len() >= self.batch_rows {
                self.flush();
            }
        }
    }

    fn update(&mut self, time_ns: i64, id: u32, action: UpdateAction, description: &str) {
        if self.closed {
            return;
        }
        let m = Msg::Update {
            meta: self.meta.clone(),
            thread: self.current_thread(),
            time_ns,
            id,
            action,
            description: description.to_owned(),
        };
        if self.tx.send(m).is_err() {
            self.closed = true;
        }
    }

    fn debug(&mut self, time_ns: i64, func: u32, arg: &DebugArg) {
        if self.closed {
            return;
        }
        self.events.push(EventRow { thread: self.current_thread(), time_ns, func, arg: arg.clone() });
        if self.events.len() >= EVENT_BATCH {
            self.send_events();
        }
    }
}
