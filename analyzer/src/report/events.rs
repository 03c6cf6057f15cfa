//! Debugger records (parameters, return values, variables) in time order.

use std::io::{self, Write};

use comfy_table::{presets::ASCII_MARKDOWN, Table};
use pylu_formats::timefmt::iso8601;
use serde::Serialize;

use crate::profile::Analysis;
use crate::select::Selection;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow<'a> {
    /// ISO 8601, UTC, ns precision.
    pub time: String,
    pub pid: u32,
    pub thread: &'a str,
    pub function: &'a str,
    pub line: u32,
    pub kind: &'static str,
    pub name: &'a str,
    pub value: &'a str,
    /// The recorder cut the value (it was longer than the format keeps).
    pub truncated: bool,
}

/// The selected records (process, thread and function filters; the time window was applied when reading), of
/// the variables in `names` only when it is not empty.
pub fn event_rows<'a>(a: &'a Analysis, sel: &Selection, names: &[String]) -> Vec<EventRow<'a>> {
    a.events
        .iter()
        .filter(|e| sel.wants_thread(e.pid, e.tid, &e.thread) && sel.wants_func(a.func_name(e.func)))
        .filter(|e| names.is_empty() || names.contains(&e.name))
        .map(|e| EventRow {
            time: iso8601(e.time_ns),
            pid: e.pid,
            thread: &e.thread,
            function: a.func_name(e.func),
            line: e.line,
            kind: e.kind.as_str(),
            name: &e.name,
            value: &e.value,
            truncated: e.truncated,
        })
        .collect()
}

pub fn write_text(a: &Analysis, sel: &Selection, names: &[String], out: &mut dyn Write) -> io::Result<()> {
    let rows = event_rows(a, sel, names);
    let mut w = io::BufWriter::new(out);
    if rows.is_empty() {
        writeln!(w, "no debugger records in the selection")?;
        return w.flush();
    }
    let mut t = Table::new();
    t.load_preset(ASCII_MARKDOWN);
    t.set_header(vec!["time", "pid", "thread", "function", "line", "kind", "name", "value"]);
    for r in rows {
        let value = if r.truncated { format!("{}…", r.value) } else { r.value.to_owned() };
        t.add_row(vec![
            r.time,
            r.pid.to_string(),
            r.thread.to_owned(),
            r.function.to_owned(),
            r.line.to_string(),
            r.kind.to_owned(),
            r.name.to_owned(),
            value,
        ]);
    }
    writeln!(w, "{t}")?;
    w.flush()
}

pub fn write_json(a: &Analysis, sel: &Selection, names: &[String], out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut w, &event_rows(a, sel, names))?;
    writeln!(w)?;
    w.flush()
}
