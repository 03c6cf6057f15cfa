//! `pylu-analyze dump`: every record of a trace or text log as one line of text, in file order.
//!
//! Binary traces print their header and each block's header as `#` lines, then the block's records; damage is a
//! `# damaged …` line at the offset where it is, after which dumping goes on with the next good block. Records
//! a reader skips (padding, extension kinds of later versions) are counted in a `#` line after their block's
//! records, so that the lines add up to the block header's record count. Text logs
//! print one event per parsed line and a `# line N: …` line for each line that does not parse.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use pylu_formats::{detect, legacy, timefmt::iso8601, FileError, Format, Trace};

/// Why a file could not be inspected at all (damage inside a readable file is counted, not an error).
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("{path}: {source}")]
    File { path: PathBuf, source: FileError },
    /// Neither a trace nor a text log (empty, compressed, something else): `what` says which.
    #[error("{path}: {what}")]
    UnknownFormat { path: PathBuf, what: &'static str },
    /// Writing the output failed (a closed pipe among others: callers exit quietly on `BrokenPipe`).
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
}

/// What a dump saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpStats {
    pub records: u64,
    /// Damaged blocks (binary) skipped.
    pub damaged_blocks: u64,
    /// Lines that did not parse (text log).
    pub bad_lines: u64,
    /// The first [`LISTED_DAMAGE`] damage lines, in file order, for stderr (the dump holds all of them).
    pub damage: Vec<String>,
}

/// How many damage lines `dump` and `info` keep for stderr; the rest are counted.
pub const LISTED_DAMAGE: usize = 20;

fn note_damage(list: &mut Vec<String>, what: impl std::fmt::Display) {
    if list.len() < LISTED_DAMAGE {
        list.push(what.to_string());
    }
}

impl DumpStats {
    /// Whether anything in the input was skipped.
    pub fn damaged(&self) -> bool {
        self.damaged_blocks > 0 || self.bad_lines > 0
    }
}

/// The format of `data`, or the error to report for `path`.
pub(crate) fn format_of(path: &Path, data: &[u8]) -> Result<Format, InspectError> {
    detect(data).ok_or_else(|| InspectError::UnknownFormat {
        path: path.to_owned(),
        what: crate::input::unreadable_reason(data),
    })
}

/// Writes every record of `data` (the contents of `path`) to `out`.
pub fn dump(path: &Path, data: &[u8], out: &mut dyn Write) -> Result<DumpStats, InspectError> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let stats = match format_of(path, data)? {
        Format::Binary => dump_binary(path, data, &mut out)?,
        Format::Legacy => dump_legacy(data, &mut out)?,
    };
    out.flush()?;
    Ok(stats)
}

fn dump_binary(path: &Path, data: &[u8], out: &mut impl Write) -> Result<DumpStats, InspectError> {
    let trace = Trace::parse(data).map_err(|source| InspectError::File { path: path.to_owned(), source })?;
    let h = &trace.header;
    writeln!(
        out,
        "# header pylu-trace {}.{} pid={} ppid={} host={:?} python={:?} argv={:?} clock=({} ns monotonic = {})",
        h.version_major,
        h.version_minor,
        h.pid,
        h.ppid,
        h.hostname,
        h.python_version,
        h.argv,
        h.clock.monotonic_ns,
        iso8601(h.clock.wall_ns as i64)
    )?;
    let mut stats = DumpStats::default();
    for block in trace.blocks() {
        let block = match block.and_then(|b| b.verify().map(|()| b)) {
            Ok(b) => b,
            Err(e) => {
                stats.damaged_blocks += 1;
                note_damage(&mut stats.damage, format_args!("{e} (skipped {} bytes)", e.skipped));
                writeln!(out, "# damaged {e} (skipped {} bytes)", e.skipped)?;
                continue;
            }
        };
        writeln!(
            out,
            "# block offset={} tid={} seq={} records={} bytes={}",
            block.offset,
            block.thread_id,
            block.seq,
            block.record_count,
            block.len_in_file()
        )?;
        let (mut shown, mut damaged) = (0u32, false);
        for record in block.records() {
            match record {
                Ok(r) => {
                    stats.records += 1;
                    shown += 1;
                    writeln!(out, "{}", trace.event(&block, r))?;
                }
                Err(e) => {
                    stats.damaged_blocks += 1;
                    damaged = true;
                    note_damage(&mut stats.damage, format_args!("{e}; rest of the block skipped"));
                    writeln!(out, "# damaged {e}; rest of the block skipped")?;
                }
            }
        }
        if !damaged && shown < block.record_count {
            let skipped = block.record_count - shown;
            let s = if skipped == 1 { "" } else { "s" };
            writeln!(out, "# {skipped} record{s} not shown: padding or extension kinds (docs/FORMAT.md)")?;
        }
    }
    Ok(stats)
}

fn dump_legacy(data: &[u8], out: &mut impl Write) -> Result<DumpStats, InspectError> {
    let mut stats = DumpStats::default();
    for item in legacy::lines(data, 1) {
        match item {
            Ok(event) => {
                stats.records += 1;
                writeln!(out, "{event}")?;
            }
            Err(e) => {
                stats.bad_lines += 1;
                note_damage(&mut stats.damage, &e);
                writeln!(out, "# {e}")?;
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pylu_formats::{BlockEncoder, ClockAnchor, FileHeader, TraceWriter};

    /// A block's padding (or any extension record) is counted on a line of its own; a block without any gets no
    /// such line.
    #[test]
    fn padding_is_counted_not_shown() {
        let header = FileHeader::new(7, 1, "h", "3.11.7", &[], ClockAnchor { monotonic_ns: 0, wall_ns: 0 });
        let writer = TraceWriter::new(Vec::new(), &header).unwrap();
        let mut enc = BlockEncoder::new(1, 4096);
        enc.enter(0, 10);
        enc.exit(0, 20, false);
        writer.flush_encoder(&mut enc).unwrap();
        enc.enter(0, 30);
        enc.extension(16, &[0; 100]);
        enc.exit(0, 40, false);
        writer.flush_encoder(&mut enc).unwrap();
        let bytes = writer.into_inner().unwrap();
        let mut out = Vec::new();
        let stats = dump(Path::new("t.pylu"), &bytes, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let notes: Vec<&str> = text.lines().filter(|l| l.contains("not shown")).collect();
        assert_eq!(notes, vec!["# 1 record not shown: padding or extension kinds (docs/FORMAT.md)"], "{text}");
        assert_eq!(stats.records, 4);
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count() as u64, stats.records);
    }
}
