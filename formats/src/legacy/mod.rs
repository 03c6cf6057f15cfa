//! The original pyliveupdate's text log (`/tmp/pyliveupdate.log`), read into the same [`Event`]s as a binary
//! trace. docs/LEGACY.md describes what is accepted and how each message maps to an event.
//!
//! Built for gigabyte logs: [`split_chunks`] cuts a memory-mapped log at newlines so chunks can be parsed in
//! parallel, [`lines`] parses one chunk zero-copy (one SIMD pass per line finds its end and columns, nom
//! reads the date and the message grammar where the hand-written fast paths decline), and bad lines come back
//! as [`LineError`]s with their line numbers, never as a failure of the whole file.
//!
//! [`Event`]: crate::event::Event

mod asctime;
mod line;
mod lines;
mod message;
mod number;
mod rotated;
mod scan;

pub use line::parse_line;
pub use lines::{count_lines, lines, lines_one_by_one, split_chunks, split_chunks_tapering, LegacyLines, LineError};
pub use rotated::{rotated_siblings, MAX_ROTATED_BACKUPS};

/// How far into a file [`looks_like_legacy`] looks for a first record: a cut first line, a header or a few
/// lines of other output before the log's own lines still leave it a log (they are reported as damaged lines).
pub const DETECT_WINDOW: usize = 64 * 1024;

/// The UTF-8 byte order mark some editors write at the start of a text file; ignored before a line.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Whether `data` is the original's log: one of its lines within the first [`DETECT_WINDOW`] bytes starts like
/// a record, `YYYY-MM-DD HH:MM:SS,mmm; ` (a byte order mark before it allowed). Blank lines, a line cut by
/// `tail -c` or a header before it do not matter: the reader reports them as damaged lines and reads the rest.
pub fn looks_like_legacy(data: &[u8]) -> bool {
    data[..data.len().min(DETECT_WINDOW)].split(|&b| b == b'\n').any(starts_like_record)
}

/// Whether `line` starts like a record: `YYYY-MM-DD HH:MM:SS,mmm;`, after a byte order mark if there is one.
fn starts_like_record(line: &[u8]) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-dd dd:dd:dd,ddd;";
    let line = line.strip_prefix(BOM).unwrap_or(line);
    line.len() >= SHAPE.len()
        && SHAPE.iter().zip(line).all(|(&s, &b)| if s == b'd' { b.is_ascii_digit() } else { s == b })
}

#[cfg(test)]
mod tests {
    use super::looks_like_legacy;

    const RECORD: &str = "2024-03-01 09:00:00,000; MainProcess; 1; MainThread; 2; /a.py; 3; a; f; func_begin; 1.5\n";

    #[test]
    fn a_log_is_found_after_blank_lines_a_bom_a_cut_line_or_a_header() {
        assert!(looks_like_legacy(RECORD.as_bytes()));
        for before in ["\n\n", "\u{feff}", "3-01 09:00:00,000; MainProcess; 1; Main", "Some header line\n"] {
            let text = if before.ends_with('\n') || before.starts_with('\u{feff}') {
                format!("{before}{RECORD}")
            } else {
                format!("{before}\n{RECORD}")
            };
            assert!(looks_like_legacy(text.as_bytes()), "{before:?}");
        }
    }

    #[test]
    fn other_files_are_not_logs() {
        assert!(!looks_like_legacy(b""));
        assert!(!looks_like_legacy(b"\x1f\x8b\x08\x00 gzip"));
        assert!(!looks_like_legacy(b"MainThread;views.get 12\nMainThread;views.post 3\n"));
        // Only within the window: a record that starts past it does not make the file a log.
        let mut late = vec![b'x'; super::DETECT_WINDOW];
        late.push(b'\n');
        late.extend_from_slice(RECORD.as_bytes());
        assert!(!looks_like_legacy(&late));
        // A date without the column separator is not a record.
        assert!(!looks_like_legacy(b"2024-03-01 09:00:00,000 MainProcess\n"));
    }
}
