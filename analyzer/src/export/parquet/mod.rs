//! `export parquet`: a directory of Parquet files (docs/PARQUET.md has the schema): `calls.parquet`, one row
//! per call, `events` (debugger values) and `updates`, streamed from the per-call replay in row groups; and the
//! aggregates `functions`, `stacks` and `lines`, from the same analysis `summary` and `lines` report.
//!
//! Threads are replayed in parallel; each collects its calls up to a row group, encodes and compresses it
//! there ([`calls`]) and hands it over a bounded channel to the one thread that writes the files, so memory
//! holds a row group per busy worker and a few encoded ones in the channel, whatever the size of the input.
//! Threads with few calls share row groups ([`shared`]): the writer keeps each row group's metadata until the
//! footer.

mod calls;
mod encode;
mod group;
mod rows;
mod shared;
pub mod table;

use std::collections::HashMap;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex, RwLock};

use pylu_formats::{Format, Trace, UpdateAction};

use polars_parquet::parquet::page::CompressedPage;

use self::calls::{CallsLayout, CallsSink, EventRow};
use self::encode::Pages;
use self::table::{Kind, Spec, Table, WriteSettings, Written};
use super::replay::{replay, Funcs, ReplayOptions, Replayed, ThreadMeta};
use super::ExportError;
use crate::input::Input;
use crate::pipeline::{analyze, Options};
use crate::profile::Analysis;
use crate::report::summary::{top_functions, SortBy};
use crate::select::Selection;
use crate::tree::{Tree, NO_NODE};

/// The most rows a text-log thread's row group holds: a log's threads are all replayed at once, so their row
/// groups are all open (a binary trace's threads are replayed one per worker, theirs hold `--row-group-size`).
const TEXT_BATCH_ROWS: usize = 1 << 12;

fn calls_spec(partitioned: bool) -> Spec {
    use Kind::*;
    let kinds = [I64, Dict, Dict, Dict, Dict, I32, I32, I64, OptI64, I64, Ts, OptI64, OptI64, Bool, I32];
    let cols: Vec<_> = calls::COLUMNS.iter().copied().zip(kinds).collect();
    Spec { statistics: false, ..Spec::new("calls", partitioned, &cols) }
}

/// What the replay's threads send the writer.
enum Msg {
    /// A row group of `calls`, encoded.
    Calls {
        host: Arc<str>,
        pid: u32,
        columns: Vec<Vec<CompressedPage>>,
        len: usize,
    },
    /// A row group could not be encoded.
    Failed(String),
    Update {
        meta: ThreadMeta,
        thread: Arc<str>,
        time_ns: i64,
        id: u32,
        action: UpdateAction,
        description: String,
    },
    Events {
        meta: ThreadMeta,
        rows: Vec<EventRow>,
    },
}

/// What `export parquet` wrote.
#[derive(Debug)]
pub struct ParquetExport {
    pub files: Vec<Written>,
    pub replayed: Replayed,
}

/// Writes every table of `inputs` under `settings.dir`.
pub fn export(
    inputs: &[Input],
    settings: &WriteSettings,
    analysis_opts: &Options,
) -> Result<ParquetExport, ExportError> {
    std::fs::create_dir_all(&settings.dir).map_err(|error| ExportError::Io { path: settings.dir.clone(), error })?;
    let funcs = RwLock::new(Funcs::default());
    let spec = calls_spec(settings.partition);
    let layout = Arc::new(CallsLayout {
        partitioned: settings.partition,
        descriptors: spec.descriptors().map_err(|what| ExportError::Parquet { path: settings.dir.clone(), what })?,
        pages: Pages { compression: settings.compression, squeeze: true },
        spare: Mutex::new(Vec::new()),
        group_rows: settings.row_group_size.max(1),
        shared_rows: settings.shared_rows,
        shared: Mutex::default(),
    });
    let mut calls = Table::new(spec, settings);
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
                ("thread", Kind::Dict),
                ("function", Kind::Dict),
                ("line", Kind::I32),
                ("kind", Kind::Dict),
                ("name", Kind::Str),
                ("value", Kind::Text),
                ("truncated", Kind::Bool),
            ],
        ),
        settings,
    );
    let hosts = hosts_of(inputs);
    let (tx, rx) = sync_channel::<Msg>(4 * rayon::current_num_threads().max(1));
    let batch_rows = settings.row_group_size.max(1);
    // The aggregates' analysis (a pass of its own over the input) runs beside the replay, and writes its tables
    // as soon as it is done (the replay takes longer): each leaves a core idle at times (the replay's last
    // threads, the analysis' stitching, the tables' writing), which the other fills.
    let (replayed, aggregates) = std::thread::scope(|s| -> Result<(Replayed, Vec<Written>), ExportError> {
        let funcs = &funcs;
        let hosts = &hosts;
        let aggregates = s.spawn(move || {
            let a = analyze(inputs, &Options { collect_events: false, collect_lines: true, ..analysis_opts.clone() });
            write_aggregates(&a, settings, hosts)
        });
        let worker = s.spawn(move || {
            let replayed = replay(
                inputs,
                ReplayOptions::default(),
                funcs,
                |meta| {
                    let rows = if meta.text_log { batch_rows.min(TEXT_BATCH_ROWS) } else { batch_rows };
                    CallsSink::new(meta, layout.clone(), funcs, rows, tx.clone())
                },
                |_, sink| sink.finish(),
            );
            // The small threads' rows not yet in a full row group (when the writer has gone, it said why).
            shared::finish(&layout, funcs, &tx);
            replayed
        });
        let mut failed = None;
        for m in rx.iter() {
            let r = match m {
                Msg::Calls { host, pid, columns, len } => calls.append_pages(&host, pid, columns, len),
                Msg::Failed(what) => Err(ExportError::Parquet { path: settings.dir.join("calls.parquet"), what }),
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
                Msg::Events { meta, rows } => {
                    let funcs = funcs.read().expect("not poisoned");
                    // Thread, function and kind by number into their dictionaries: their text is copied once
                    // per row group, not hashed and copied per row (polars tried a dictionary of each).
                    let thread_id = |e: &EventRow| (u64::from(meta.ordinal) << 32) | u64::from(e.name);
                    rows.iter().try_for_each(|e| {
                        let function = &funcs.list[e.func as usize].name;
                        events.row(&meta.host, meta.pid, |r| {
                            r.i64(e.time_ns)
                                .i64(e.time_ns)
                                .i64(meta.tid as i64)
                                .dict(thread_id(e), || e.thread.to_string())
                                .dict(u64::from(e.func), || function.clone())
                                .i32(e.arg.line as i32)
                                .dict(e.arg.kind as u64, || e.arg.kind.as_str().to_owned())
                                .str(&e.arg.name)
                                .str(&e.arg.value)
                                .bool(e.arg.truncated);
                        })
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
        let aggregates = aggregates.join().expect("the analysis does not panic");
        match failed {
            Some(e) => Err(e),
            None => Ok((replayed, aggregates?)),
        }
    })?;
    let mut files = calls.finish()?;
    files.extend(updates.finish()?);
    files.extend(events.finish()?);
    files.extend(aggregates);
    Ok(ParquetExport { files, replayed })
}

/// Each process' host, as the binary traces' headers name it (the first trace of a process; a text log names
/// none, its processes are `unknown`).
fn hosts_of(inputs: &[Input]) -> HashMap<u32, Arc<str>> {
    let mut hosts = HashMap::new();
    for input in inputs.iter().filter(|i| i.format() == Some(Format::Binary)) {
        // Every trace of the file (traces joined with `cat` each name theirs).
        let mut next = Trace::parse(input.bytes()).ok();
        while let Some(t) = next {
            hosts.entry(t.header.pid).or_insert_with(|| Arc::from(t.header.hostname.as_str()));
            next = t.next_trace();
        }
    }
    hosts
}

/// The most rows per row group of the aggregate tables: they are written while the replay holds its row groups,
/// and `stacks` holds a folded stack per row (200 bytes on average on the generated traces: all 200,000 rows of
/// a 256 MB trace's in one row group were 100 MiB more at the export's peak).
const AGGREGATE_ROWS: usize = 1 << 14;

/// The most frames the `stacks` table's `stack` column names: a stack's text grows with its depth, so a
/// recursion 100,000 calls deep would be 10^10 bytes of stacks (written, and held per row group). Deeper stacks
/// are named by their innermost frames after `…;` (their `depth` column tells them apart).
pub const MAX_STACK_FRAMES: usize = 1000;

/// Sets `out` to node `n`'s `f1;f2;…;leaf` (see [`MAX_STACK_FRAMES`]); `frames` is scratch space.
fn stack_label<'a>(tree: &Tree, n: u32, name: impl Fn(u32) -> &'a str, frames: &mut Vec<&'a str>, out: &mut String) {
    frames.clear();
    out.clear();
    let mut at = n;
    while at != 0 && at != NO_NODE && frames.len() < MAX_STACK_FRAMES {
        let node = &tree.nodes[at as usize];
        frames.push(name(node.func));
        at = node.parent;
    }
    if at != 0 && at != NO_NODE {
        out.push_str("…;");
    }
    for (i, f) in frames.iter().rev().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(f);
    }
}

/// `functions`, `stacks` and `lines`, from the analysis the other reports use (with lines, without events).
fn write_aggregates(
    a: &Analysis,
    settings: &WriteSettings,
    hosts: &HashMap<u32, Arc<str>>,
) -> Result<Vec<Written>, ExportError> {
    let settings = &WriteSettings { row_group_size: settings.row_group_size.min(AGGREGATE_ROWS), ..settings.clone() };
    use Kind::*;
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
                // Distinct within a row group (a thread's stacks): no dictionary to try.
                ("stack", Text),
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
            &[
                ("tid", I64),
                ("thread", Str),
                ("function", Str),
                // The line's definition (a function patched from another file has lines of that file).
                ("file", Str),
                ("first_line", I32),
                ("line", I32),
                ("hits", I64),
                ("total_ns", I64),
            ],
        ),
        settings,
    );
    let views = Selection::default().views(a);
    for (t, v) in a.threads.iter().zip(&views) {
        let h = host(t.pid);
        let tid = t.tid as i64;
        let (stats, _) = top_functions(a, std::slice::from_ref(v), SortBy::Total, None);
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
        let mut depths: Vec<i32> = vec![0; tree.nodes.len()];
        let (mut frames, mut path) = (Vec::new(), String::new());
        for (n, node) in tree.nodes.iter().enumerate().skip(1) {
            let name = a.func_name(node.func);
            let parent = node.parent as usize;
            stack_label(tree, n as u32, |f| a.func_name(f), &mut frames, &mut path);
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
        }
        let mut ls: Vec<_> = v.lines.iter().map(|l| (l, &a.definitions[l.def as usize])).collect();
        ls.sort_by_key(|(l, d)| (a.func_name(l.func), d.file.as_str(), d.first_line, l.line));
        for (l, d) in ls {
            lines.row(&h, t.pid, |r| {
                r.i64(tid)
                    .str(&t.thread)
                    .str(a.func_name(l.func))
                    .str(&d.file)
                    .i32(d.first_line as i32)
                    .i32(l.line as i32)
                    .i64(l.hits as i64)
                    .i64(l.total_ns as i64);
            })?;
        }
    }
    let mut files = functions.finish()?;
    files.extend(stacks.finish()?);
    files.extend(lines.finish()?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain `depth` calls deep: each node's label names at most `MAX_STACK_FRAMES` frames, so the labels of
    /// all its nodes add up to depth × MAX_STACK_FRAMES frames at most, not depth² / 2.
    #[test]
    fn stack_labels_of_a_deep_chain_are_capped() {
        let depth = 3 * MAX_STACK_FRAMES;
        let mut tree = Tree::new();
        let mut at = 0;
        for d in 0..depth {
            at = tree.child(at, (d % 2) as u32);
        }
        let names = ["ab", "cd"];
        let (mut frames, mut out) = (Vec::new(), String::new());
        let mut bytes = 0;
        for n in 1..tree.len() as u32 {
            stack_label(&tree, n, |f| names[f as usize], &mut frames, &mut out);
            bytes += out.len();
            if n as usize <= MAX_STACK_FRAMES {
                assert_eq!(out.split(';').count(), n as usize);
                assert!(out.starts_with("ab"));
            } else {
                assert!(out.starts_with("…;"), "{n}");
                assert_eq!(out.split(';').count(), MAX_STACK_FRAMES + 1);
            }
        }
        assert!(out.ends_with(if depth.is_multiple_of(2) { "cd" } else { "ab" }));
        assert!(bytes <= depth * (3 * MAX_STACK_FRAMES + 4), "{bytes} bytes of labels");
    }
}
