//! Walking a log (or a chunk of it) line by line, and cutting a log into chunks that can be parsed in
//! parallel.

use super::line::{parse_line_cached, AsctimeCache};
use crate::event::{Event, EventKind};

/// A line that is not a record of the original's log. Counted and reported by the caller, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line_no}: {what}")]
pub struct LineError {
    /// 1-based line number in the file.
    pub line_no: u64,
    pub what: &'static str,
}

/// Newline-aligned ranges covering all of `data`, each about `target_chunk_bytes` (the last may be shorter;
/// every range ends just after a `\n` or at the end of data). Empty data has no ranges.
pub fn split_chunks(data: &[u8], target_chunk_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let target = target_chunk_bytes.max(1);
    let mut ranges = Vec::with_capacity(data.len() / target + 1);
    let mut start = 0;
    while start < data.len() {
        let tentative_end = start.saturating_add(target);
        if tentative_end >= data.len() {
            ranges.push(start..data.len());
            break;
        }
        // The line holding byte `tentative_end - 1` ends the chunk, so a chunk never starts mid-line.
        let end = match memchr::memchr(b'\n', &data[tentative_end - 1..]) {
            Some(i) => tentative_end + i,
            None => data.len(),
        };
        ranges.push(start..end);
        start = end;
    }
    ranges
}

/// How many lines `data` starts (what to add to a chunk's first line number to get the next chunk's).
pub fn count_lines(data: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', data).count() as u64
}

/// Parses the lines of `chunk`; `first_line_no` is the 1-based line number of its first line.
pub fn lines(chunk: &[u8], first_line_no: u64) -> LegacyLines<'_> {
    LegacyLines {
        rest: chunk,
        next_line_no: first_line_no,
        pending: None,
        current_thread: None,
        asctime: AsctimeCache::default(),
    }
}

/// The events of a chunk's lines, in order, with a [`LineError`] for each line that is not a record. Blank
/// lines are skipped.
///
/// A line's event is preceded by an [`EventKind::ThreadName`] event (same pid, tid and time) whenever its
/// (pid, tid, thread name) differs from the previous parsed line's in this iterator — so each chunk starts by
/// naming its first thread, even if the chunk before ended on the same one.
#[derive(Debug, Clone)]
pub struct LegacyLines<'a> {
    rest: &'a [u8],
    next_line_no: u64,
    /// A line's own event, held back while its thread name event goes out first.
    pending: Option<Event<'a>>,
    current_thread: Option<(u32, u64, &'a str)>,
    asctime: AsctimeCache,
}

impl<'a> LegacyLines<'a> {
    /// The number the next line would have: once the iterator is done, the first line's number plus the lines
    /// of the chunk (a last line without `\n` counts), so callers need no second pass to count them.
    pub fn next_line_no(&self) -> u64 {
        self.next_line_no
    }

    /// The next line (without its `\n`) and its number, or `None` at the end.
    #[inline]
    fn next_line(&mut self) -> Option<(&'a [u8], u64)> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.rest) {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, &self.rest[self.rest.len()..]),
        };
        self.rest = rest;
        let line_no = self.next_line_no;
        self.next_line_no += 1;
        Some((line, line_no))
    }
}

impl<'a> Iterator for LegacyLines<'a> {
    type Item = Result<Event<'a>, LineError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(event) = self.pending.take() {
            return Some(Ok(event));
        }
        loop {
            let (line, line_no) = self.next_line()?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (event, thread_name) = match parse_line_cached(line, &mut self.asctime) {
                Ok(parsed) => parsed,
                Err(what) => return Some(Err(LineError { line_no, what })),
            };
            let thread = (event.pid, event.tid, thread_name);
            if self.current_thread == Some(thread) {
                return Some(Ok(event));
            }
            self.current_thread = Some(thread);
            self.pending = Some(event);
            return Some(Ok(Event { kind: EventKind::ThreadName(thread_name), ..event }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_and_end_at_newlines() {
        let data = b"aaaa\nbb\ncccccc\nd";
        for target in 0..20 {
            let ranges = split_chunks(data, target);
            assert_eq!(ranges.first().map(|r| r.start), Some(0));
            assert_eq!(ranges.last().map(|r| r.end), Some(data.len()));
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(data[pair[0].end - 1], b'\n', "target {target}");
            }
            assert!(ranges.iter().all(|r| !r.is_empty()));
        }
        assert!(split_chunks(b"", 10).is_empty());
    }

    #[test]
    fn blank_lines_are_skipped_and_errors_numbered() {
        let data = b"\n\r\n  \ngarbage\n";
        let items: Vec<_> = lines(data, 10).collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].as_ref().unwrap_err().line_no, 13);
    }

    #[test]
    fn thread_name_precedes_a_change_of_thread() {
        let a = "2020-05-10 12:28:16,048; P; 1; T-a; 11; /a.py; 3; a; f; func_begin; 1.0\n";
        let b = "2020-05-10 12:28:16,048; P; 1; T-b; 12; /a.py; 3; a; f; func_begin; 2.0\n";
        let data = [a, a, b, a].concat();
        let kinds: Vec<_> = lines(data.as_bytes(), 1)
            .map(|e| match e.unwrap().kind {
                EventKind::ThreadName(name) => name,
                _ => "enter",
            })
            .collect();
        assert_eq!(kinds, ["T-a", "enter", "enter", "T-b", "enter", "T-a", "enter"]);
    }
}
