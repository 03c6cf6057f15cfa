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

/// Whether `data` starts like a line of the original's log: `YYYY-MM-DD HH:MM:SS,mmm; `.
pub fn looks_like_legacy(data: &[u8]) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-dd dd:dd:dd,ddd;";
    data.len() >= SHAPE.len()
        && SHAPE.iter().zip(data).all(|(&s, &b)| if s == b'd' { b.is_ascii_digit() } else { s == b })
}
