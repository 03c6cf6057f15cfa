//! LineProfiler timings per line, like line_profiler: line, hits, total, per hit, the line's share of its
//! function's measured time, and the line's source text when the function's file can be read here.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use crate::report::table::write_markdown;
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
struct Sources(HashMap<String, Option<Vec<String>>>);

impl Sources {
    fn line(&mut self, file: &str, line: u32) -> Option<String> {
        let lines = self.0.entry(file.to_owned()).or_insert_with(|| {
            let bytes = std::fs::read(file).ok()?;
            Some(String::from_utf8_lossy(&bytes).lines().map(|l| l.trim().to_owned()).collect())
        });
        lines.as_ref()?.get((line as usize).checked_sub(1)?).cloned()
    }
}

/// Rows by function name, then line.
pub fn line_rows(a: &Analysis, views: &[View]) -> Vec<LineRow> {
    let mut by: BTreeMap<(&str, u32), (u64, u64, LatencyHist)> = BTreeMap::new();
    let mut files: HashMap<&str, &str> = HashMap::new();
    for v in views {
        for l in v.lines.iter() {
            let e = by.entry((a.func_name(l.func), l.line)).or_default();
            e.0 += l.hits;
            e.1 += l.total_ns;
            e.2.add(&l.hist);
            files.entry(a.func_name(l.func)).or_insert(a.functions[l.func as usize].file.as_str());
        }
    }
    let mut sources = Sources::default();
    let mut func_total: BTreeMap<&str, u64> = BTreeMap::new();
    for ((f, _), (_, ns, _)) in &by {
        *func_total.entry(f).or_default() += ns;
    }
    by.iter()
        .map(|(&(f, line), &(hits, ns, ref hist))| (f, line, hits, ns, hist.quantiles([0.5, 0.99])))
        .map(|(f, line, hits, ns, [p50, p99])| LineRow {
            function: f.to_owned(),
            line,
            hits,
            total_us: us(ns),
            per_hit_us: us(ns.checked_div(hits).unwrap_or(0)),
            percent: match func_total[f] {
                0 => 0.0,
                t => (ns as f64 * 1000.0 / t as f64).round() / 10.0,
            },
            p50_us: us(p50.unwrap_or(0)),
            p99_us: us(p99.unwrap_or(0)),
            source: files.get(f).and_then(|file| sources.line(file, line)),
        })
        .collect()
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
