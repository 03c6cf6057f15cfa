//! The reader of the original pyliveupdate text log: message kinds, awkward lines, chunking, rotated files,
//! and golden fixtures (fixtures/legacy/*.log against *.expected; `PYLU_BLESS=1` rewrites the expected files).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use pylu_formats::legacy::{count_lines, lines, parse_line, rotated_siblings, split_chunks, LineError};
use pylu_formats::{DebugKind, Event, EventKind, FuncRef};

const PREFIX: &str = "2020-05-10 12:28:16,048; MainProcess; 4510; Thread-4; 140000000451001; /srv/app/views.py; 374; views; views_get2; ";
const VIEWS: FuncRef<'static> = FuncRef::Named { module: "views", name: "views_get2", file: "/srv/app/views.py" };
/// 2020-05-10 12:28:16,048 UTC.
const ASCTIME_NS: i64 = 1_589_113_696_048_000_000;

fn kind_of(message: &str) -> EventKind<'static> {
    let line: &'static str = Box::leak(format!("{PREFIX}{message}").into_boxed_str());
    parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{message}: {e}")).0.kind
}

#[test]
fn every_message_kind() {
    assert_eq!(kind_of("func_begin; 1589113696.048286"), EventKind::Enter(VIEWS));
    assert_eq!(
        kind_of("func_end; 0.0123456789; 1589113696.048298"),
        EventKind::Exit { func: VIEWS, exception: false, duration_ns: Some(12_346) }
    );
    assert_eq!(kind_of("0.0123 ms"), EventKind::Line { func: VIEWS, line: 374, duration_ns: 12_300 });
    for (label, kind) in [
        ("parameters", DebugKind::Parameters),
        ("returnvalues", DebugKind::ReturnValue),
        ("usevalues", DebugKind::Used),
        ("defvalues", DebugKind::Defined),
    ] {
        assert_eq!(
            kind_of(&format!("{label}: {{'a': 1}}")),
            EventKind::Debug { func: VIEWS, line: 374, kind, name: "", value: "{'a': 1}", truncated: false }
        );
    }
}

#[test]
fn times_come_from_the_message_or_the_asctime() {
    let time = |message: &str| parse_line(format!("{PREFIX}{message}").as_bytes()).unwrap().0.time_ns;
    assert_eq!(time("func_begin; 1589113696.048286"), 1_589_113_696_048_286_000);
    assert_eq!(time("func_end; 1.5; 1589113696.0499"), 1_589_113_696_049_900_000);
    assert_eq!(time("0.0123 ms"), ASCTIME_NS);
    assert_eq!(time("usevalues: 1"), ASCTIME_NS);
}

#[test]
fn semicolons_inside_values_stay_in_the_value() {
    let value = "{'sql': 'select 1; select 2', 'k': 'a;b'}";
    assert_eq!(
        kind_of(&format!("defvalues: {value}")),
        EventKind::Debug { func: VIEWS, line: 374, kind: DebugKind::Defined, name: "", value, truncated: false }
    );
}

#[test]
fn crlf_lines_read_like_lf_lines() {
    let lf = format!("{PREFIX}func_begin; 1.5\n{PREFIX}usevalues: 'x'\n");
    let crlf = lf.replace('\n', "\r\n");
    let a: Vec<_> = lines(lf.as_bytes(), 1).collect();
    let b: Vec<_> = lines(crlf.as_bytes(), 1).collect();
    assert_eq!(a, b);
    assert_eq!(a.len(), 3, "thread name, enter, debug");
}

#[test]
fn garbage_lines_are_counted_with_their_numbers() {
    let data = format!("{PREFIX}func_begin; 1.0\nnot a log line\n\n{PREFIX}func_end; oops\n{PREFIX}0.5 ms\n");
    let errors: Vec<LineError> = lines(data.as_bytes(), 1).filter_map(Result::err).collect();
    assert_eq!(errors.iter().map(|e| e.line_no).collect::<Vec<_>>(), [2, 4]);
    assert!(errors[1].what.contains("func_end"), "{}", errors[1]);
    assert_eq!(errors[0].to_string(), format!("line 2: {}", errors[0].what));
    let events = lines(data.as_bytes(), 1).filter(Result::is_ok).count();
    assert_eq!(events, 3, "thread name + enter + line");
}

#[test]
fn rotated_siblings_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pyliveupdate.log");
    for name in ["pyliveupdate.log", "pyliveupdate.log.1", "pyliveupdate.log.2", "pyliveupdate.log.10", "other.log.3"] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    let names: Vec<String> =
        rotated_siblings(&log).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["pyliveupdate.log.10", "pyliveupdate.log.2", "pyliveupdate.log.1", "pyliveupdate.log"]);

    let missing = dir.path().join("absent.log");
    assert_eq!(rotated_siblings(&missing), vec![missing], "the log itself is always listed");
}

/// A line of the original's log from a few generated parts (some lines are garbage or blank).
fn arbitrary_line() -> impl Strategy<Value = String> {
    let thread = prop_oneof![Just((11u64, "MainThread")), Just((12, "Thread-1")), Just((13, "Thread-2"))];
    let message = prop_oneof![
        (0u32..100_000).prop_map(|us| format!("func_begin; 1589113696.{us:06}")),
        (0u32..5000, 0u32..100_000).prop_map(|(ms, us)| format!("func_end; {ms}.25; 1589113696.{us:06}")),
        (0u32..99).prop_map(|ms| format!("{ms}.0100 ms")),
        "[a-z;: ']{0,12}".prop_map(|v| format!("usevalues: {v}")),
    ];
    prop_oneof![
        8 => (thread, 1u32..4, message).prop_map(|((tid, name), pid, message)| {
            format!("2020-05-10 12:28:16,048; MainProcess; {pid}; {name}; {tid}; /a.py; 7; a; f; {message}")
        }),
        1 => "[ -~]{0,30}",
        1 => Just(String::new()),
        1 => Just("\r".to_owned()),
    ]
}

/// Drops the thread name events that only restate the thread of the event just before them: what a chunk
/// boundary adds (each chunk names its first thread).
fn without_restated_thread_names(events: Vec<Result<Event<'_>, LineError>>) -> Vec<Result<Event<'_>, LineError>> {
    let mut current = None;
    let mut kept = Vec::new();
    for item in events {
        if let Ok(Event { pid, tid, kind: EventKind::ThreadName(name), .. }) = &item {
            if current == Some((*pid, *tid, *name)) {
                continue;
            }
            current = Some((*pid, *tid, *name));
        }
        kept.push(item);
    }
    kept
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn chunked_parsing_equals_whole_file_parsing(
        body in proptest::collection::vec(arbitrary_line(), 0..40),
        trailing_newline in any::<bool>(),
        target in 1usize..400,
    ) {
        let mut data = body.join("\n");
        if trailing_newline {
            data.push('\n');
        }
        let data = data.as_bytes();
        let whole: Vec<_> = lines(data, 1).collect();

        let ranges = split_chunks(data, target);
        let mut chunked = Vec::new();
        let mut line_no = 1;
        let mut expected_start = 0;
        for range in ranges {
            prop_assert_eq!(range.start, expected_start);
            prop_assert!(range.end == data.len() || data[range.end - 1] == b'\n');
            expected_start = range.end;
            let chunk = &data[range];
            chunked.extend(lines(chunk, line_no));
            line_no += count_lines(chunk);
        }
        prop_assert_eq!(expected_start, data.len());
        prop_assert_eq!(without_restated_thread_names(chunked), whole.clone());

        // Line numbers of errors are the file's: each names a line that really is not a record.
        let file_lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
        for error in whole.iter().filter_map(|r| r.as_ref().err()) {
            let line = file_lines[(error.line_no - 1) as usize];
            prop_assert!(parse_line(line).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), target in 1usize..100) {
        for range in split_chunks(&data, target) {
            for item in lines(&data[range], 1) {
                let _ = item;
            }
        }
    }
}

// ---- golden fixtures ----

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/legacy")
}

/// The stable text form of a decoded log: one event (or line error) per line, the function's file added to
/// the event's Display so every field of a text-log event shows.
fn render(data: &[u8]) -> String {
    let mut out = String::new();
    for item in lines(data, 1) {
        match item {
            Ok(event) => {
                out.push_str(&event.to_string());
                let func = match event.kind {
                    EventKind::Enter(f) | EventKind::Suspend(f) | EventKind::Resume(f) => Some(f),
                    EventKind::Exit { func, .. } | EventKind::Line { func, .. } | EventKind::Debug { func, .. } => {
                        Some(func)
                    }
                    _ => None,
                };
                if let Some(FuncRef::Named { file, .. }) = func {
                    out.push_str(&format!(" file={file:?}"));
                }
            }
            Err(error) => out.push_str(&format!("error {error}")),
        }
        out.push('\n');
    }
    out
}

#[test]
fn golden_fixtures() {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/legacy exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 4, "fixtures missing: {logs:?}");
    let failures: Vec<String> = logs
        .iter()
        .filter_map(|log| {
            let actual = render(&std::fs::read(log).unwrap());
            pylu_testkit::compare_golden(&log.with_extension("expected"), actual.as_bytes())
                .err()
                .map(|e| format!("{}: {e}", log.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
