//! The differential flamegraph: the folded stacks of both sides (threads and processes merged, so stacks match
//! by name whatever the pids) through inferno's `differential` (each stack's before and after counts), drawn
//! with red where the after side spends more time, blue where less.

use std::io::{self, BufRead, Write};

use inferno::differential;
use inferno::flamegraph::{self, color::Palette};

/// Draws the diff of `before` and `after` folded lines (`stack count`, several runs each concatenated).
/// `normalize` scales the before counts to the after total (sides of different numbers of runs).
pub fn write_diff_flamegraph(
    before: &[String],
    after: &[String],
    title: &str,
    normalize: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let join =
        |lines: &[String]| lines.iter().flat_map(|l| [l.as_bytes(), b"\n"]).flatten().copied().collect::<Vec<u8>>();
    let (b, a) = (join(before), join(after));
    let mut folded = Vec::new();
    let opt = differential::Options { normalize, ..Default::default() };
    differential::from_readers(opt, &b[..], &a[..], &mut folded)?;
    let lines: Vec<String> = folded.lines().collect::<io::Result<_>>()?;
    let mut opt = flamegraph::Options::default();
    opt.title = title.to_owned();
    opt.subtitle = Some("red: more time after, blue: less (frame widths are after)".to_owned());
    opt.count_name = "us".to_owned();
    opt.deterministic = true;
    opt.colors = Palette::default();
    let mut buf = Vec::new();
    match flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), &mut buf) {
        Ok(()) => {}
        Err(_) if lines.is_empty() => {}
        Err(e) => return Err(e),
    }
    out.write_all(&buf)?;
    out.flush()
}
