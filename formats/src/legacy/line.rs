//! One line of the log: `asctime; processName; process; threadName; thread; pathname; lineno; module;
//! funcName; message`, as the original's log server formatted it.

use super::asctime::parse_asctime;
use super::message::{parse_message, parse_message_fast, EpochSeconds, Message};
use super::number::{parse_u32, parse_u64};
use crate::event::{Event, EventKind, FuncRef};

/// Columns before the message; the message itself may hold more `;` (a repr), so splitting stops here.
pub(crate) const SEPARATORS_BEFORE_MESSAGE: usize = 9;

/// Parses one line (without its `\n`; a trailing `\r` and a leading byte order mark are tolerated) into its event and the thread name
/// column. The error says what was wrong, for [`super::LineError`].
pub fn parse_line(line: &[u8]) -> Result<(Event<'_>, &str), &'static str> {
    parse_line_cached(line, &mut LineCache::default())
}

/// What the previous line's columns read as, for the next line to reuse when its bytes are the same: the
/// `asctime` (consecutive lines mostly share it, at millisecond resolution) and the thread's columns (a thread's
/// lines come in runs). Comparing the bytes is cheaper than parsing them again; a line whose columns differ is
/// parsed as if there were no cache, and only columns that parsed are remembered, so errors are the same.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LineCache {
    last: Option<([u8; ASCTIME_LEN], i64)>,
    thread: RecentThreads,
    /// The seconds of the last `func_begin`/`func_end` epoch.
    seconds: EpochSeconds,
}

/// The `process; threadName; thread` columns of the last line whose three parsed, as their raw bytes (the text
/// between the line's second and fifth `;`).
#[derive(Debug, Clone, Copy)]
struct ThreadColumns {
    /// The bytes, zero-padded; `len == 0` when there is nothing remembered.
    bytes: [u8; THREAD_COLUMNS_MAX],
    len: usize,
    pid: u32,
    tid: u64,
    /// The thread name's place in the bytes.
    name: (usize, usize),
}

impl Default for ThreadColumns {
    fn default() -> Self {
        ThreadColumns { bytes: [0; THREAD_COLUMNS_MAX], len: 0, pid: 0, tid: 0, name: (0, 0) }
    }
}

/// The thread columns of the last [`RECENT_THREADS`] threads seen: a log interleaves its threads' lines (a
/// fifth of a 16-thread log's lines are on another thread than the line before), and parsing a thread id again
/// at each switch cost more than looking through the threads seen last.
#[derive(Debug, Clone, Copy, Default)]
struct RecentThreads {
    slots: [ThreadColumns; RECENT_THREADS],
    /// The slot of the last thread found or remembered.
    recent: usize,
}

/// Enough for the threads of a worker pool to be found again (16 covers a 16-thread log's switches).
const RECENT_THREADS: usize = 16;

impl RecentThreads {
    /// [`ThreadColumns::get`] over the slots, the most recent first.
    #[inline(always)]
    fn get<'a>(&mut self, columns: &'a [u8]) -> Option<(u32, u64, &'a str)> {
        if let Some(found) = self.slots[self.recent].get(columns) {
            return Some(found);
        }
        let (slot, found) = self.slots.iter().enumerate().find_map(|(k, s)| Some((k, s.get(columns)?)))?;
        self.recent = slot;
        Some(found)
    }

    /// Remembers `columns` in the slot after the most recent one (the oldest, as slots fill in turn).
    #[inline(always)]
    fn remember(&mut self, columns: &[u8], pid: u32, tid: u64, name: &[u8]) {
        self.recent = (self.recent + 1) % RECENT_THREADS;
        self.slots[self.recent].remember(columns, pid, tid, name);
    }
}

/// Longer thread columns are parsed every time (a pid, a 64-bit tid and a thread name of up to ~25 bytes fit).
const THREAD_COLUMNS_MAX: usize = 64;

/// `YYYY-MM-DD HH:MM:SS,mmm`: any other length is not an `asctime`.
const ASCTIME_LEN: usize = 23;

impl LineCache {
    #[inline]
    fn get(&mut self, asctime: &str) -> Option<i64> {
        // A fixed-size comparison (inlined) rather than a call to memcmp.
        let text: &[u8; ASCTIME_LEN] = asctime.as_bytes().try_into().ok()?;
        match self.last {
            Some((last, ns)) if last == *text => Some(ns),
            _ => {
                let ns = parse_asctime(text)?;
                self.last = Some((*text, ns));
                Some(ns)
            }
        }
    }
}

/// `bytes` as a str: ASCII (nearly every line) is checked faster than UTF-8 in general.
#[inline(always)]
fn line_str(bytes: &[u8]) -> Result<&str, &'static str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).map_err(|_| "not UTF-8")
    }
}

/// The position of the first `;` in `hay` at or after `from`, eight bytes at a time (the columns are short,
/// so this beats memchr's per-call setup; same result, property-tested).
#[inline(always)]
pub(crate) fn find_semicolon(hay: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(word) = hay.get(i..i + 8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ (ONES * u64::from(b';'));
        // The lowest set bit marks the first zero byte of x exactly (only bytes above a zero byte can be
        // false positives, through the borrow).
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay.get(i..)?.iter().position(|&b| b == b';').map(|j| i + j)
}

/// [`parse_line`] with the `asctime` of the previous line remembered.
#[inline]
pub(crate) fn parse_line_cached<'a>(
    line: &'a [u8],
    cache: &mut LineCache,
) -> Result<(Event<'a>, &'a str), &'static str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(super::BOM).unwrap_or(line);
    let line = line_str(line)?;
    let mut seps = [0; SEPARATORS_BEFORE_MESSAGE];
    let mut field_start = 0;
    for sep in seps.iter_mut() {
        *sep = find_semicolon(line.as_bytes(), field_start).ok_or("fewer than 10 `;`-separated columns")?;
        field_start = *sep + 1;
    }
    parse_columns(line, &seps, cache)
}

/// [`parse_line_cached`] for an ASCII line whose first nine `;` were already found (`seps`, in order), as
/// [`super::lines`] finds them in its one pass over the line; the same answer as [`parse_line_cached`] gives
/// for that line (property-tested), with what its first nine columns read as.
#[inline(always)]
pub(crate) fn parse_ascii_line<'a>(
    line: &'a [u8],
    seps: &[usize; SEPARATORS_BEFORE_MESSAGE],
    cache: &mut LineCache,
) -> Result<(Event<'a>, LineHead<'a>, LineBody<'a>), &'static str> {
    let line = ascii_str(line);
    let head = parse_head(line, seps, cache)?;
    let (event, body) = parse_body(line, seps, cache, &head)?;
    Ok((event, head, body))
}

/// [`parse_ascii_line`] for a line whose text up to its fifth `;` is the same bytes as that of a line that
/// read as `head`: those columns are not read again.
#[inline(always)]
pub(crate) fn parse_ascii_line_after_head<'a>(
    line: &'a [u8],
    seps: &[usize; SEPARATORS_BEFORE_MESSAGE],
    cache: &mut LineCache,
    head: &LineHead<'a>,
) -> Result<(Event<'a>, LineBody<'a>), &'static str> {
    parse_body(ascii_str(line), seps, cache, head)
}

/// [`parse_ascii_line`] for a line whose text up to its ninth `;` (at `message_at - 1`) is the same bytes as
/// that of a line that read as `head` and `body`: only the message is read.
#[inline(always)]
pub(crate) fn parse_ascii_line_after_body<'a>(
    line: &'a [u8],
    message_at: usize,
    cache: &mut LineCache,
    head: &LineHead<'a>,
    body: &LineBody<'a>,
) -> Result<Event<'a>, &'static str> {
    let line = ascii_str(line);
    let message = trim_spaces(line.as_bytes().get(message_at..).unwrap_or_default());
    // SAFETY: `line` is UTF-8 and `;` and the ASCII spaces trimmed are single-byte characters, so cutting at
    // them leaves whole characters.
    parse_message_event(unsafe { std::str::from_utf8_unchecked(message) }, cache, head, body)
}

/// An ASCII line as a str, without its trailing `\r`.
#[inline(always)]
fn ascii_str(line: &[u8]) -> &str {
    debug_assert!(line.is_ascii());
    // A `\r` is after every `;`: stripping it moves none of them.
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // SAFETY: the caller found every byte of `line` ASCII, and ASCII is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(line) }
}

/// What a line's first five columns read as: its `asctime`, and its thread's pid, tid and name (the process
/// name is never read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineHead<'a> {
    pub asctime_ns: i64,
    pub pid: u32,
    pub tid: u64,
    pub thread_name: &'a str,
}

/// What a line's sixth to ninth columns read as: `pathname; lineno; module; funcName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineBody<'a> {
    pub func: FuncRef<'a>,
    pub line_no: u32,
}

/// Column `k` of `line` (the message is column 9), cut at `;` and trimmed of ASCII spaces. Columns are only
/// read when needed: the thread's when they differ from a recent line's, the process name never (trimming
/// every column was a sixth of the parse's instructions).
#[inline(always)]
fn column<'a>(line: &'a str, seps: &[usize; SEPARATORS_BEFORE_MESSAGE], k: usize) -> &'a str {
    let bytes = line.as_bytes();
    let start = if k == 0 { 0 } else { seps[k - 1] + 1 };
    let end = if k < SEPARATORS_BEFORE_MESSAGE { seps[k] } else { bytes.len() };
    let cut = trim_spaces(bytes.get(start..end).unwrap_or_default());
    // SAFETY: `line` is UTF-8 and `;` and the ASCII spaces trimmed are single-byte characters, so cutting at
    // them leaves whole characters.
    unsafe { std::str::from_utf8_unchecked(cut) }
}

/// The event of `line` (no `\n` or trailing `\r`), given the positions of its first nine `;`.
#[inline(always)]
fn parse_columns<'a>(
    line: &'a str,
    seps: &[usize; SEPARATORS_BEFORE_MESSAGE],
    cache: &mut LineCache,
) -> Result<(Event<'a>, &'a str), &'static str> {
    let head = parse_head(line, seps, cache)?;
    Ok((parse_body(line, seps, cache, &head)?.0, head.thread_name))
}

/// The first five columns of `line`: `asctime; processName; process; threadName; thread`.
#[inline(always)]
fn parse_head<'a>(
    line: &'a str,
    seps: &[usize; SEPARATORS_BEFORE_MESSAGE],
    cache: &mut LineCache,
) -> Result<LineHead<'a>, &'static str> {
    let asctime_ns = cache.get(column(line, seps, 0)).ok_or("bad asctime (expected `YYYY-MM-DD HH:MM:SS,mmm`)")?;
    let columns = column_bytes(line.as_bytes(), seps[1] + 1, seps[4]);
    let (pid, tid, thread_name) = match cache.thread.get(columns) {
        Some(same) => same,
        None => {
            let pid = parse_u32(column(line, seps, 2).as_bytes()).ok_or("bad process id")?;
            let tid = parse_u64(column(line, seps, 4).as_bytes()).ok_or("bad thread id")?;
            let thread_name = column(line, seps, 3);
            cache.thread.remember(columns, pid, tid, thread_name.as_bytes());
            (pid, tid, thread_name)
        }
    };
    Ok(LineHead { asctime_ns, pid, tid, thread_name })
}

/// The event of `line` after its first five columns, which read as `head`, and what its next four read as.
#[inline(always)]
fn parse_body<'a>(
    line: &'a str,
    seps: &[usize; SEPARATORS_BEFORE_MESSAGE],
    cache: &mut LineCache,
    head: &LineHead<'_>,
) -> Result<(Event<'a>, LineBody<'a>), &'static str> {
    let column = |k| column(line, seps, k);
    let (pathname, lineno, module, func_name) = (column(5), column(6), column(7), column(8));
    let line_no = parse_u32(lineno.as_bytes()).ok_or("bad line number")?;
    let body = LineBody { func: FuncRef::Named { module, name: func_name, file: pathname }, line_no };
    Ok((parse_message_event(column(9), cache, head, &body)?, body))
}

/// The event of a line whose message is `message` and whose other columns read as `head` and `body`.
#[inline(always)]
fn parse_message_event<'a>(
    message: &'a str,
    cache: &mut LineCache,
    head: &LineHead<'_>,
    body: &LineBody<'a>,
) -> Result<Event<'a>, &'static str> {
    let (func, line_no) = (body.func, body.line_no);
    let message_parsed = match parse_message_fast(message.as_bytes(), &mut cache.seconds) {
        Some(parsed) => parsed,
        None => parse_message(message.as_bytes())?,
    };
    let (time_ns, kind) = match message_parsed {
        Message::FuncBegin { time_ns } => (time_ns, EventKind::Enter(func)),
        Message::FuncEnd { duration_ns, time_ns } => {
            (time_ns, EventKind::Exit { func, exception: false, duration_ns: Some(duration_ns) })
        }
        Message::LineTime { duration_ns } => (head.asctime_ns, EventKind::Line { func, line: line_no, duration_ns }),
        Message::Debug { kind, value } => {
            // The value is a suffix of the message, which is a str.
            let value = message.get(message.len() - value.len()..).unwrap_or_default();
            (head.asctime_ns, EventKind::Debug { func, line: line_no, kind, name: "", value, truncated: false })
        }
    };
    Ok(Event { pid: head.pid, tid: head.tid, time_ns, kind })
}

/// `cut.trim_ascii()`, with a test of each end first: a column mostly has no space at its end and one at its
/// start.
#[inline(always)]
fn trim_spaces(cut: &[u8]) -> &[u8] {
    match (cut.first(), cut.last()) {
        (Some(&first), Some(&last)) if first > b' ' && last > b' ' => cut,
        (Some(b' '), Some(&last)) if last > b' ' && cut.get(1).is_some_and(|&b| b > b' ') => &cut[1..],
        _ => cut.trim_ascii(),
    }
}

/// `bytes[start..end]`, empty when that is not a range of it.
#[inline(always)]
fn column_bytes(bytes: &[u8], start: usize, end: usize) -> &[u8] {
    bytes.get(start..end).unwrap_or_default()
}

impl ThreadColumns {
    /// The pid, tid and thread name of `columns` when they are the remembered bytes.
    #[inline(always)]
    fn get<'a>(&self, columns: &'a [u8]) -> Option<(u32, u64, &'a str)> {
        if columns.len() != self.len || columns.len() > THREAD_COLUMNS_MAX || columns != &self.bytes[..columns.len()] {
            return None;
        }
        let name = columns.get(self.name.0..self.name.1)?;
        // SAFETY: the same bytes as those `remember` was given, where the name was a str (whole characters).
        Some((self.pid, self.tid, unsafe { std::str::from_utf8_unchecked(name) }))
    }

    /// Remembers `columns`, which read as `pid`, `tid` and `name` (a subslice of `columns`, and a str).
    #[inline(always)]
    fn remember(&mut self, columns: &[u8], pid: u32, tid: u64, name: &[u8]) {
        let Some(slot) = self.bytes.get_mut(..columns.len()) else {
            self.len = 0;
            return;
        };
        slot.copy_from_slice(columns);
        let start = name.as_ptr() as usize - columns.as_ptr() as usize;
        *self = ThreadColumns { len: columns.len(), pid, tid, name: (start, start + name.len()), ..*self };
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::event::DebugKind;
    use proptest::prelude::*;

    const VIEWS: FuncRef<'static> = FuncRef::Named { module: "views", name: "views_get2", file: "/srv/app/views.py" };

    #[test]
    fn func_begin_uses_the_message_epoch() {
        let line = b"2020-05-10 12:28:16,048; MainProcess; 4510; Thread-4; 140000000451001; /srv/app/views.py; 374; views; views_get2; func_begin; 1589113696.048286";
        let (event, thread) = parse_line(line).unwrap();
        assert_eq!(thread, "Thread-4");
        assert_eq!(
            event,
            Event {
                pid: 4510,
                tid: 140_000_000_451_001,
                time_ns: 1_589_113_696_048_286_000,
                kind: EventKind::Enter(VIEWS)
            }
        );
    }

    #[test]
    fn debug_value_keeps_semicolons_and_crlf_is_tolerated() {
        let line = b"2020-05-10 12:28:16,048; MainProcess; 4510; Thread-4; 7; /srv/app/views.py; 380; views; views_get2; usevalues: {'q': 'a; b; c'}\r";
        let (event, _) = parse_line(line).unwrap();
        assert_eq!(event.time_ns, 1_589_113_696_048_000_000);
        assert_eq!(
            event.kind,
            EventKind::Debug {
                func: VIEWS,
                line: 380,
                kind: DebugKind::Used,
                name: "",
                value: "{'q': 'a; b; c'}",
                truncated: false
            }
        );
    }

    /// The line parser as it was before its fast paths (memchr for the columns, UTF-8 validation of the whole
    /// line, nom for every message, a checked digit loop for integers, no asctime cache): the reference.
    pub(in crate::legacy) fn parse_line_reference(line: &[u8]) -> Result<(Event<'_>, &str), &'static str> {
        fn integer(text: &str) -> Option<u64> {
            if text.is_empty() || text.len() > 20 {
                return None;
            }
            text.bytes().try_fold(0u64, |value, b| {
                let digit = b.wrapping_sub(b'0');
                if digit > 9 {
                    return None;
                }
                value.checked_mul(10)?.checked_add(u64::from(digit))
            })
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = std::str::from_utf8(line).map_err(|_| "not UTF-8")?;
        let mut fields: [&str; SEPARATORS_BEFORE_MESSAGE] = [""; SEPARATORS_BEFORE_MESSAGE];
        let mut field_start = 0;
        let mut separators = memchr::memchr_iter(b';', line.as_bytes());
        for field in fields.iter_mut() {
            let at = separators.next().ok_or("fewer than 10 `;`-separated columns")?;
            *field = line[field_start..at].trim_ascii();
            field_start = at + 1;
        }
        let message = line[field_start..].trim_ascii();
        let [asctime, _process_name, process, thread_name, thread, pathname, lineno, module, func_name] = fields;
        let asctime_ns = parse_asctime(asctime.as_bytes()).ok_or("bad asctime (expected `YYYY-MM-DD HH:MM:SS,mmm`)")?;
        let pid = integer(process).and_then(|v| u32::try_from(v).ok()).ok_or("bad process id")?;
        let tid = integer(thread).ok_or("bad thread id")?;
        let line_no = integer(lineno).and_then(|v| u32::try_from(v).ok()).ok_or("bad line number")?;
        let func = FuncRef::Named { module, name: func_name, file: pathname };
        let (time_ns, kind) = match parse_message(message.as_bytes())? {
            Message::FuncBegin { time_ns } => (time_ns, EventKind::Enter(func)),
            Message::FuncEnd { duration_ns, time_ns } => {
                (time_ns, EventKind::Exit { func, exception: false, duration_ns: Some(duration_ns) })
            }
            Message::LineTime { duration_ns } => (asctime_ns, EventKind::Line { func, line: line_no, duration_ns }),
            Message::Debug { kind, value } => {
                let value = message.get(message.len() - value.len()..).unwrap_or_default();
                (asctime_ns, EventKind::Debug { func, line: line_no, kind, name: "", value, truncated: false })
            }
        };
        Ok((Event { pid, tid, time_ns, kind }, thread_name))
    }

    /// Lines near the log's own: each column picked from typical, odd and broken values, sometimes with a
    /// column dropped or doubled, non-ASCII text, a CR or junk at the end.
    pub(in crate::legacy) fn near_log_lines() -> impl Strategy<Value = Vec<u8>> {
        let pick = |v: &[&'static str]| prop::sample::select(v.to_vec());
        let asctime = pick(&[
            "2024-03-01 09:00:00,000",
            "2024-03-01 09:00:00,001",
            " 2024-03-01 09:00:00,001 ",
            "2024-02-30 09:00:00,000",
            "2024-03-01 09:00:00.000",
            "2024-03-01 09:00:00,00",
            "",
        ]);
        let process = pick(&[" MainProcess", "MainProcess", " Prozeß-1", ""]);
        let int = pick(&[
            " 4510",
            "4510",
            " 0",
            " 4294967295",
            " 4294967296",
            " 144390008392704",
            " 18446744073709551615",
            " 18446744073709551616",
            " 0018446744073709551615",
            " -1",
            " 12a",
            " ",
            "\t77\t",
        ]);
        let name = pick(&[" MainThread", " ThreadPoolExecutor-0_0", " Thread-é", " ", " a b"]);
        let path =
            pick(&[" /srv/app/billing/services.py", " /usr/lib/python3.11/site-packages/json/encoder.py", " ü.py"]);
        let message = prop_oneof![
            "func_begin; 17092836[0-9]{2}\\.[0-9]{0,7}",
            "func_end; 0\\.00[0-9]{0,19}; 1709283600\\.[0-9]{1,6}",
            "func_end; [0-9.e+-]{0,8}; [0-9.e+-]{0,12}",
            "func_begin[ \t;]{0,3}[0-9.]{0,5}",
            "[0-9]\\.[0-9]{4} ms",
            "(usevalues|defvalues|parameters|returnvalues): [ -~]{0,12}",
            "[ -~]{0,12}",
        ];
        let tail = pick(&["", "", "", "\r", " ", "\r\r", "\u{e9}", "\u{80}"]);
        let columns = (asctime, process, int.clone(), name, int.clone(), path, int, message);
        (columns, tail, 0usize..12, 0usize..4).prop_map(
            |((asctime, process, pid, name, tid, path, lineno, message), tail, drop, dup)| {
                let mut cols = vec![
                    asctime.to_owned(),
                    process.to_owned(),
                    pid.to_owned(),
                    name.to_owned(),
                    tid.to_owned(),
                    path.to_owned(),
                    lineno.to_owned(),
                    " services".to_owned(),
                    " _resolve_cart".to_owned(),
                    format!(" {message}{tail}"),
                ];
                if drop < cols.len() {
                    cols.remove(drop);
                }
                if dup == 0 {
                    cols.insert(3, " x".to_owned());
                }
                cols.join(";").into_bytes()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn agrees_with_the_reference_parser(line in near_log_lines()) {
            prop_assert_eq!(parse_line(&line), parse_line_reference(&line));
        }

        #[test]
        fn agrees_with_the_reference_parser_on_any_bytes(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(parse_line(&line), parse_line_reference(&line));
        }

        /// The caches remember previous lines' asctime and threads; a run of lines parsed with one cache reads
        /// each as the reference reads it alone.
        #[test]
        fn cached_runs_agree_with_the_reference(lines in proptest::collection::vec(near_log_lines(), 1..40)) {
            let mut cache = LineCache::default();
            for line in &lines {
                prop_assert_eq!(parse_line_cached(line, &mut cache), parse_line_reference(line));
            }
        }

        #[test]
        fn trim_spaces_is_trim_ascii(cut in proptest::collection::vec(
            prop_oneof![4 => Just(b' '), 2 => Just(b'a'), 1 => Just(b'\t'), 1 => Just(b'\r'), 1 => any::<u8>()], 0..6)
        ) {
            prop_assert_eq!(trim_spaces(&cut), cut.trim_ascii());
        }

        #[test]
        fn find_semicolon_agrees_with_memchr(hay in proptest::collection::vec(
            prop_oneof![4 => Just(b'a'), 1 => Just(b';'), 1 => any::<u8>()], 0..40), from in 0usize..45,
        ) {
            let expected = hay.get(from..).and_then(|rest| memchr::memchr(b';', rest)).map(|i| from + i);
            prop_assert_eq!(find_semicolon(&hay, from), expected);
        }
    }

    #[test]
    fn bad_columns_are_named() {
        let ok = "2020-05-10 12:28:16,048; MainProcess; 4510; Thread-4; 7; /a.py; 3; a; f; 0.0010 ms";
        assert!(parse_line(ok.as_bytes()).is_ok());
        let cases = [
            (ok.replace("4510", "x"), "process"),
            (ok.replace("; 7;", "; -7;"), "thread"),
            (ok.replace("; 3;", "; three;"), "line number"),
            (ok.replace("2020-05-10", "2020-05-99"), "asctime"),
            (ok.replace("; a; f; ", "; a f "), "columns"),
        ];
        for (line, what) in cases {
            let err = parse_line(line.as_bytes()).unwrap_err();
            assert!(err.contains(what), "{line}: {err}");
        }
        assert_eq!(parse_line(b"\xff\xfe"), Err("not UTF-8"));
    }
}
