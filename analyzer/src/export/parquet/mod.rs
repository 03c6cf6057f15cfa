//! `export parquet`: a directory of Parquet files (docs/PARQUET.md has the schema): `calls.parquet`, one row
//! per call, `events` (debugger values) and `updates`, streamed from the per-call replay in row groups; and the
//! aggregates `functions`, `stacks` and `lines`, from the same analysis `summary` and `lines` report.
//!
//! Threads are replayed in parallel; each fills batches of rows and hands them over a bounded channel to the
//! one thread that writes (and compresses) the files, so memory holds a few batches and one row group per
//! open file, whatever the size of the input.

pub mod table;

use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, RwLock};

use pylu_formats::UpdateAction;

use self::table::{host_id, Col, Kind, Row, Spec, Table, WriteSettings, Written};
use super::replay::{replay, CallRow, DebugArg, Funcs, ReplayOptions, Replayed, Sink, ThreadMeta};
use super::ExportError;
use crate::input::Input;
use crate::pipeline::{analyze, Options};
use crate::report::summary::{top_functions, SortBy};
use crate::select::Selection;

/// The most rows a thread's batch holds before it goes to the writer.
const BATCH_ROWS: usize = 1 << 16;
/// The same for text-log threads: a log's threads are all replayed at once, so their batches are all open.
const TEXT_BATCH_ROWS: usize = 1 << 12;

fn calls_spec(partitioned: bool) -> Spec {
    use Kind::*;
    Spec::new(
        "calls",
        partitioned,
        &[
            ("tid", I64),
            ("thread", Dict),
            ("function", Dict),
            ("module", Dict),
            ("file", Dict),
            ("first_line", I32),
            ("depth", I32),
            ("call_id", I64),
            ("parent_id", OptI64),
            ("start_ns", I64),
            ("start", Ts),
            ("duration_ns", OptI64),
            ("self_ns", OptI64),
            ("raised", Bool),
            ("suspensions", I32),
        ],
    )
}

enum Msg {
    Calls { host: Arc<str>, pid: u32, cols: Vec<Col>, len: usize },
    Update { meta: ThreadMeta, thread: String, time_ns: i64, id: u32, action: UpdateAction, description: String },
    Event { meta: ThreadMeta, thread: String, time_ns: i64, func: u32, arg: DebugArg },
}

/// A call waiting in its thread's batch.
struct Pending {
    func: u32,
    depth: u32,
    call_id: u64,
    parent_id: Option<u64>,
    start_ns: i64,
    dur_ns: Option<u64>,
    self_ns: Option<u64>,
    raised: bool,
    suspensions: u32,
    /// Index into [`CallsSink::names`].
    name: u32,
}

struct CallsSink<'f> {
    meta: ThreadMeta,
    spec: Arc<Spec>,
    funcs: &'f RwLock<Funcs>,
    rows: Vec<Pending>,
    batch_rows: usize,
    tx: SyncSender<Msg>,
    /// The thread's names so far (it is renamed rarely); rows point at the one they ended under.
    names: Vec<String>,
    /// Set when the writer has gone (it failed): the replay's rows are dropped.
    closed: bool,
    /// First line per function id, -1 until looked up (the table is behind a lock).
    first_lines: Vec<i32>,
}

impl CallsSink<'_> {
    /// Sends the batch, its rows in order of their start: calls arrive as they end (children before their
    /// caller), and start times in order delta-pack to a byte or two where ending order takes three or four.
    fn flush(&mut self) {
        if self.rows.is_empty() || self.closed {
            return;
        }
        let mut rows = std::mem::take(&mut self.rows);
        let order = start_order(&rows);
        let mut cols = self.spec.empty_cols();
        let partitioned = self.spec.cols[0].0 != "host";
        let funcs = self.funcs;
        let host = host_id(&self.meta.host);
        for c in order.iter().map(|&k| &rows[k as usize]) {
            let f = c.func as usize;
            if self.first_lines.len() <= f {
                self.first_lines.resize(f + 1, -1);
            }
            if self.first_lines[f] < 0 {
                self.first_lines[f] = funcs.read().expect("not poisoned").list[f].first_line as i32;
            }
            let name_of =
                |pick: fn(&super::replay::Func) -> String| move || pick(&funcs.read().expect("not poisoned").list[f]);
            let meta = &self.meta;
            let thread = &self.names[c.name as usize];
            let mut r = Row::new(&mut cols);
            if !partitioned {
                r.dict(host, || meta.host.to_string()).i64(i64::from(meta.pid));
            }
            r.i64(meta.tid as i64)
                .dict((u64::from(meta.ordinal) << 24) | u64::from(c.name), || thread.clone())
                .dict(f as u64, name_of(|f| f.name.clone()))
                .dict(f as u64, name_of(|f| f.module.clone()))
                .dict(f as u64, name_of(|f| f.file.clone()))
                .i32(self.first_lines[f])
                .i32(c.depth as i32)
                .i64(c.call_id as i64)
                .opt(c.parent_id.map(|p| p as i64))
                .i64(c.start_ns)
                .i64(c.start_ns)
                .opt(c.dur_ns.map(|d| d as i64))
                .opt(c.self_ns.map(|d| d as i64))
                .bool(c.raised)
                .i32(c.suspensions as i32);
        }
        let len = rows.len();
        rows.clear();
        self.rows = rows;
        if self.tx.send(Msg::Calls { host: self.meta.host.clone(), pid: self.meta.pid, cols, len }).is_err() {
            self.closed = true;
        }
    }

    fn current_thread(&self) -> String {
        self.names.last().cloned().unwrap_or_default()
    }
}

/// The order of a batch's rows by start time (a caller before its calls at the same instant): the files' order.
///
/// Calls arrive as they end, a call after the calls it made (post-order). Put each call ahead of the subtrees
/// that ended below it since, and the batch is in pre-order, which for one thread's properly nested calls is
/// the order of their starts: one pass where sorting took a sixth of the export. Anything else (a generator
/// resumed from elsewhere, a text log's clock going back) is caught by the check, and those batches are sorted.
fn start_order(rows: &[Pending]) -> Vec<u32> {
    const END: u32 = u32::MAX;
    let mut next = vec![END; rows.len()];
    // Subtrees not yet claimed by a caller, as linked runs (depth, first, last); depths rise towards the top.
    let mut open: Vec<(u32, u32, u32)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let i = i as u32;
        let below = open.iter().rposition(|s| s.0 <= r.depth).map_or(0, |p| p + 1);
        let mut last = i;
        for s in &open[below..] {
            next[last as usize] = s.1;
            last = s.2;
        }
        open.truncate(below);
        open.push((r.depth, i, last));
    }
    let mut order = Vec::with_capacity(rows.len());
    for s in &open {
        let mut k = s.1;
        loop {
            order.push(k);
            if k == s.2 {
                break;
            }
            k = next[k as usize];
        }
    }
    // Calls that start at the same instant then come a caller before its calls, as sorted by (start, depth)
    // (though a caller's later sibling may follow its calls, where the sort puts it before them).
    let start = |k: u32| rows[k as usize].start_ns;
    if order.len() == rows.len() && order.windows(2).all(|w| start(w[0]) <= start(w[1])) {
        return order;
    }
    // Sorted as 128-bit keys (start with its sign flipped so that it orders as unsigned, depth, position): the
    // rows themselves are 64 bytes, and comparing tuples of them cost a seventh of the export.
    let mut keys: Vec<u128> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (u128::from((r.start_ns as u64) ^ (1 << 63)) << 64) | (u128::from(r.depth) << 32) | i as u128)
        .collect();
    keys.sort_unstable();
    keys.into_iter().map(|k| k as u32).collect()
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
        self.rows.push(Pending {
            func: c.func,
            depth: c.depth,
            call_id: c.call_id,
            parent_id: c.parent_id,
            start_ns: c.start_ns,
            dur_ns: c.dur_ns,
            self_ns: c.self_ns,
            raised: c.raised,
            suspensions: c.suspensions,
            name: (self.names.len() - 1) as u32,
        });
        if self.rows.len() >= self.batch_rows {
            self.flush();
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
        let m = Msg::Event { meta: self.meta.clone(), thread: self.current_thread(), time_ns, func, arg: arg.clone() };
        if self.tx.send(m).is_err() {
            self.closed = true;
        }
    }
}

/// What `export parquet` wrote.
#[derive(Debug)]
pub struct ParquetExport {
    pub files: Vec<Written>,
    pub replayed: Replayed,
    /// Damage the analysis (the aggregates) reported, one line each.
    pub analysis_damage: Vec<String>,
}

/// Writes every table of `inputs` under `settings.dir`.
pub fn export(
    inputs: &[Input],
    settings: &WriteSettings,
    analysis_opts: &Options,
) -> Result<ParquetExport, ExportError> {
    std::fs::create_dir_all(&settings.dir).map_err(|error| ExportError::Io { path: settings.dir.clone(), error })?;
    let funcs = RwLock::new(Funcs::default());
    let spec = Arc::new(calls_spec(settings.partition));
    let mut calls = Table::new((*spec).clone(), settings);
    let mut updates = Table::new(
        Spec::new(
            "updates",
            settings.partition,
            &[
                ("time_ns", Kind::I64),
                ("time", Kind::Ts),
                ("tid", Kind::I64),
                ("thread", Kind::Str),
                ("update_id", Kind::I64),
                ("action", Kind::Str),
                ("description", Kind::Str),
            ],
        ),
        settings,
    );
    // Debugger values come from the replay too (the analysis would hold them all: most of a gigabyte).
    let mut events = Table::new(
        Spec::new(
            "events",
            settings.partition,
            &[
                ("time_ns", Kind::I64),
                ("time", Kind::Ts),
                ("tid", Kind::I64),
                ("thread", Kind::Str),
                ("function", Kind::Str),
                ("line", Kind::I32),
                ("kind", Kind::Str),
                ("name", Kind::Str),
                ("value", Kind::Str),
                ("truncated", Kind::Bool),
            ],
        ),
        settings,
    );
    let hosts: Mutex<HashMap<u32, Arc<str>>> = Mutex::new(HashMap::new());
    let (tx, rx) = sync_channel::<Msg>(4 * rayon::current_num_threads().max(1));
    let batch_rows = BATCH_ROWS.min(settings.row_group_size.max(1));
    let replayed = std::thread::scope(|s| -> Result<Replayed, ExportError> {
        let funcs = &funcs;
        let hosts = &hosts;
        let spec = spec.clone();
        let worker = s.spawn(move || {
            replay(
                inputs,
                ReplayOptions::default(),
                funcs,
                |meta| {
                    hosts.lock().expect("not poisoned").entry(meta.pid).or_insert_with(|| meta.host.clone());
                    CallsSink {
                        meta: meta.clone(),
                        spec: spec.clone(),
                        funcs,
                        rows: Vec::new(),
                        batch_rows: if meta.text_log { batch_rows.min(TEXT_BATCH_ROWS) } else { batch_rows },
                        tx: tx.clone(),
                        // Until the trace names it, a thread goes by its id (as in the other reports).
                        names: vec![meta.tid.to_string()],
                        closed: false,
                        first_lines: Vec::new(),
                    }
                },
                |_, mut sink| sink.flush(),
            )
        });
        let mut failed = None;
        for m in rx.iter() {
            let r = match m {
                Msg::Calls { host, pid, cols, len } => calls.append(&host, pid, cols, len),
                Msg::Update { meta, thread, time_ns, id, action, description } => {
                    updates.row(&meta.host, meta.pid, |r| {
                        r.i64(time_ns)
                            .i64(time_ns)
                            .i64(meta.tid as i64)
                            .str(&thread)
                            .i64(i64::from(id))
                            .str(action.as_str())
                            .str(&description);
                    })
                }
                Msg::Event { meta, thread, time_ns, func, arg } => {
                    let function = funcs.read().expect("not poisoned").list[func as usize].name.clone();
                    events.row(&meta.host, meta.pid, |r| {
                        r.i64(time_ns)
                            .i64(time_ns)
                            .i64(meta.tid as i64)
                            .str(&thread)
                            .str(&function)
                            .i32(arg.line as i32)
                            .str(arg.kind.as_str())
                            .str(&arg.name)
                            .str(&arg.value)
                            .bool(arg.truncated);
                    })
                }
            };
            if let Err(e) = r {
                // Dropping the receiver makes the sinks stop sending; the replay then runs out quickly.
                failed = Some(e);
                break;
            }
        }
        drop(rx);
        let replayed = worker.join().expect("the replay does not panic");
        match failed {
            Some(e) => Err(e),
            None => Ok(replayed),
        }
    })?;
    let mut files = calls.finish()?;
    files.extend(updates.finish()?);
    files.extend(events.finish()?);
    let hosts = hosts.into_inner().expect("not poisoned");
    let (agg_files, analysis_damage) = write_aggregates(inputs, settings, analysis_opts, &hosts)?;
    files.extend(agg_files);
    Ok(ParquetExport { files, replayed, analysis_damage })
}

/// `functions`, `stacks` and `lines`, from the analysis the other reports use.
fn write_aggregates(
    inputs: &[Input],
    settings: &WriteSettings,
    opts: &Options,
    hosts: &HashMap<u32, Arc<str>>,
) -> Result<(Vec<Written>, Vec<String>), ExportError> {
    use Kind::*;
    let opts = Options { collect_events: false, collect_lines: true, ..opts.clone() };
    let a = analyze(inputs, &opts);
    let unknown: Arc<str> = Arc::from("unknown");
    let host = |pid: u32| hosts.get(&pid).unwrap_or(&unknown).clone();
    let p = settings.partition;
    let mut functions = Table::new(
        Spec::new(
            "functions",
            p,
            &[
                ("tid", I64),
                ("thread", Str),
                ("function", Str),
                ("file", Str),
                ("first_line", I32),
                ("hits", I64),
                ("total_ns", I64),
                ("self_ns", I64),
                ("mean_ns", I64),
                ("min_ns", I64),
                ("p50_ns", I64),
                ("p90_ns", I64),
                ("p95_ns", I64),
                ("p99_ns", I64),
                ("max_ns", I64),
            ],
        ),
        settings,
    );
    let mut stacks = Table::new(
        Spec::new(
            "stacks",
            p,
            &[
                ("tid", I64),
                ("thread", Str),
                ("stack", Str),
                ("function", Str),
                ("depth", I32),
                ("hits", I64),
                ("total_ns", I64),
                ("self_ns", I64),
            ],
        ),
        settings,
    );
    let mut lines = Table::new(
        Spec::new(
            "lines",
            p,
            &[("tid", I64), ("thread", Str), ("function", Str), ("line", I32), ("hits", I64), ("total_ns", I64)],
        ),
        settings,
    );
    let views = Selection::default().views(&a);
    for (t, v) in a.threads.iter().zip(&views) {
        let h = host(t.pid);
        let tid = t.tid as i64;
        let (stats, _) = top_functions(&a, std::slice::from_ref(v), SortBy::Total, None);
        for f in &stats {
            let func = &a.functions[f.func as usize];
            functions.row(&h, t.pid, |r| {
                r.i64(tid)
                    .str(&t.thread)
                    .str(&f.name)
                    .str(&func.file)
                    .i32(func.first_line as i32)
                    .i64(f.stats.hits as i64)
                    .i64(f.total_ns as i64)
                    .i64(f.self_ns as i64)
                    .i64(f.mean_ns() as i64)
                    .i64(f.stats.min_ns as i64)
                    .i64(f.quantile_ns(0.50) as i64)
                    .i64(f.quantile_ns(0.90) as i64)
                    .i64(f.quantile_ns(0.95) as i64)
                    .i64(f.quantile_ns(0.99) as i64)
                    .i64(f.stats.max_ns as i64);
            })?;
        }
        let tree = &v.tree;
        let selfs = tree.self_times();
        let mut paths: Vec<String> = vec![String::new(); tree.nodes.len()];
        let mut depths: Vec<i32> = vec![0; tree.nodes.len()];
        for (n, node) in tree.nodes.iter().enumerate().skip(1) {
            let name = a.func_name(node.func);
            let parent = node.parent as usize;
            let path = if parent == 0 { name.to_owned() } else { format!("{};{}", paths[parent], name) };
            depths[n] = if parent == 0 { 0 } else { depths[parent] + 1 };
            let s = &node.stats;
            stacks.row(&h, t.pid, |r| {
                r.i64(tid)
                    .str(&t.thread)
                    .str(&path)
                    .str(name)
                    .i32(depths[n])
                    .i64(s.hits as i64)
                    .i64(s.total_ns as i64)
                    .i64(selfs[n] as i64);
            })?;
            paths[n] = path;
        }
        let mut ls: Vec<_> = v.lines.iter().collect();
        ls.sort_by_key(|l| (a.func_name(l.func), l.line));
        for l in ls {
            lines.row(&h, t.pid, |r| {
                r.i64(tid)
                    .str(&t.thread)
                    .str(a.func_name(l.func))
                    .i32(l.line as i32)
                    .i64(l.hits as i64)
                    .i64(l.total_ns as i64);
            })?;
        }
    }
    let mut files = functions.finish()?;
    files.extend(stacks.finish()?);
    files.extend(lines.finish()?);
    let damage = a.damage.iter().map(|d| d.to_string()).collect();
    Ok((files, damage))
}

#[cfg(test)]
mod tests {
    use super::{start_order, Pending};

    fn row(start_ns: i64, depth: u32) -> Pending {
        Pending {
            func: 0,
            depth,
            call_id: 0,
            parent_id: None,
            start_ns,
            dur_ns: None,
            self_ns: None,
            raised: false,
            suspensions: 0,
            name: 0,
        }
    }

    /// The rows of a random thread as the replay hands them over (at their exits), times often equal.
    fn post_order(seed: u64, n: usize) -> Vec<Pending> {
        let mut x = seed | 1;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut t, mut open, mut rows) = (0i64, Vec::new(), Vec::new());
        while rows.len() < n {
            t += (rand() % 3) as i64;
            if open.is_empty() || (rand() % 2 == 0 && open.len() < 12) {
                open.push(t);
            } else {
                let start = open.pop().unwrap();
                rows.push(row(start, open.len() as u32));
            }
        }
        rows
    }

    fn check(rows: &[Pending]) {
        let order = start_order(rows);
        let mut seen = order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..rows.len() as u32).collect::<Vec<_>>(), "a permutation");
        let keys: Vec<_> = order.iter().map(|&k| rows[k as usize].start_ns).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn rows_in_exit_order_come_out_in_start_order() {
        for seed in 1..200 {
            // Batches cut anywhere: their first rows' callers ended in an earlier batch, the last ones' later.
            let rows = post_order(seed, 1 + (seed as usize * 37) % 500);
            check(&rows);
            check(&rows[rows.len() / 3..]);
        }
    }

    #[test]
    fn rows_not_nested_by_time_are_sorted() {
        // A generator's row (depth 1) starting before its resumer's caller, and a clock going back.
        check(&[row(10, 2), row(5, 1), row(8, 0), row(20, 0), row(3, 0)]);
    }
}
