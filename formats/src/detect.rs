//! Tells a binary trace from an original pyliveupdate text log by looking at the first bytes — never by a
//! flag or a file name.

use crate::binary::header::MAGIC;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// pylu trace format (starts with the magic, or a prefix of it when the file was cut short).
    Binary,
    /// The original's text log: lines starting `YYYY-MM-DD HH:MM:SS,mmm; `.
    Legacy,
}

/// The format of `data`, or `None` when it is neither (or empty).
pub fn detect(data: &[u8]) -> Option<Format> {
    if data.is_empty() {
        return None;
    }
    if data.starts_with(MAGIC) || MAGIC.starts_with(data) {
        return Some(Format::Binary);
    }
    if crate::legacy::looks_like_legacy(data) {
        return Some(Format::Legacy);
    }
    None
}
