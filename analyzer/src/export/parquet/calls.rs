//! `calls.parquet`'s row groups, made where the replay runs: each thread's calls are collected (up to a row
//! group), put in start order, turned into columns and encoded into compressed pages on the replay's worker
//! ([`super::group`]), so the one writer only appends finished row groups to the file, as they come (each
//! thread's in order). A thread's last rows, when few, go into a row group shared with other threads
//! ([`super::shared`]).

use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, RwLock};

use polars_parquet::parquet::metadata::Descriptor;

use super::encode::Pages;
use super::group::{self, Group, Ints, Keyed, Scratch};
use super::rows::Rows;
use super::shared::{self, Pool};
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
    /// `--row-group-size`: the most rows of a shared row group.
    pub group_rows: usize,
    /// A thread's last rows go into a shared row group when fewer than this (0: never).
    pub shared_rows: usize,
    pub shared: Mutex<Pool>,
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
    scratch: Scratch,
    events: Vec<EventRow>,
}

/// Debugger values go to the writer this many at a time (one message each woke it for every value: a tenth of
/// the export's CPU went to waking threads).
const EVENT_BATCH: usize = 1024;

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
            scratch: Scratch::default(),
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
    /// delta-pack to a few bits) and sends it; `all`: the thread is over, and its last rows, if few, go into a
    /// shared row group instead.
    fn flush(&mut self, all: bool) {
        let n = self.rows.cut(all);
        if n == 0 || self.closed {
            self.rows.next_group();
            return;
        }
        if all && n < self.layout.shared_rows {
            let layout = &*self.layout;
            if !shared::share(layout, self.funcs, &self.meta, &self.names, &self.rows, n, &self.tx) {
                self.closed = true;
            }
            self.rows.next_group();
            return;
        }
        let cut = self.rows.compact(n);
        let r = &self.rows;
        let g = Group {
            n,
            host: Keyed { dict: std::slice::from_ref(&self.meta.host), keys: None },
            pid: Ints::One(i64::from(self.meta.pid)),
            tid: Ints::One(self.meta.tid as i64),
            // The thread's names so far as the dictionary.
            thread: Keyed { dict: &self.names, keys: Some(&r.thread[..n]) },
            funcs: &r.local,
            func: &r.func[..n],
            depth: &r.depth[..n],
            call_id: &r.call_id[..n],
            parent: &r.parent[..cut.parents],
            has_parent: &r.has_parent[..n],
            start: &r.start[..n],
            dur: &r.dur[..cut.closed],
            selfs: &r.selfs[..cut.closed],
            closed: &r.closed[..n],
            raised: &r.raised[..n],
            suspensions: &r.suspensions[..n],
        };
        let msg = match group::encode(&self.layout, self.funcs, &g, &mut self.scratch) {
            Ok(columns) => Msg::Calls { host: self.meta.host.clone(), pid: self.meta.pid, columns, len: n },
            Err(e) => Msg::Failed(e.to_string()),
        };
        self.rows.next_group();
        if self.tx.send(msg).is_err() {
            self.closed = true;
        }
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
