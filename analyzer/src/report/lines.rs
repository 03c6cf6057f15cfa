//! LineProfiler timings per line, like line_profiler: line, hits, total, per hit, the line's share of its
//! function's measured time, and the line's source text when the function's file can be read here.
//!
//! Rows are per definition of a function: a function redefined while profiled (a patch from another file) has
//! its new lines numbered in the new file, so each definition's lines are timed apart and their text is read
//! from the definition's own file.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::report::table::write_markdown;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::hist::LatencyHist;
use crate::profile::Analysis;
use crate::report::{push_fixed, push_u64, us};
use crate::select::View;

/// One line of one definition over every selected root.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineRow {
    pub function: String,
    /// The definition's source file, as the trace names it.
    pub file: String,
    /// The definition's first line (0 where the input does not say: text logs).
    pub first_line: u32,
    /// A line of `file`.
    pub line: u32,
    pub hits: u64,
    pub total_us: f64,
    pub per_hit_us: f64,
    /// Share of the definition's line time, in percent.
    pub percent: f64,
    /// Median and 99th percentile of one execution (within 1/128 of the true value: docs/ANALYZER.md).
    pub p50_us: f64,
    pub p99_us: f64,
    /// The line's text (trimmed), when the definition's file is readable on this machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Source files read once each; a file that cannot be read (another machine's path, deleted) shows no text.
#[derive(Default)]
struct Sources<'a>(FxHashMap<&'a str, Option<Vec<String>>>);

impl<'a> Sources<'a> {
    fn line(&mut self, file: &'a str, line: u32) -> Option<String> {
        let lines = self.0.entry(file).or_insert_with(|| {
            let bytes = read_source(Path::new(file))?;
            Some(String::from_utf8_lossy(&bytes).lines().map(|l| l.trim().to_owned()).collect())
        });
        lines.as_ref()?.get((line as usize).checked_sub(1)?).cloned()
    }
}

/// The largest source file read for its lines' text: a bigger one is not a Python module.
pub const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// The bytes of the source file `path`, if it is a regular file of at most [`MAX_SOURCE_BYTES`]. The path comes
/// from the trace, which may name anything (`/dev/zero`, `/dev/stdin`, a FIFO, as `python /dev/stdin` or
/// `python <(…)` do): it is opened without blocking, and read only once the opened file is known to be regular.
pub fn read_source(path: &Path) -> Option<Vec<u8>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading waits for a writer; a terminal could become the controlling one.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_SOURCE_BYTES {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A file growing as it is read stops at the cap too.
    file.take(MAX_SOURCE_BYTES).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// One (definition, line) over every view, as it is summed.
struct LineSum<'a> {
    function: &'a str,
    file: &'a str,
    first_line: u32,
    line: u32,
    hits: u64,
    ns: u64,
    hist: LatencyHist,
}

/// Rows by function name, then definition (file, first line), then line.
pub fn line_rows(a: &Analysis, views: &[View]) -> Vec<LineRow> {
    // Each view's lines summed into one entry per (definition, line), found by hash and sorted once at the end
    // (an ordered map compared names at every one of the views' lines: most of this report's time). A
    // definition is of one function and one name, so its id is the key.
    let mut sums: Vec<LineSum> = Vec::new();
    let mut index: FxHashMap<(u32, u32), usize> = FxHashMap::default();
    for v in views {
        for l in v.lines.iter() {
            let at = *index.entry((l.def, l.line)).or_insert_with(|| {
                let def = &a.definitions[l.def as usize];
                sums.push(LineSum {
                    function: a.func_name(l.func),
                    file: &def.file,
                    first_line: def.first_line,
                    line: l.line,
                    hits: 0,
                    ns: 0,
                    hist: LatencyHist::default(),
                });
                sums.len() - 1
            });
            let e = &mut sums[at];
            e.hits += l.hits;
            e.ns += l.total_ns;
            e.hist.add(&l.hist);
        }
    }
    fn def_of<'s>(x: &LineSum<'s>) -> (&'s str, &'s str, u32) {
        (x.function, x.file, x.first_line)
    }
    sums.sort_unstable_by(|x, y| (def_of(x), x.line).cmp(&(def_of(y), y.line)));
    let mut sources = Sources::default();
    let mut rows = Vec::with_capacity(sums.len());
    // Runs of one definition: its lines' share of their sum.
    for run in sums.chunk_by(|x, y| def_of(x) == def_of(y)) {
        let func_total: u64 = run.iter().map(|e| e.ns).sum();
        for e in run {
            let [p50, p99] = e.hist.quantiles([0.5, 0.99]);
            rows.push(LineRow {
                function: e.function.to_owned(),
                file: e.file.to_owned(),
                first_line: e.first_line,
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
                source: sources.line(e.file, e.line),
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
    let header = [
        "function",
        "defined at",
        "line",
        "hits",
        "total ms",
        "per hit us",
        "p50 us",
        "p99 us",
        "% of function",
        "source",
    ];
    // The `defined at` and number cells of every row in one buffer, cut where each ends (a `String` per cell
    // was most of this table's time on a log with thousands of lines).
    const MADE: usize = 8;
    let mut text: Vec<u8> = Vec::with_capacity(rows.len() * 64);
    let mut ends: Vec<usize> = Vec::with_capacity(rows.len() * MADE);
    for r in &rows {
        text.extend_from_slice(r.file.as_bytes());
        if r.first_line != 0 {
            text.push(b':');
            push_u64(&mut text, r.first_line.into());
        }
        ends.push(text.len());
        for n in [u64::from(r.line), r.hits] {
            push_u64(&mut text, n);
            ends.push(text.len());
        }
        // `{:.3}` and `{:.1}`, in integers where that is exact (`format!` of a float cost ~1,400 instructions).
        for (x, decimals) in [(r.total_us / 1000.0, 3), (r.per_hit_us, 3), (r.p50_us, 3), (r.p99_us, 3), (r.percent, 1)]
        {
            push_fixed(&mut text, x, decimals);
            ends.push(text.len());
        }
    }
    // File names are text and the numbers ASCII: never an error.
    let text = String::from_utf8(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let made = |k: usize| &text[if k == 0 { 0 } else { ends[k - 1] }..ends[k]];
    let cells: Vec<[&str; 10]> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let c = |j: usize| made(i * MADE + j);
            [
                r.function.as_str(),
                c(0),
                c(1),
                c(2),
                c(3),
                c(4),
                c(5),
                c(6),
                c(7),
                r.source.as_deref().unwrap_or_default(),
            ]
        })
        .collect();
    write_markdown(&mut w, &header, &cells, |c| (2..9).contains(&c))?;
    w.flush()
}

pub fn write_json(a: &Analysis, views: &[View], out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut w, &line_rows(a, views))?;
    writeln!(w)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("m.py");
        std::fs::write(&src, "def f():\n    return 1\n").unwrap();
        assert_eq!(read_source(&src).unwrap(), b"def f():\n    return 1\n");
        // A symbolic link to a module is read (virtualenvs are made of them).
        let link = dir.path().join("l.py");
        std::os::unix::fs::symlink(&src, &link).unwrap();
        assert!(read_source(&link).is_some());
        // Sparse: a terabyte on no disk space.
        let huge = dir.path().join("huge.py");
        std::fs::File::create(&huge).unwrap().set_len(1 << 40).unwrap();
        assert_eq!(read_source(&huge), None);
        assert_eq!(read_source(dir.path()), None);
        assert_eq!(read_source(Path::new("/dev/zero")), None);
        assert_eq!(read_source(Path::new("/dev/null")), None);
        // A FIFO nobody writes to: opening it to read would wait forever.
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(read_source(&fifo), None);
    }
}
