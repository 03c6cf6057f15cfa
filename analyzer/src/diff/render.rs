//! A diff as a table: text (a terminal), markdown (a pull-request comment, `$GITHUB_STEP_SUMMARY`), CSV and
//! JSON (an interface, see docs/DIFF.md). Each cell is `before → after (change)`; significant rows first.

use std::io::{self, Write};

use comfy_table::{presets, CellAlignment, Table};
use serde_json::{json, Value};

use super::gate::Violation;
use super::{Change, Diff, Metric, Row};

/// The metrics shown in the tables, in order.
const SHOWN: [Metric; 7] =
    [Metric::Hits, Metric::Mean, Metric::P50, Metric::P95, Metric::P99, Metric::Total, Metric::SelfTime];

/// How a diff is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Markdown,
    Csv,
    Json,
}

/// A value of a metric for people: hits as a count, times with a unit.
pub fn value(m: Metric, v: f64) -> String {
    if m == Metric::Hits {
        return if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") };
    }
    if v < 1e3 {
        format!("{v:.0}ns")
    } else if v < 1e6 {
        format!("{:.1}us", v / 1e3)
    } else if v < 1e9 {
        format!("{:.2}ms", v / 1e6)
    } else {
        format!("{:.2}s", v / 1e9)
    }
}

fn percent(c: &Change) -> String {
    match c.percent {
        Some(p) => format!("{p:+.1}%"),
        None if c.after > 0.0 => "new".to_owned(),
        None => "0".to_owned(),
    }
}

fn cell(m: Metric, c: &Change) -> String {
    format!("{} → {} ({}{})", value(m, c.before), value(m, c.after), percent(c), if c.significant { "*" } else { "" })
}

/// What a row's calls did: `slower`, `faster`, or `~` (no significant change in their durations).
fn verdict(r: &Row) -> &'static str {
    match r.test {
        Some(t) if r.significant() && t.p_slower > 0.5 => "slower",
        Some(_) if r.significant() => "faster",
        _ => "~",
    }
}

fn p_value(r: &Row) -> String {
    r.test.map_or("-".to_owned(), |t| format!("{:.1e}", t.p_value))
}

/// Writes the first `top` rows (all with `None`) of `d`; `violations` (the gate's result, if it ran) head the
/// markdown and go into the JSON.
pub fn write(
    d: &Diff,
    format: Format,
    top: Option<usize>,
    violations: Option<&[Violation]>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let rows = &d.rows[..top.unwrap_or(d.rows.len()).min(d.rows.len())];
    match format {
        Format::Table | Format::Markdown => table(d, rows, format == Format::Markdown, violations, out),
        Format::Csv => csv(rows, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &to_json(d, rows, violations))?;
            writeln!(out)
        }
    }
}

fn header(d: &Diff) -> String {
    let runs = |n: usize| if n == 1 { "1 run".to_owned() } else { format!("{n} runs") };
    format!(
        "before: {} ({}); after: {} ({}); significant (*): p < {:.1e} and beyond the run-to-run spread",
        d.before_label,
        runs(d.before_runs),
        d.after_label,
        runs(d.after_runs),
        d.threshold
    )
}

fn footer(d: &Diff, shown: usize) -> String {
    format!(
        "{} functions compared ({} shown, {} changed significantly); {} only before, {} only after",
        d.rows.len(),
        shown,
        d.rows.iter().filter(|r| r.significant()).count(),
        d.only_before.len(),
        d.only_after.len()
    )
}

fn table(
    d: &Diff,
    rows: &[Row],
    markdown: bool,
    violations: Option<&[Violation]>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut t = Table::new();
    t.load_preset(if markdown { presets::ASCII_MARKDOWN } else { presets::ASCII_BORDERS_ONLY_CONDENSED });
    let mut head = vec!["function".to_owned()];
    head.extend(SHOWN.iter().map(|m| m.name().to_owned()));
    head.extend(["p".to_owned(), "calls".to_owned()]);
    t.set_header(head);
    for r in rows {
        let mut line = vec![if markdown { format!("`{}`", r.name.replace('`', "'")) } else { r.name.clone() }];
        line.extend(SHOWN.iter().map(|&m| cell(m, &r.change(m))));
        line.extend([p_value(r), verdict(r).to_owned()]);
        t.add_row(line);
    }
    for c in 1..=SHOWN.len() + 1 {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    if markdown {
        writeln!(out, "### pylu diff\n")?;
        if let Some(v) = violations {
            if v.is_empty() {
                writeln!(out, "**Gate: passed** (no significant change past a limit)\n")?;
            } else {
                writeln!(out, "**Gate: failed**\n")?;
                for x in v {
                    writeln!(out, "- {x}")?;
                }
                writeln!(out)?;
            }
        }
        writeln!(out, "{}\n", header(d))?;
        writeln!(out, "{t}\n")?;
        writeln!(out, "{}", footer(d, rows.len()))
    } else {
        writeln!(out, "{}", header(d))?;
        writeln!(out, "{t}")?;
        writeln!(out, "{}", footer(d, rows.len()))
    }
}

fn csv(rows: &[Row], out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::new(out);
    write!(w, "function")?;
    for m in Metric::ALL {
        let n = m.name();
        write!(w, ",{n}_before,{n}_after,{n}_change_percent,{n}_significant")?;
    }
    writeln!(w, ",p_value,p_slower")?;
    for r in rows {
        let name = if r.name.contains([',', '"', '\n']) {
            format!("\"{}\"", r.name.replace('"', "\"\""))
        } else {
            r.name.clone()
        };
        write!(w, "{name}")?;
        for m in Metric::ALL {
            let c = r.change(m);
            let pct = c.percent.map_or(String::new(), |p| format!("{p:.3}"));
            write!(w, ",{:.1},{:.1},{pct},{}", c.before, c.after, c.significant)?;
        }
        match r.test {
            Some(t) => writeln!(w, ",{:e},{:.6}", t.p_value, t.p_slower)?,
            None => writeln!(w, ",,")?,
        }
    }
    w.flush()
}

fn to_json(d: &Diff, rows: &[Row], violations: Option<&[Violation]>) -> Value {
    let functions: Vec<Value> = rows
        .iter()
        .map(|r| {
            let metrics: serde_json::Map<String, Value> = Metric::ALL
                .into_iter()
                .map(|m| {
                    let c = r.change(m);
                    let v = json!({
                        "before": c.before, "after": c.after,
                        "change_percent": c.percent, "significant": c.significant,
                    });
                    (m.name().to_owned(), v)
                })
                .collect();
            json!({
                "name": r.name,
                "verdict": verdict(r),
                "p_value": r.test.map(|t| t.p_value),
                "p_slower": r.test.map(|t| t.p_slower),
                "hits_p_value": r.hits_p,
                "metrics": metrics,
            })
        })
        .collect();
    let gate = violations.map(|v| {
        v.iter()
            .map(|x| {
                json!({
                    "function": x.function, "metric": x.rule.metric.name(), "limit_percent": x.rule.percent,
                    "improvement": x.improvement, "before": x.change.before, "after": x.change.after,
                    "change_percent": x.change.percent,
                })
            })
            .collect::<Vec<_>>()
    });
    json!({
        "before": {"label": d.before_label, "runs": d.before_runs},
        "after": {"label": d.after_label, "runs": d.after_runs},
        "p_threshold": d.threshold,
        "functions_compared": d.rows.len(),
        "functions": functions,
        "only_before": d.only_before,
        "only_after": d.only_after,
        "violations": gate,
    })
}
