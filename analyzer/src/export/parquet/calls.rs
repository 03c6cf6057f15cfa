//! `calls.parquet`'s row groups, made where the replay runs: each thread's calls are collected (up to a row
//! group), put in start order, turned into columns and encoded into compressed pages on the replay's worker,
//! so the one writer only appends finished row groups to the file, as they come (each thread's in order).
//!
//! Columns repeat little work: `function`, `module`, `file` and `first_line` are dictionaries indexed by the
//! same keys (the row group's functions, in order of first use), so their data pages are one page encoded and
//! compressed once; `start` is `start_ns`'s page; `depth` is its own dictionary key.

use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, RwLock};

use polars_parquet::parquet::encoding::Encoding;
use polars_parquet::parquet::error::ParquetResult;
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::CompressedPage;

use super::encode::{self, DataPage, Pages};
use super::rows::{Cut, Rows};
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
    /// Columns of threads that are over, for the next threads: each thread's own, grown from nothing, cost
    /// a fifth of a gigabyte of page faults and reallocation copies per gigabyte of trace.
    pub spare: Mutex<Vec<Rows>>,
}

pub(super) struct CallsSink<'f> {
    pub(super) meta: ThreadMeta,
    pub(super) layout: Arc<CallsLayout>,
    pub(super) funcs: &'f RwLock<Funcs>,
    rows: Rows,
    pub(super) batch_rows: usize,
    pub(super) tx: SyncSender<Msg>,
    /// The thread's names so far (it is renamed rarely); rows point at the one they ended under.
    pub(super) names: Vec<Arc<str>>,
    /// Set when the writer has gone (it failed): the replay's rows are dropped.
    pub(super) closed: bool,
    buf: Vec<u8>,
    levels: Vec<u8>,
    /// Per 64-bit column (call_id, parent_id, start_ns, duration_ns, self_ns): row groups left whose page is
    /// stored without trying compression (see [`CallsSink::encode`]).
    raw: [u8; 5],
    events: Vec<EventRow>,
}

/// Debugger values go to the writer this many at a time (one message each woke it for every value: a tenth of
/// the export's CPU went to waking threads).
const EVENT_BATCH: usize = 1024;

/// Row groups a 64-bit column's pages are stored uncompressed after compression failed to shrink one: trying
/// zstd on delta-packed durations (noise in the low bits) cost a tenth of the export and saved nothing.
const RAW_GROUPS: u8 = 7;

/// A debugger value no open call took, for `events.parquet`.
pub(super) struct EventRow {
    pub(super) thread: Arc<str>,
    /// The thread name's number among the sink's names (with the thread's ordinal, the name's dictionary id).
    pub(super) name: u32,
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
        let rows = layout.spare.lock().expect("not poisoned").pop().unwrap_or_else(Rows::new);
        CallsSink {
            meta: meta.clone(),
            layout,
            funcs,
            rows,
            batch_rows,
            tx,
            // Until the trace names it, a thread goes by its id (as in the other reports).
            names: vec![Arc::from(meta.tid.to_string())],
            closed: false,
            buf: Vec::new(),
            levels: Vec::new(),
            raw: [0; 5],
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
        self.flush(true);
        self.send_events();
        let mut rows = std::mem::replace(&mut self.rows, Rows::new());
        rows.recycle();
        self.layout.spare.lock().expect("not poisoned").push(rows);
    }

    /// Encodes the ended calls as a row group (in the order they began: start times and ids in order
    /// delta-pack to a few bits) and sends it; `all`: the thread is over.
    fn flush(&mut self, all: bool) {
        let cut = self.rows.cut(all);
        let len = cut.n;
        if len == 0 || self.closed {
            self.rows.next_group();
            return;
        }
        let msg = match self.encode(cut) {
            Ok(columns) => Msg::Calls { host: self.meta.host.clone(), pid: self.meta.pid, columns, len },
            Err(e) => Msg::Failed(e.to_string()),
        };
        self.rows.next_group();
        if self.tx.send(msg).is_err() {
            self.closed = true;
        }
    }

    /// The row group's column chunks, in the schema's order.
    fn encode(&mut self, cut: Cut) -> ParquetResult<Vec<Vec<CompressedPage>>> {
        let layout = &*self.layout;
        let p = layout.pages;
        let r = &self.rows;
        let n = cut.n;
        let (thread, func, depth) = (&r.thread[..n], &r.func[..n], &r.depth[..n]);
        let (call_id, start, suspensions) = (&r.call_id[..n], &r.start[..n], &r.suspensions[..n]);
        let (has_parent, closed, raised) = (&r.has_parent[..n], &r.closed[..n], &r.raised[..n]);
        let (parent, dur, selfs) = (&r.parent[..cut.parents], &r.dur[..cut.closed], &r.selfs[..cut.closed]);
        let mut out: Vec<Vec<CompressedPage>> = Vec::with_capacity(layout.descriptors.len());
        let mut descs = layout.descriptors.iter();
        let mut next = || descs.next().expect("a descriptor per column");
        let mut buf = std::mem::take(&mut self.buf);
        let mut levels = std::mem::take(&mut self.levels);
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
        let max_name = thread.iter().copied().max().unwrap_or(0);
        buf.clear();
        encode::plain_strings(self.names[..=max_name as usize].iter().map(|n| &**n), &mut buf);
        let dict = p.dict(&buf, max_name as usize + 1)?;
        buf.clear();
        encode::dict_keys(thread, max_name, &mut buf);
        out.push(vec![dict, p.data(Encoding::RleDictionary, &[], &buf, n, 0, None)?.page(next())]);
        // function, module, file, first_line: one page of keys under four dictionaries.
        let nf = r.local.len();
        buf.clear();
        encode::dict_keys(func, nf.saturating_sub(1) as u32, &mut buf);
        let keys = p.data(Encoding::RleDictionary, &[], &buf, n, 0, None)?;
        {
            let funcs = self.funcs.read().expect("not poisoned");
            let list = &funcs.list;
            let f = |k: &u32| &list[*k as usize];
            buf.clear();
            encode::plain_strings(r.local.iter().map(|k| f(k).name.as_str()), &mut buf);
            out.push(vec![p.dict(&buf, nf)?, keys.clone().page(next())]);
            buf.clear();
            encode::plain_strings(r.local.iter().map(|k| f(k).module.as_str()), &mut buf);
            out.push(vec![p.dict(&buf, nf)?, keys.clone().page(next())]);
            buf.clear();
            encode::plain_strings(r.local.iter().map(|k| f(k).file.as_str()), &mut buf);
            out.push(vec![p.dict(&buf, nf)?, keys.clone().page(next())]);
            buf.clear();
            encode::plain_i32(r.local.iter().map(|k| f(k).first_line as i32), &mut buf);
            out.push(vec![p.dict(&buf, nf)?, keys.page(next())]);
        }
        // depth: its own key into 0..=max.
        let max_depth = depth.iter().copied().max().unwrap_or(0);
        buf.clear();
        encode::plain_i32(0..=max_depth as i32, &mut buf);
        let dict = p.dict(&buf, max_depth as usize + 1)?;
        buf.clear();
        encode::dict_keys(depth, max_depth, &mut buf);
        out.push(vec![dict, p.data(Encoding::RleDictionary, &[], &buf, n, 0, None)?.page(next())]);
        // call_id, parent_id, start_ns and start (one page), duration_ns, self_ns: delta-packed, with their
        // least and greatest values as statistics.
        // A column whose page compression did not shrink is stored as it is for the next row groups
        // (`skip`: how many are left), then tried again.
        let mut raw = self.raw;
        let int64 = |vals: &[i64],
                     defined: Option<&[bool]>,
                     d: &Descriptor,
                     (buf, levels): (&mut Vec<u8>, &mut Vec<u8>),
                     skip: &mut u8| {
            buf.clear();
            levels.clear();
            if let Some(defined) = defined {
                encode::levels(defined, levels);
            }
            let stats = encode::delta(vals, buf).map(|(lo, hi)| (&d.primitive_type, lo, hi));
            let pages = Pages { squeeze: *skip == 0, ..p };
            *skip = skip.saturating_sub(1);
            let page = pages.data(Encoding::DeltaBinaryPacked, levels, buf, n, n - vals.len(), stats)?;
            if pages.squeeze && !page.compressed() {
                *skip = RAW_GROUPS;
            }
            ParquetResult::Ok(page)
        };
        let d = next();
        out.push(vec![int64(call_id, None, d, (&mut buf, &mut levels), &mut raw[0])?.page(d)]);
        let d = next();
        out.push(vec![int64(parent, Some(has_parent), d, (&mut buf, &mut levels), &mut raw[1])?.page(d)]);
        let d = next();
        let start = int64(start, None, d, (&mut buf, &mut levels), &mut raw[2])?;
        out.push(vec![start.clone().page(d)]);
        out.push(vec![start.page(next())]);
        let d = next();
        out.push(vec![int64(dur, Some(closed), d, (&mut buf, &mut levels), &mut raw[3])?.page(d)]);
        let d = next();
        out.push(vec![int64(selfs, Some(closed), d, (&mut buf, &mut levels), &mut raw[4])?.page(d)]);
        self.raw = raw;
        buf.clear();
        encode::plain_bools(raised, &mut buf);
        out.push(vec![p.data(Encoding::Plain, &[], &buf, n, 0, None)?.page(next())]);
        buf.clear();
        encode::delta(suspensions, &mut buf);
        out.push(vec![p.data(Encoding::DeltaBinaryPacked, &[], &buf, n, 0, None)?.page(next())]);
        self.buf = buf;
        self.levels = levels;
        Ok(out)
    }

    fn current_thread(&self) -> Arc<str> {
        self.names.last().cloned().unwrap_or_else(|| Arc::from(""))
    }
}

impl Sink for CallsSink<'_> {
    fn thread_name(&mut self, name: &str) {
        if self.names.last().map(|n| &**n) != Some(name) {
            self.names.push(Arc::from(name));
        }
    }

    fn call(&mut self, c: &CallRow<'_>) {
        if self.closed {
            return;
        }
        self.rows.put(c, (self.names.len() - 1) as u32);
        if self.rows.done() >= self.batch_rows {
            self.flush(false);
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

    fn debug(&mut self, time_ns: i64, func: u32, arg: DebugArg) {
        if self.closed {
            return;
        }
        let name = self.names.len().saturating_sub(1) as u32;
        self.events.push(EventRow { thread: self.current_thread(), name, time_ns, func, arg });
        if self.events.len() >= EVENT_BATCH {
            self.send_events();
        }
    }
}
