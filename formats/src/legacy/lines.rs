//! Walking a log (or a chunk of it) line by line, and cutting a log into chunks that can be parsed in
//! parallel.

use super::line::{
    parse_ascii_line, parse_ascii_line_after_body, parse_ascii_line_after_head, parse_line_cached, LineBody, LineCache,
    LineHead,
};
use super::scan::{scan_limited, LineScan};
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
    split_with(data, |_| target_chunk_bytes)
}

/// [`split_chunks`] with chunks that shrink towards the end: each is the rest of `data` shared among
/// `2 × workers`, between `smallest` and `largest` bytes. Workers that take chunks in order as they come free
/// then finish together: with equal chunks, one worker could start the last big chunk as the others ran out
/// of work, and parse it alone (a sixth of `pylu-processlogs`' time on a 50 MB log, on two cores).
pub fn split_chunks_tapering(
    data: &[u8],
    largest: usize,
    smallest: usize,
    workers: usize,
) -> Vec<std::ops::Range<usize>> {
    let share = 2 * workers.max(1);
    split_with(data, |rest| (rest / share).clamp(smallest.min(largest), largest))
}

/// Newline-aligned ranges covering `data`, each about `target(bytes left)` long.
fn split_with(data: &[u8], target: impl Fn(usize) -> usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let tentative_end = start.saturating_add(target(data.len() - start).max(1));
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
        shared: None,
        cache: LineCache::default(),
        #[cfg(target_arch = "x86_64")]
        avx2: std::arch::is_x86_feature_detected!("avx2"),
    }
}

/// What [`lines`] gives for `chunk`, the slow way: each line parsed alone by `parse` (such as
/// [`super::parse_line`], the exact parser, without the one-pass scan, the caches or the head shared with the line
/// before), a thread name before each line whose thread is another than the previous parsed line's, blank lines
/// skipped. The reference that tests and the fuzz target compare [`lines`] with.
pub fn lines_one_by_one<'a>(
    chunk: &'a [u8],
    first_line_no: u64,
    parse: impl Fn(&'a [u8]) -> Result<(Event<'a>, &'a str), &'static str>,
) -> Vec<Result<Event<'a>, LineError>> {
    let mut out = Vec::new();
    let mut current = None;
    if chunk.is_empty() {
        return out;
    }
    let body = chunk.strip_suffix(b"\n").unwrap_or(chunk);
    for (line, line_no) in body.split(|&b| b == b'\n').zip(first_line_no..) {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse(line) {
            Err(what) => out.push(Err(LineError { line_no, what })),
            Ok((event, name)) => {
                if current != Some((event.pid, event.tid, name)) {
                    current = Some((event.pid, event.tid, name));
                    out.push(Ok(Event { kind: EventKind::ThreadName(name), ..event }));
                }
                out.push(Ok(event));
            }
        }
    }
    out
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
    /// The head of the last line parsed through the one-pass scan, while no line parsed otherwise since.
    shared: Option<SharedHead<'a>>,
    cache: LineCache,
    /// The CPU has AVX2: lines are scanned 32 bytes per compare instead of 16.
    #[cfg(target_arch = "x86_64")]
    avx2: bool,
}

/// The last line's text up to its ninth `;` and what it read as. A busy log's lines mostly start with the same
/// bytes as the line before up to their fifth `;` (the same millisecond on the same thread: four lines in five of
/// a generated 16-thread log), and often up to their ninth (a call's end right after its beginning: one in
/// three). Such a line has the same separators and columns there, so only the rest of it is scanned and
/// parsed, and its thread is the current one.
#[derive(Debug, Clone, Copy)]
struct SharedHead<'a> {
    /// The text up to the ninth `;`, included.
    bytes: &'a [u8],
    /// The first five `;` of the text (the other four are written here for each line read after the head).
    seps: [usize; SEPARATORS],
    head: LineHead<'a>,
    body: LineBody<'a>,
}

impl<'a> SharedHead<'a> {
    #[inline(always)]
    fn new(line: &'a [u8], seps: [usize; SEPARATORS], head: LineHead<'a>, body: LineBody<'a>) -> Self {
        SharedHead { bytes: &line[..seps[8] + 1], seps, head, body }
    }

    /// The length of the text up to the fifth `;`, included.
    #[inline(always)]
    fn head_len(&self) -> usize {
        self.seps[4] + 1
    }
}

impl<'a> LegacyLines<'a> {
    /// The number the next line would have: once the iterator is done, the first line's number plus the lines
    /// of the chunk (a last line without `\n` counts), so callers need no second pass to count them.
    pub fn next_line_no(&self) -> u64 {
        self.next_line_no
    }
}

impl<'a> Iterator for LegacyLines<'a> {
    type Item = Result<Event<'a>, LineError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` says the CPU has AVX2.
            return unsafe { self.next_avx2() };
        }
        self.next_with(Scanner { scan: scan_limited, starts_with: <[u8]>::starts_with })
    }
}

impl<'a> LegacyLines<'a> {
    /// Calls `visit` with every item the iterator would give, in order: the same events, without handing each
    /// one back through `next` (the `Option<Result<Event>>` return and the held-back event were a sixth of the
    /// reader's instructions).
    pub fn for_each_event(&mut self, mut visit: impl FnMut(Result<&Event<'a>, LineError>)) {
        if let Some(event) = self.pending.take() {
            visit(Ok(&event));
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` says the CPU has AVX2.
            return unsafe { self.visit_avx2(&mut visit) };
        }
        self.visit_with(Scanner { scan: scan_limited, starts_with: <[u8]>::starts_with }, &mut visit)
    }

    /// [`LegacyLines::for_each_event`] compiled with AVX2 enabled (see [`LegacyLines::next_avx2`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn visit_avx2(&mut self, visit: &mut impl FnMut(Result<&Event<'a>, LineError>)) {
        use super::scan::{scan_limited_avx2, starts_with_avx2};
        let scanner = Scanner {
            scan: |rest, limit| scan_limited_avx2(rest, limit),
            starts_with: |rest: &[u8], prefix: &[u8]| starts_with_avx2(rest, prefix),
        };
        self.visit_with(scanner, visit)
    }

    /// Every remaining line's items to `visit`, each line's end and columns found by `scanner`.
    #[inline(always)]
    fn visit_with<L, S>(&mut self, scanner: Scanner<L, S>, visit: &mut impl FnMut(Result<&Event<'a>, LineError>))
    where
        L: Fn(&'a [u8], usize) -> LineScan,
        S: Fn(&[u8], &[u8]) -> bool,
    {
        while self.step_with(&scanner, visit) {}
    }

    /// [`Iterator::next`] compiled with AVX2 enabled, so that the scan of each line uses it (about a tenth of the
    /// time of `pylu-processlogs` went to the SSE2 scan).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn next_avx2(&mut self) -> Option<Result<Event<'a>, LineError>> {
        use super::scan::{scan_limited_avx2, starts_with_avx2};
        let scanner = Scanner {
            scan: |rest, limit| scan_limited_avx2(rest, limit),
            starts_with: |rest: &[u8], prefix: &[u8]| starts_with_avx2(rest, prefix),
        };
        self.next_with(scanner)
    }

    /// The next event, each line's end and columns found by `scanner`: a line's items, the first returned, a
    /// second (the event after its thread's name) held back for the next call.
    #[inline(always)]
    fn next_with<L, S>(&mut self, scanner: Scanner<L, S>) -> Option<Result<Event<'a>, LineError>>
    where
        L: Fn(&'a [u8], usize) -> LineScan,
        S: Fn(&[u8], &[u8]) -> bool,
    {
        if let Some(event) = self.pending.take() {
            return Some(Ok(event));
        }
        let (mut first, mut second) = (None, None);
        while first.is_none() {
            let mut keep = |item: Result<&Event<'a>, LineError>| match first {
                None => first = Some(item.copied()),
                Some(_) => second = Some(item.copied()),
            };
            if !self.step_with(&scanner, &mut keep) {
                break;
            }
        }
        if let Some(Ok(event)) = second {
            self.pending = Some(event);
        }
        first
    }

    /// Reads the next line and gives `visit` its items: nothing for a blank line, its error, or its event
    /// (after its thread's name when the thread is another than the previous parsed line's). `false` at the
    /// end of the chunk.
    #[inline(always)]
    fn step_with<L, S>(
        &mut self,
        scanner: &Scanner<L, S>,
        visit: &mut impl FnMut(Result<&Event<'a>, LineError>),
    ) -> bool
    where
        L: Fn(&'a [u8], usize) -> LineScan,
        S: Fn(&[u8], &[u8]) -> bool,
    {
        if self.rest.is_empty() {
            return false;
        }
        let line_no = self.next_line_no;
        self.next_line_no += 1;
        if let Some(shared) = &self.shared {
            let (rest, head_len) = (self.rest, shared.head_len());
            if (scanner.starts_with)(rest, &shared.bytes[..head_len]) {
                // Whether the columns after the head are the same too.
                let body = (scanner.starts_with)(&rest[head_len..], &shared.bytes[head_len..]);
                self.step_after(body, scanner, line_no, visit);
                return true;
            }
        }
        // One pass finds the line's end, its columns and whether it is ASCII.
        let scan = (scanner.scan)(self.rest, SEPARATORS);
        let line = &self.rest[..scan.len];
        self.rest = self.rest.get(scan.len + 1..).unwrap_or_default();
        if line.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        if scan.ascii && scan.count == SEPARATORS {
            match parse_ascii_line(line, &scan.seps, &mut self.cache) {
                Err(what) => visit(Err(LineError { line_no, what })),
                Ok((event, head, body)) => {
                    self.shared = Some(SharedHead::new(line, scan.seps, head, body));
                    self.emit(event, head.thread_name, visit);
                }
            }
        } else {
            // Not ASCII, or too few columns: the exact parser says what the line is.
            self.parse_exactly(line, line_no, visit);
        }
        true
    }

    /// Reads the line at the start of `rest`, which starts with the shared head's bytes up to its fifth `;`,
    /// and with all of them when `body`. Its thread is the current one: the shared head is the last parsed
    /// line's.
    #[inline(always)]
    fn step_after<L, S>(
        &mut self,
        body: bool,
        scanner: &Scanner<L, S>,
        line_no: u64,
        visit: &mut impl FnMut(Result<&Event<'a>, LineError>),
    ) where
        L: Fn(&'a [u8], usize) -> LineScan,
        S: Fn(&[u8], &[u8]) -> bool,
    {
        // Always there (the caller compared the line with it); without it, nothing to read after.
        let Some(shared) = &mut self.shared else { return };
        let (skipped, wanted) = if body { (shared.bytes.len(), 0) } else { (shared.head_len(), SEPARATORS - 5) };
        let scan = (scanner.scan)(self.rest.get(skipped..).unwrap_or_default(), wanted);
        let len = skipped + scan.len;
        let line = &self.rest[..len];
        self.rest = self.rest.get(len + 1..).unwrap_or_default();
        if !(scan.ascii && scan.count == wanted) {
            self.parse_exactly(line, line_no, visit);
            return;
        }
        let parsed = if body {
            parse_ascii_line_after_body(line, skipped, &mut self.cache, &shared.head, &shared.body)
        } else {
            for (sep, found) in shared.seps[5..].iter_mut().zip(&scan.seps) {
                *sep = skipped + found;
            }
            let parsed = parse_ascii_line_after_head(line, &shared.seps, &mut self.cache, &shared.head);
            parsed.map(|(event, body)| {
                // This line is now the last parsed one; its head is the same bytes as the shared one's.
                shared.bytes = &line[..shared.seps[8] + 1];
                shared.body = body;
                event
            })
        };
        match parsed {
            Ok(event) => visit(Ok(&event)),
            Err(what) => visit(Err(LineError { line_no, what })),
        }
    }

    /// Gives `visit` the items of `line` as the exact parser reads it.
    #[inline(never)]
    fn parse_exactly(&mut self, line: &'a [u8], line_no: u64, visit: &mut impl FnMut(Result<&Event<'a>, LineError>)) {
        match parse_line_cached(line, &mut self.cache) {
            Err(what) => visit(Err(LineError { line_no, what })),
            Ok((event, thread_name)) => {
                self.shared = None;
                self.emit(event, thread_name, visit);
            }
        }
    }

    /// Gives `visit` a parsed line's event, after its thread's name when the thread is another than the
    /// previous parsed line's.
    #[inline(always)]
    fn emit(&mut self, event: Event<'a>, thread_name: &'a str, visit: &mut impl FnMut(Result<&Event<'a>, LineError>)) {
        let thread = (event.pid, event.tid, thread_name);
        if self.current_thread != Some(thread) {
            self.current_thread = Some(thread);
            visit(Ok(&Event { kind: EventKind::ThreadName(thread_name), ..event }));
        }
        visit(Ok(&event));
    }
}

/// How lines are scanned: a line (or its rest, for its first `limit` `;`), and whether bytes start with a
/// line's head.
struct Scanner<L, S> {
    scan: L,
    starts_with: S,
}

/// A line's `;` before its message.
const SEPARATORS: usize = super::line::SEPARATORS_BEFORE_MESSAGE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::line::tests::{near_log_lines, parse_line_reference};
    use proptest::prelude::*;

    /// What [`lines`] must give for `chunk`, from the reference parser line by line.
    fn expected(chunk: &[u8], first_line_no: u64) -> Vec<Result<Event<'_>, LineError>> {
        lines_one_by_one(chunk, first_line_no, parse_line_reference)
    }

    /// Runs of near-log lines (a thread's lines repeat, as in a real log, so the caches are hit), with blank
    /// lines, CRLF and a last line with or without its `\n`.
    fn chunks() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            6 => near_log_lines(),
            1 => Just(b"2020-05-10 12:28:16,048; P; 1; T-a; 11; /a.py; 3; a; f; func_begin; 1.0".to_vec()),
            1 => Just(b"2020-05-10 12:28:16,048; P; 1; T-a; 11; /a.py; 3; a; f; func_end; 0.5; 2.0".to_vec()),
            1 => Just(b"".to_vec()),
            1 => Just(b" \r".to_vec()),
        ];
        (proptest::collection::vec((line, 1usize..4), 0..12), any::<bool>()).prop_map(|(lines, newline_at_end)| {
            let mut chunk = Vec::new();
            for (line, times) in lines {
                for _ in 0..times {
                    chunk.extend_from_slice(&line);
                    chunk.push(b'\n');
                }
            }
            if !newline_at_end {
                chunk.pop();
            }
            chunk
        })
    }

    /// Lines that share heads (the text up to the fifth `;`) with the lines before them, as most lines of a busy
    /// log do, followed by tails that parse, are damaged, are not ASCII or have too few columns: a line read
    /// after a shared head must read as the reference reads it.
    fn shared_head_chunks() -> impl Strategy<Value = Vec<u8>> {
        let head = prop::sample::select(vec![
            "2024-03-01 09:00:00,000; MainProcess; 4510; MainThread; 144390000000000;",
            "2024-03-01 09:00:00,000; MainProcess; 4510; ThreadPoolExecutor-0_0; 144390008392704;",
            "2024-03-01 09:00:00,001; MainProcess; 4510; MainThread; 144390000000000;",
            "2024-03-01 09:00:00,000; MainProcess; 4510; MainThread; 1443900000000001;",
            "2024-03-01 09:00:00,000;P;1;T;2;",
            "2024-03-01 09:00:00,000; Process-1; 4510; ThreadPoolExecutor-0_0; 144390008392704  ;",
            "2024-03-01 09:00:00,000; MainProcess; 4510; MainThread; 12a;",
            "2024-03-01 09:00:00,000; Prozeß; 4510; MainThread; 144390000000000;",
            "2024-03-01 09:00:00,000; MainProcess; 4510; MainThread; 144390000000000; /srv/app/a_very_long_path/services.py; 12;",
        ]);
        let tail = prop::sample::select(vec![
            " /srv/app/billing/services.py; 144; services; _resolve_cart; func_begin; 1709283600.000039",
            " /srv/app/billing/services.py; 144; services; _resolve_cart; func_end; 0.00286102294921875; 1709283600.000043",
            " /a.py; 3; a; f; 0.0125 ms",
            " /a.py; 3; a; f; usevalues: {'q': 'a; b'}\r",
            " /a.py; x; a; f; func_begin; 1.0",
            " /a.py; 3; a; f; func_end",
            " /a.py; 3; a; f",
            " /a.py; 3",
            "",
            " /ü.py; 3; a; f; func_begin; 1.0",
            " /a.py; 3; a; f; func_begin; 1.0 é",
            " /a.py; 3; a; f; func_begin; 1.0\r",
            " /a.py; 3; a; f; func_begin; 1.0\u{80}",
        ]);
        // Sometimes a byte that is not UTF-8 (the exact parser's error) in the tail.
        let line = (head, tail, proptest::option::of(0usize..120)).prop_map(|(head, tail, bad)| {
            let mut line = format!("{head}{tail}").into_bytes();
            if let Some(at) = bad.filter(|&at| at < tail.len()) {
                line[head.len() + at] = 0xff;
            }
            line
        });
        (proptest::collection::vec((line, 1usize..4), 0..16), 0usize..3).prop_map(|(lines, cut)| {
            let mut chunk = Vec::new();
            for (line, times) in lines {
                for _ in 0..times {
                    chunk.extend_from_slice(&line);
                    chunk.push(b'\n');
                }
            }
            // Sometimes the last line without its `\n`, or cut inside its head.
            let keep = chunk.len().saturating_sub(cut * 20);
            chunk.truncate(keep);
            chunk
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn lines_after_a_shared_head_agree_with_the_reference(chunk in shared_head_chunks(), first_line_no in 1u64..1000) {
            let got: Vec<_> = lines(&chunk, first_line_no).collect();
            prop_assert_eq!(&got, &expected(&chunk, first_line_no));
            let mut visited = Vec::new();
            lines(&chunk, first_line_no).for_each_event(|item| visited.push(item.copied()));
            prop_assert_eq!(visited, got);
        }

        /// `for_each_event` gives what the iterator gives, also after some items were taken from it (a thread
        /// name's held-back event included).
        #[test]
        fn for_each_event_is_the_iterator(chunk in chunks(), taken in 0usize..4) {
            let all: Vec<_> = lines(&chunk, 1).collect();
            let mut it = lines(&chunk, 1);
            let mut got: Vec<_> = it.by_ref().take(taken).collect();
            it.for_each_event(|item| got.push(item.copied()));
            prop_assert_eq!(&got, &all);
            prop_assert_eq!(it.next_line_no(), { let mut i = lines(&chunk, 1); i.by_ref().for_each(drop); i.next_line_no() });
        }

        /// The one-pass scan and the caches give what the reference parser gives line by line.
        #[test]
        fn agrees_with_the_reference_line_by_line(chunk in chunks(), first_line_no in 1u64..1000) {
            let got: Vec<_> = lines(&chunk, first_line_no).collect();
            prop_assert_eq!(got, expected(&chunk, first_line_no));
        }

        #[test]
        fn agrees_with_the_reference_on_any_bytes(chunk in proptest::collection::vec(
            prop_oneof![8 => any::<u8>(), 1 => Just(b';'), 1 => Just(b'\n')], 0..400)
        ) {
            let got: Vec<_> = lines(&chunk, 1).collect();
            prop_assert_eq!(got, expected(&chunk, 1));
        }
    }

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
    fn tapering_chunks_cover_end_at_newlines_and_shrink() {
        let data: Vec<u8> = (0..20_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        for (largest, smallest, workers) in [(40_000, 1_000, 2), (8_000, 500, 4), (100, 100, 1), (10, 50, 3)] {
            let ranges = split_chunks_tapering(&data, largest, smallest, workers);
            assert_eq!(ranges.first().map(|r| r.start), Some(0));
            assert_eq!(ranges.last().map(|r| r.end), Some(data.len()));
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(data[pair[0].end - 1], b'\n');
                // Never more than a line longer than asked; later chunks no longer than earlier ones (but for
                // the line that ends each).
                assert!(pair[0].len() <= largest.max(1) + 12, "{largest} {smallest} {workers}");
                assert!(pair[1].len() <= pair[0].len() + 12, "{largest} {smallest} {workers}");
            }
        }
        let ranges = split_chunks_tapering(&data, 40_000, 1_000, 2);
        assert!(ranges.len() > data.len() / 40_000 + 2, "the end is cut finer: {}", ranges.len());
        assert!(ranges.last().unwrap().len() <= 1_000 + 12);
        assert!(split_chunks_tapering(b"", 10, 1, 2).is_empty());
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
