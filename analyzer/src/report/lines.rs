//! LineProfiler timings per line, like line_profiler: line, hits, total, per hit, and the line's share of its
//! function's measured time.

use std::collections::BTreeMap;
use std::io::{self, Write};

use comfy_table::{presets::ASCII_MARKDOWN, CellAlignment, Table};
use serde::Serialize;

use crate::profile::Analysis;
use crate::report::us;
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
}

/// Rows by function name, then line.
pub fn line_rows(a: &Analysis, views: &[View]) -> Vec<LineRow> {
    let mut by: BTreeMap<(&str, u32), (u64, u64)> = BTreeMap::new();
    for v in views {
        for l in v.lines.iter() {
            let e = by.entry((a.func_name(l.func), l.line)).or_default();
            e.0 += l.hits;
            e.1 += l.total_ns;
        }
    }
    let mut func_total: BTreeMap<&str, u64> = BTreeMap::new();
    for ((f, _), (_, ns)) in &by {
        *func_total.entry(f).or_default() += ns;
    }
    by.iter()
        .map(|(&(f, line), &(hits, ns))| LineRow {
            function: f.to_owned(),
            line,
            hits,
            total_us: us(ns),
            per_hit_us: us(ns.checked_div(hits).unwrap_or(0)),
            percent: match func_total[f] {
                0 => 0.0,
                t => (ns as f64 * 1000.0 / t as f64).round() / 10.0,
            },
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
    let mut t = Table::new();
    t.load_preset(ASCII_MARKDOWN);
    t.set_header(vec!["function", "line", "hits", "total ms", "per hit us", "% of function"]);
    for r in &rows {
        t.add_row(vec![
            r.function.clone(),
            r.line.to_string(),
            r.hits.to_string(),
            format!("{:.3}", r.total_us / 1000.0),
            format!("{:.3}", r.per_hit_us),
            format!("{:.1}", r.percent),
        ]);
    }
    for c in 1..6 {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(w, "{t}")?;
    w.flush()
}

pub fn write_json(a: &Analysis, views: &[View], out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut w, &line_rows(a, views))?;
    writeln!(w)?;
    w.flush()
}
