//! `pylu-analyze info`: what a file holds — header, processes, threads, time span, record counts, damage.
//!
//! It decodes every record (in parallel: blocks of a binary trace, newline-aligned chunks of a text log), so it
//! doubles as the decode-throughput benchmark of the formats (benches/format.sh).

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use pylu_formats::{legacy, timefmt::iso8601, BlockError, EventKind, Format, Trace};
use rayon::prelude::*;

use crate::dump::{format_of, InspectError, LISTED_DAMAGE};

/// Record counters, in the order [`KIND_NAMES`] names them.
type Counts = [u64; KIND_NAMES.len()];

const KIND_NAMES: [&str; 11] = [
    "enter",
    "exit",
    "exit-raised",
    "suspend",
    "resume",
    "line",
    "debug",
    "update",
    "funcdef",
    "thread-name",
    "thread-ident",
];

#[inline(always)]
fn kind_index(kind: &EventKind) -> usize {
    match kind {
        EventKind::Enter(_) => 0,
        EventKind::Exit { exception: false, .. } => 1,
        EventKind::Exit { exception: true, .. } => 2,
        EventKind::Suspend(_) => 3,
        EventKind::Resume(_) => 4,
        EventKind::Line { .. } => 5,
        EventKind::Debug { .. } => 6,
        EventKind::Update { .. } => 7,
        EventKind::FuncDef(_) => 8,
        EventKind::ThreadName(_) => 9,
        EventKind::ThreadIdent { .. } => 10,
    }
}

/// What one block or chunk held, per (pid, tid); merged in file order.
#[derive(Debug, Clone)]
struct ThreadTally {
    name: Option<String>,
    /// The OS's ids of a thread whose tid is a serial (`threading.get_ident()`, native id).
    ident: Option<(u64, u64)>,
    counts: Counts,
    blocks: u64,
    /// Earliest and latest timed record (`i64::MAX` / `i64::MIN` while there is none: no branch per record).
    first_ns: i64,
    last_ns: i64,
}

impl Default for ThreadTally {
    fn default() -> Self {
        ThreadTally {
            name: None,
            ident: None,
            counts: Counts::default(),
            blocks: 0,
            first_ns: i64::MAX,
            last_ns: i64::MIN,
        }
    }
}

impl ThreadTally {
    // Inlined so the decoded record never has to be built in memory: this loop is the decode benchmark.
    #[inline(always)]
    fn see(&mut self, kind: &EventKind, time_ns: i64) {
        self.counts[kind_index(kind)] += 1;
        if let EventKind::ThreadName(n) = kind {
            self.set_name(n);
        }
        if let EventKind::ThreadIdent { ident, native_id } = *kind {
            self.ident = Some((ident, native_id));
        }
        if kind.is_timed() {
            self.first_ns = self.first_ns.min(time_ns);
            self.last_ns = self.last_ns.max(time_ns);
        }
    }

    #[cold]
    fn set_name(&mut self, name: &str) {
        self.name = Some(name.to_owned());
    }

    fn merge(&mut self, later: ThreadTally) {
        if later.name.is_some() {
            self.name = later.name;
        }
        if later.ident.is_some() {
            self.ident = later.ident;
        }
        for (a, b) in self.counts.iter_mut().zip(later.counts) {
            *a += b;
        }
        self.blocks += later.blocks;
        self.first_ns = self.first_ns.min(later.first_ns);
        self.last_ns = self.last_ns.max(later.last_ns);
    }
}

/// Per (pid, tid), in order.
type Threads = BTreeMap<(u32, u64), ThreadTally>;

/// What `info` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InfoStats {
    pub records: u64,
    /// Profiled calls (enter records).
    pub calls: u64,
    pub damaged_blocks: u64,
    pub bad_lines: u64,
    /// The first [`LISTED_DAMAGE`] damage lines, in file order, for stderr.
    pub damage: Vec<String>,
}

impl InfoStats {
    pub fn damaged(&self) -> bool {
        self.damaged_blocks > 0 || self.bad_lines > 0
    }
}

/// How many damage lines are listed before the rest are only counted.
const MAX_LISTED: usize = 10;

/// Describes `data` (the contents of `path`) on `out`.
pub fn info(path: &Path, data: &[u8], out: &mut dyn Write) -> Result<InfoStats, InspectError> {
    let mut out = BufWriter::new(out);
    // Told first: a file that is not a trace is one error line, not a report begun.
    let format = format_of(path, data)?;
    writeln!(out, "file: {} ({} bytes)", path.display(), data.len())?;
    let stats = match format {
        Format::Binary => info_binary(path, data, &mut out)?,
        Format::Legacy => info_legacy(data, &mut out)?,
    };
    out.flush()?;
    Ok(stats)
}

/// One block's tally, or why it was skipped (with the records before the damage still counted).
struct BlockTally {
    tally: ThreadTally,
    tid: u64,
    /// Where the damage is, and what it is.
    error: Option<(u64, String)>,
}

fn info_binary(path: &Path, data: &[u8], out: &mut impl Write) -> Result<InfoStats, InspectError> {
    let trace = Trace::parse(data).map_err(|source| InspectError::File { path: path.to_owned(), source })?;
    let h = &trace.header;
    writeln!(out, "format: pylu trace {}.{}", h.version_major, h.version_minor)?;
    writeln!(out, "process: pid {} (parent {}) on {:?}, Python {}", h.pid, h.ppid, h.hostname, h.python_version)?;
    writeln!(out, "argv: {:?}", h.argv)?;
    writeln!(out, "clock anchor: monotonic {} ns = {}", h.clock.monotonic_ns, iso8601(h.clock.wall_ns as i64))?;

    let mut blocks = Vec::new();
    let mut scan_errors: Vec<BlockError> = Vec::new();
    for b in trace.blocks() {
        match b {
            Ok(b) => blocks.push(b),
            Err(e) => scan_errors.push(e),
        }
    }
    let tallies: Vec<BlockTally> = blocks
        .par_iter()
        .map(|block| {
            let mut tally = ThreadTally { blocks: 1, ..Default::default() };
            if let Err(e) = block.verify() {
                let error = Some((e.offset, e.to_string()));
                return BlockTally { tally: ThreadTally::default(), tid: block.thread_id, error };
            }
            let error = block
                .records()
                .try_for_each_record(|r| tally.see(&r.kind, h.clock.to_wall(r.time_ns)))
                .err()
                .map(|e| (e.offset, e.to_string()));
            BlockTally { tally, tid: block.thread_id, error }
        })
        .collect();

    let mut threads = Threads::new();
    let mut damage: Vec<(u64, String)> =
        scan_errors.iter().map(|e| (e.offset, format!("{e} (skipped {} bytes)", e.skipped))).collect();
    for t in tallies {
        if let Some(e) = t.error {
            damage.push(e);
        }
        threads.entry((h.pid, t.tid)).or_default().merge(t.tally);
    }
    // In file order: the scan's damage and the blocks' were found apart.
    damage.sort_by_key(|(offset, _)| *offset);
    let damage: Vec<String> = damage.into_iter().map(|(_, d)| d).collect();
    let stats = report(out, &threads, data.len() as u64, blocks.len() as u64)?;
    report_damage(out, "damaged blocks", &damage)?;
    let listed = damage.iter().take(LISTED_DAMAGE).cloned().collect();
    Ok(InfoStats { damaged_blocks: damage.len() as u64, damage: listed, ..stats })
}

/// Text-log chunks are this big, so that a few per core keep the work balanced.
const LEGACY_CHUNK: usize = 8 << 20;

fn info_legacy(data: &[u8], out: &mut impl Write) -> Result<InfoStats, InspectError> {
    writeln!(out, "format: pyliveupdate text log")?;
    let chunks = legacy::split_chunks(data, LEGACY_CHUNK);
    // Line numbers of each chunk's first line, for the error lines.
    let newlines: Vec<u64> = chunks.par_iter().map(|r| legacy::count_lines(&data[r.clone()])).collect();
    let first_lines: Vec<u64> =
        newlines.iter().scan(1u64, |line, n| Some(std::mem::replace(line, *line + n))).collect();
    let per_chunk: Vec<(Threads, Vec<String>, u64)> = chunks
        .par_iter()
        .zip(first_lines)
        .map(|(range, first_line)| {
            let mut threads = Threads::new();
            let mut bad = Vec::new();
            let mut bad_count = 0u64;
            for item in legacy::lines(&data[range.clone()], first_line) {
                match item {
                    Ok(ev) => threads.entry((ev.pid, ev.tid)).or_default().see(&ev.kind, ev.time_ns),
                    Err(e) => {
                        bad_count += 1;
                        if bad.len() < LISTED_DAMAGE.max(MAX_LISTED) {
                            bad.push(e.to_string());
                        }
                    }
                }
            }
            (threads, bad, bad_count)
        })
        .collect();
    let mut threads = Threads::new();
    let mut bad = Vec::new();
    let mut bad_lines = 0;
    for (t, b, n) in per_chunk {
        for (key, tally) in t {
            threads.entry(key).or_default().merge(tally);
        }
        bad.extend(b);
        bad_lines += n;
    }
    let stats = report(out, &threads, data.len() as u64, 0)?;
    writeln!(out, "unparsed lines: {bad_lines}")?;
    for line in bad.iter().take(MAX_LISTED) {
        writeln!(out, "  {line}")?;
    }
    bad.truncate(LISTED_DAMAGE);
    Ok(InfoStats { bad_lines, damage: bad, ..stats })
}

fn report(out: &mut impl Write, threads: &Threads, bytes: u64, blocks: u64) -> Result<InfoStats, InspectError> {
    let mut total = ThreadTally::default();
    for t in threads.values() {
        total.merge(t.clone());
    }
    let pids: std::collections::BTreeSet<u32> = threads.keys().map(|k| k.0).collect();
    writeln!(out, "processes: {}", pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))?;
    writeln!(out, "threads: {}", threads.len())?;
    for ((pid, tid), t) in threads {
        let records: u64 = t.counts.iter().sum();
        let blocks = if blocks > 0 { format!(", {} blocks", t.blocks) } else { String::new() };
        // Since minor version 2 the tid is a serial; the OS's ids (reused by later threads) are shown beside it.
        let ident = match t.ident {
            Some((ident, native)) => format!(" (ident {ident:#x}, native id {native})"),
            None => String::new(),
        };
        writeln!(out, "  {pid}/{tid}{ident} {:?}: {records} records{blocks}", t.name.as_deref().unwrap_or(""))?;
    }
    match (total.first_ns, total.last_ns) {
        (first, last) if first <= last => {
            writeln!(out, "time span: {} .. {} ({})", iso8601(first), iso8601(last), human_duration(last - first))?
        }
        _ => writeln!(out, "time span: none (no timed records)")?,
    }
    let records: u64 = total.counts.iter().sum();
    if blocks > 0 {
        writeln!(out, "blocks: {blocks}")?;
    }
    let listed: Vec<String> =
        KIND_NAMES.iter().zip(total.counts).filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
    writeln!(out, "records: {records} ({})", listed.join(", "))?;
    let calls = total.counts[0];
    if calls > 0 {
        writeln!(
            out,
            "profiled calls: {calls} ({:.2} bytes per call, all records included)",
            bytes as f64 / calls as f64
        )?;
    } else {
        writeln!(out, "profiled calls: 0")?;
    }
    Ok(InfoStats { records, calls, damaged_blocks: 0, bad_lines: 0, damage: Vec::new() })
}

/// `1.234 s`, `12.500 ms`, `20.000 µs` or `700 ns`.
fn human_duration(ns: i64) -> String {
    let f = ns as f64;
    match ns.unsigned_abs() {
        n if n >= 1_000_000_000 => format!("{:.3} s", f / 1e9),
        n if n >= 1_000_000 => format!("{:.3} ms", f / 1e6),
        n if n >= 1_000 => format!("{:.3} µs", f / 1e3),
        _ => format!("{ns} ns"),
    }
}

fn report_damage(out: &mut impl Write, what: &str, damage: &[String]) -> Result<(), InspectError> {
    writeln!(out, "{what}: {}", damage.len())?;
    for d in damage.iter().take(MAX_LISTED) {
        writeln!(out, "  {d}")?;
    }
    if damage.len() > MAX_LISTED {
        writeln!(out, "  … and {} more", damage.len() - MAX_LISTED)?;
    }
    Ok(())
}
