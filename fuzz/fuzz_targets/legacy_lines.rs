//! Any bytes through the legacy text-log reader, whole and in chunks. Nothing may panic, chunked parsing
//! must report the same errors at the same line numbers as parsing the whole input, and the whole input must
//! read as each line alone reads through `parse_line` (the exact parser, without the one-pass scan, the caches
//! and the head shared with the line before).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pylu_formats::legacy::{count_lines, lines, lines_one_by_one, parse_line, split_chunks, LineError};
use pylu_formats::{Event, EventKind};

fuzz_target!(|data: &[u8]| {
    let whole: Vec<_> = lines(data, 1).collect();
    for event in whole.iter().flatten() {
        std::hint::black_box(event.to_string());
    }

    // Chunk size from the first byte, so the fuzzer explores boundaries too.
    let target = data.first().map_or(1, |&b| usize::from(b) + 1);
    let mut chunked = Vec::new();
    let mut line_no = 1;
    for range in split_chunks(data, target) {
        let chunk = &data[range];
        chunked.extend(lines(chunk, line_no));
        line_no += count_lines(chunk);
    }
    assert_eq!(not_thread_names(&chunked), not_thread_names(&whole));
    assert_eq!(lines_one_by_one(data, 1, parse_line), whole);
});

/// The events other than thread names (a chunk boundary adds one), and every line error.
fn not_thread_names<'a>(items: &[Result<Event<'a>, LineError>]) -> Vec<Result<Event<'a>, LineError>> {
    items.iter().filter(|i| !matches!(i, Ok(e) if matches!(e.kind, EventKind::ThreadName(_)))).cloned().collect()
}
