//! LineProfiler timings per line, like line_profiler: line, hits, total, per hit, the line's share of its
//! function's measured time, and the line's source text when the function's file can be read here.

use std::io::{self, Write};

use crate::report::table::write_markdown;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::hist::LatencyHist;
use crate::profile::Analysis;
use crate::report::{fixed, us};
use crate::select::View;

/// One line over every selected root.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineRow {
    pub function: String,
    pub line: u32,
    pub hits: u64,
    pub total_us: f64,
    pub per_hit_us: f64,
    /// Share of the function's line time, in percent.
    pub percent: f64,
    /// Median and 99th percentile of one execution (within 1/128 of the true value: docs/ANALYZER.md).
    pub p50_us: f64,
    pub p99_us: f64,
    /// The line's text (trimmed), when the function's file is readable on this machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Source files read once each; a file that cannot be read (another machine's path, deleted) shows no text.
#[derive(Default)]
struct Sources<'a>(FxHashMap<&'a str, Option<Vec<String>>>);

impl<'a> Sources<'a> {
    fn line(&mut self, file: &'a str, line: u32) -> Option<String> {
        let lines = self.0.entry(file).or_insert_with(|| {
            let bytes = std::fs::read(file).ok()?;
            Some(String::from_utf8_lossy(&bytes).lines().map(|l| l.trim().to_owned()).collect())
        });
        lines.as_ref()?.get((line as usize).checked_sub(1)?).cloned()
    }
}

/// One (function name, line) over every view, as it is summed.
struct LineSum<'a> {
    function: &'a str,
    line: u32,
    hits: u64,
    ns: u64,
    hist: LatencyHist,
}

/// Rows by function name, then line.
pub fn line_rows(a: &Analysis, views: &[View]) -> Vec<LineRow> {
    // Each view's lines summed into one entry per (name, line), found by hash and sorted once at the end (an
    // ordered map compared names at every one of the views' lines: most of this report's time).
    let mut sums: Vec<LineSum> = Vec::new();
    let mut index: FxHashMap<(&str, u32), usize> = FxHashMap::default();
    // A function's file: the first seen under its name.
    let mut files: FxHashMap<&str, &str> = FxHashMap::default();
    for v in views {
        for l in v.lines.iter() {
            let function = a.func_name(l.func);
            let at = *index.entry((function, l.line)).or_insert_with(|| {
                sums.push(LineSum { function, line: l.line, hits: 0, ns: 0, hist: LatencyHist::default() });
                sums.len() - 1
            });
            let e = &mut sums[at];
            e.hits += l.hits;
            e.ns += l.total_ns;
            e.hist.add(&l.hist);
            files.entry(function).or_insert(a.functions[l.func as usize].file.as_str());
        }
    }
    sums.sort_unstable_by(|x, y| (x.function, x.line).cmp(&(y.function, y.line)));
    let mut sources = Sources::default();
    let mut rows = Vec::with_capacity(sums.len());
    // Runs of one function: its lines' share of their sum.
    for run in sums.chunk_by(|x, y| x.function == y.function) {
        let func_total: u64 = run.iter().map(|e| e.ns).sum();
        for e in run {
            let [p50, p99] = e.hist.quantiles([0.5, 0.99]);
            rows.push(LineRow {
                function: e.function.to_owned(),
                line: e.line,
                hits: e.hits,
                total_us: us(e.ns),
                per_hit_us: us(e.ns.checked_div(e.hits).unwrap_or(0)),
                percent: match func_total {
                    0 => 0.0,
                    t => (e.ns as f64 * 1000.0 / t as f64).round() / 10.0,
                },
                p50_us: us(p50.unwrap_or(0)),
                p99_us: us(p99.unwrap_or(0)),
                source: files.get(e.function).and_then(|file| sources.line(file, e.line)),
            });
        }
    }
    rows
}

pub fn write_text(a: &Analysis, views: &[View], out: &mut dyn Write) -> io::Result<()> {
    let rows = line_rows(a, views);
    let mut w = io::BufWriter::new(out);
    if rows.is_empty() {
        writeln!(w, "no line timings (LineProfiler records) in the selection")?;
        return w.flush();
    }
    let header = ["function", "line", "hits", "total ms", "per hit us", "p50 us", "p99 us", "% of function", "source"];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.function.clone(),
                r.line.to_string(),
                r.hits.to_string(),
                // `{:.3}` and `{:.1}`, in integers where that is exact (`format!` of a float cost ~1,400
                // instructions: most of this report's time).
                fixed(r.total_us / 1000.0, 3),
                fixed(r.per_hit_us, 3),
                fixed(r.p50_us, 3),
                fixed(r.p99_us, 3),
                fixed(r.percent, 1),
                r.source.clone().unwrap_or_default(),
            ]
        })
        .collect();
    write_markdown(&mut w, &header, &cells, |c| (1..8).contains(&c))?;
    w.flush()
}

pub fn write_json(a: &Analysis, views: &[View], out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut w, &line_rows(a, views))?;
    writeln!(w)?;
    w.flush()
}
