//! Small inputs whose every number was worked out by hand (see fixtures/analyzer/README.md).

use pylu_analyzer::report::lines::line_rows;
use pylu_analyzer::report::summary::{function_stats, SortBy};
use pylu_analyzer::{Selection, Tree, Unfinished};

use crate::common::*;

const MS: u64 = 1_000_000;

pub fn node_path(a: &pylu_analyzer::Analysis, tree: &Tree, path: &[&str]) -> u32 {
    let mut at = 0u32;
    for name in path {
        at = tree
            .nodes
            .iter()
            .enumerate()
            .find(|(_, n)| n.parent == at && a.func_name(n.func) == *name)
            .map(|(i, _)| i as u32)
            .unwrap_or_else(|| panic!("no {name} under node {at}"));
    }
    at
}

#[test]
fn two_thread_legacy_log_by_hand() {
    let a = analyze_files(&[fixtures().join("two_threads.log")], 1 << 20);
    assert_eq!(a.damage_count, 0);
    assert_eq!(a.threads.len(), 2);
    let main = &a.threads[0];
    assert_eq!(main.root_name(), "4510-MainThread");
    let t1 = &a.threads[1];
    assert_eq!(t1.root_name(), "4510-Thread-1");

    let handle = node_path(&a, &main.tree, &["views.handle"]);
    let query = node_path(&a, &main.tree, &["views.handle", "db.query"]);
    let s = main.tree.self_times();
    assert_eq!(main.tree.nodes[handle as usize].stats.hits, 1);
    assert_eq!(main.tree.nodes[handle as usize].stats.total_ns, 10 * MS);
    assert_eq!(s[handle as usize], 7_500_000);
    // The second query never ended: no hit, no time.
    assert_eq!(main.tree.nodes[query as usize].stats.hits, 1);
    assert_eq!(main.tree.nodes[query as usize].stats.total_ns, 2_500_000);
    assert_eq!(main.tree.nodes[0].stats.total_ns, 10 * MS);
    assert_eq!(a.warnings.cut_calls, 1);

    let worker = node_path(&a, &t1.tree, &["jobs.worker"]);
    assert_eq!(t1.tree.nodes[worker as usize].stats.total_ns, 4 * MS);
    assert_eq!(t1.tree.self_times()[worker as usize], 3 * MS);
    assert_eq!(t1.tree.nodes[0].stats.total_ns, 4 * MS);

    let views = Selection::default().views(&a);
    let f = function_stats(&a, &views, SortBy::SelfTime);
    let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["views.handle", "db.query", "jobs.worker"]);
    assert_eq!((f[1].stats.hits, f[1].total_ns, f[1].self_ns), (2, 3_500_000, 3_500_000));
    assert_eq!((f[1].stats.min_ns, f[1].stats.max_ns), (MS, 2_500_000));

    let rows = line_rows(&a, &views);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].line, rows[0].hits, rows[0].total_us, rows[0].per_hit_us, rows[0].percent),
        (22, 2, 750.0, 375.0, 75.0)
    );
    assert_eq!((rows[1].line, rows[1].hits, rows[1].total_us, rows[1].percent), (23, 1, 250.0, 25.0));

    assert_eq!(a.events.len(), 1);
    assert_eq!(a.events[0].value, "{'sql': 'SELECT 1'}");
    assert_eq!(a.events[0].thread, "MainThread");
    assert_eq!(a.func_name(a.events[0].func), "db.query");
    assert_self_sums(&a);
}

const US: u64 = 1000;

/// Process 4510: MainThread nests calls; Thread-1 has a generator that suspends under `main` and resumes under
/// `other`, and a call `x` that never ends.
pub fn worked_trace(per_block: usize) -> Vec<u8> {
    use Ev::*;
    let funcs = [
        ("main", "app"),
        ("foo", "app"),
        ("bar", "app.db"),
        ("gen", "app"),
        ("other", "app"),
        ("x", "app"),
        ("y", "app"),
    ];
    let t0 = ThreadSpec {
        tid: 11,
        name: "MainThread",
        events: vec![
            Enter(0, 0),
            Enter(1, 10 * US),
            Exit(1, 30 * US),
            Enter(1, 40 * US),
            Enter(2, 45 * US),
            Exit(2, 50 * US),
            Exit(1, 60 * US),
            Exit(0, 100 * US),
        ],
    };
    let t1 = ThreadSpec {
        tid: 12,
        name: "Thread-1",
        events: vec![
            Enter(0, 0),
            Enter(3, 10 * US),
            Suspend(3, 15 * US),
            Enter(4, 20 * US),
            Resume(3, 22 * US),
            Exit(3, 30 * US),
            Exit(4, 40 * US),
            Exit(0, 50 * US),
            Enter(5, 60 * US),
            Enter(6, 61 * US),
            Exit(6, 71 * US),
        ],
    };
    build_trace(4510, &funcs, &[t0, t1], per_block)
}

#[test]
fn binary_trace_by_hand_whatever_the_chunking() {
    let dir = tempfile::tempdir().unwrap();
    let mut reference: Option<(String, String)> = None;
    for per_block in [1, 2, 3, 100] {
        let p = write_temp(dir.path(), &format!("t{per_block}.pylu"), &worked_trace(per_block));
        for chunk in [1, 1 << 20] {
            let a = analyze_files(std::slice::from_ref(&p), chunk);
            assert_eq!(a.damage_count, 0);
            let main = &a.threads[0];
            assert_eq!(main.root_name(), "4510-MainThread");
            let foo = node_path(&a, &main.tree, &["app.main", "app.foo"]);
            let st = &main.tree.nodes[foo as usize].stats;
            assert_eq!((st.hits, st.total_ns, st.min_ns, st.max_ns), (2, 40 * US, 20 * US, 20 * US));
            assert_eq!(main.tree.sum_ns(foo), 40 * US);
            assert_eq!(main.tree.self_times()[foo as usize], 35 * US);
            let m = node_path(&a, &main.tree, &["app.main"]);
            assert_eq!(main.tree.self_times()[m as usize], 60 * US);

            let t1 = &a.threads[1];
            // Before the suspension: 5 µs under main, no hit there.
            let g1 = node_path(&a, &t1.tree, &["app.main", "app.gen"]);
            assert_eq!((t1.tree.nodes[g1 as usize].stats.hits, t1.tree.nodes[g1 as usize].stats.total_ns), (0, 5 * US));
            assert_eq!(t1.tree.sum_ns(g1), 0, "no call ended there");
            // Resumed under `other`: 8 µs there, one hit whose whole duration is 13 µs.
            let g2 = node_path(&a, &t1.tree, &["app.main", "app.other", "app.gen"]);
            let st = &t1.tree.nodes[g2 as usize].stats;
            assert_eq!((st.hits, st.total_ns, st.max_ns), (1, 8 * US, 13 * US));
            assert_eq!(t1.tree.sum_ns(g2), 13 * US, "the whole duration, both stretches");
            let other = node_path(&a, &t1.tree, &["app.main", "app.other"]);
            assert_eq!(t1.tree.self_times()[other as usize], 12 * US);
            let m = node_path(&a, &t1.tree, &["app.main"]);
            assert_eq!(t1.tree.self_times()[m as usize], 25 * US);
            // `x` is still open at the thread's last event (y's exit at 71 µs): an unfinished call, one hit of
            // 11 µs, 1 µs of its own.
            let x = node_path(&a, &t1.tree, &["app.x"]);
            assert_eq!((t1.tree.nodes[x as usize].stats.hits, t1.tree.nodes[x as usize].stats.total_ns), (1, 11 * US));
            assert_eq!(t1.tree.self_times()[x as usize], US);
            assert_eq!(t1.tree.sum_ns(x), 11 * US);
            assert_eq!(t1.tree.unfinished(x), Unfinished { calls: 1, ns: 11 * US });
            assert_eq!(t1.tree.nodes[0].stats.total_ns, 61 * US);
            assert_eq!((a.warnings.cut_calls, a.warnings.unfinished), (0, 1));
            assert_self_sums(&a);

            let got = (folded(&a), summary_json(&a));
            match &reference {
                None => reference = Some(got),
                Some(r) => assert_eq!(r, &got, "per_block {per_block}, chunk {chunk}"),
            }
        }
    }
}

/// `unclosed_root.log`'s MainThread, whatever the read-ahead: request 2's `handle` and `query` never end and are
/// cut when request 3 enters `handle`.
const UNCLOSED_ROOT_MAIN: &str = "4510-MainThread;views.handle 6000\n\
                                  4510-MainThread;views.handle;db.query 3000\n\
                                  4510-MainThread;views.handle;db.query;db.fetch 500\n";

/// `fixtures/analyzer/unclosed_root.log` (see fixtures/analyzer/README.md): a request whose root raised (no
/// `func_end`) does not swallow the thread's later requests; an entry point also called inside another call
/// nests there, since the read-ahead sees that call end.
#[test]
fn unclosed_root_by_hand_whatever_the_chunking() {
    let path = fixtures().join("unclosed_root.log");
    let expected = UNCLOSED_ROOT_MAIN.to_owned()
        + "4510-Thread-1;jobs.batch 4000\n\
           4510-Thread-1;jobs.batch;jobs.run 2000\n\
           4510-Thread-1;jobs.run 1000\n";
    for chunk in [1usize, 100, 700, 1 << 20] {
        // `run`'s enter is replayed once `batch`'s exit, 2 events later, has been read.
        for read_ahead in [2usize, 3, 1 << 14] {
            let a = analyze_files_reading_ahead(std::slice::from_ref(&path), chunk, read_ahead);
            assert_eq!(folded(&a), expected, "chunk {chunk}, read-ahead {read_ahead}");
            assert_self_sums(&a);
            let main = &a.threads[0];
            let handle = node_path(&a, &main.tree, &["views.handle"]);
            let query = node_path(&a, &main.tree, &["views.handle", "db.query"]);
            // Requests 1 and 3 ended (5 + 4 ms); request 2 passes down the 0.5 ms of the fetch that ended in it.
            assert_eq!(main.tree.nodes[handle as usize].stats.hits, 2);
            assert_eq!(main.tree.nodes[handle as usize].stats.total_ns, 9_500_000);
            assert_eq!(main.tree.nodes[query as usize].stats.hits, 2);
            assert_eq!(main.tree.nodes[query as usize].stats.total_ns, 3_500_000);
            assert_eq!(main.tree.nodes[0].stats.total_ns, 9_500_000);
            let t1 = &a.threads[1];
            let batch = node_path(&a, &t1.tree, &["jobs.batch"]);
            assert_eq!(t1.tree.nodes[batch as usize].stats.hits, 2);
            assert_eq!(t1.tree.nodes[0].stats.total_ns, 7 * MS);
            // MainThread: handle and query of request 2, which never end.
            assert_eq!((a.warnings.cut_calls, a.warnings.unmatched, a.warnings.wrong_cuts), (2, 0, 0));
        }
    }
}

/// The same log read with no read-ahead, or too short a one (as a call whose end lies beyond the read-ahead is
/// taken): the entry point called inside `jobs.batch` cuts that `batch` by mistake (no hit, no time), whose exit
/// is then unmatched, and is not taken for an entry point again.
#[test]
fn unclosed_root_without_read_ahead_by_hand() {
    let path = fixtures().join("unclosed_root.log");
    let expected = UNCLOSED_ROOT_MAIN.to_owned()
        + "4510-Thread-1;jobs.batch 2000\n\
           4510-Thread-1;jobs.batch;jobs.run 1000\n\
           4510-Thread-1;jobs.run 2000\n";
    for (chunk, read_ahead) in [(1usize, 0usize), (100, 1), (1 << 20, 0)] {
        let a = analyze_files_reading_ahead(std::slice::from_ref(&path), chunk, read_ahead);
        assert_eq!(folded(&a), expected, "chunk {chunk}, read-ahead {read_ahead}");
        assert_self_sums(&a);
        let t1 = &a.threads[1];
        let batch = node_path(&a, &t1.tree, &["jobs.batch"]);
        assert_eq!(t1.tree.nodes[batch as usize].stats.hits, 1);
        assert_eq!(t1.tree.nodes[0].stats.total_ns, 5 * MS);
        // MainThread: handle and query of request 2; Thread-1: the first batch, which ended after all.
        assert_eq!((a.warnings.cut_calls, a.warnings.unmatched, a.warnings.wrong_cuts), (3, 1, 1));
    }
}

/// `fixtures/analyzer/recursive_root.log`: `tree.walk` is the thread's only function and calls itself (A calls
/// B, B calls C, A calls D, then a second walk at the root). Entered again while it is open, it is not taken for
/// a request after a raised one, since the read-ahead sees the open calls end.
#[test]
fn recursive_root_by_hand() {
    let path = fixtures().join("recursive_root.log");
    let expected = "4510-MainThread;tree.walk 4000\n\
                    4510-MainThread;tree.walk;tree.walk 3000\n\
                    4510-MainThread;tree.walk;tree.walk;tree.walk 1000\n";
    for chunk in [1usize, 300, 1 << 20] {
        // B's enter is replayed once A's exit, 6 events later, has been read.
        for read_ahead in [6usize, 1 << 14] {
            let a = analyze_files_reading_ahead(std::slice::from_ref(&path), chunk, read_ahead);
            assert_eq!(folded(&a), expected, "chunk {chunk}, read-ahead {read_ahead}");
            assert_self_sums(&a);
            let t = &a.threads[0];
            let walk = node_path(&a, &t.tree, &["tree.walk"]);
            let walk2 = node_path(&a, &t.tree, &["tree.walk", "tree.walk"]);
            assert_eq!(
                (t.tree.nodes[walk as usize].stats.hits, t.tree.nodes[walk as usize].stats.total_ns),
                (2, 8 * MS)
            );
            assert_eq!(
                (t.tree.nodes[walk2 as usize].stats.hits, t.tree.nodes[walk2 as usize].stats.total_ns),
                (2, 4 * MS)
            );
            assert_eq!(a.calls, 5);
            assert_eq!((a.warnings.cut_calls, a.warnings.unmatched), (0, 0));
        }
    }
    // A read-ahead shorter than the calls: A looks dead when B enters (cut), B when C enters; their exits are
    // then unmatched. C, D and the second walk are counted, at the root.
    let a = analyze_files_reading_ahead(std::slice::from_ref(&path), 1 << 20, 1);
    assert_eq!(folded(&a), "4510-MainThread;tree.walk 3000\n");
    assert_eq!((a.warnings.cut_calls, a.warnings.unmatched, a.warnings.wrong_cuts), (2, 2, 2));
    // Unless the analysis may read again further ahead (the default): then 64 events ahead, and right.
    let input = [pylu_analyzer::Input::open(&path).unwrap()];
    let opts = pylu_analyzer::Options { text_read_ahead: 1, ..Default::default() };
    let a = pylu_analyzer::analyze(&input, &opts);
    assert_eq!(folded(&a), expected);
    assert_eq!((a.warnings, a.text_read_ahead), (pylu_analyzer::Warnings::default(), 64));
}

/// A log whose first lines are not records — blank lines, a byte order mark, a header, a line cut by `tail -c` —
/// is still a log: the same analysis as without them, each non-record line reported as one damaged line.
#[test]
fn a_log_with_junk_before_its_first_record_is_read_whole() {
    let log = std::fs::read(fixtures().join("two_threads.log")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clean = analyze_files(&[fixtures().join("two_threads.log")], 1 << 20);
    for (name, before, damaged_lines) in [
        ("blank.log", &b"\n\r\n"[..], vec![]),
        ("bom.log", &b"\xEF\xBB\xBF"[..], vec![]),
        ("header.log", &b"Some header line\n"[..], vec![1]),
        ("cut.log", &b"0:00,000; MainProcess; 4510; MainThread; 14439\n"[..], vec![1]),
        ("binary-junk.log", &b"\x1f\x8b\x08\x00\n\xff\xfe\n"[..], vec![1, 2]),
    ] {
        let path = write_temp(dir.path(), name, &[before, &log].concat());
        let a = analyze_files(&[path], 1 << 20);
        assert_eq!(folded(&a), folded(&clean), "{name}");
        assert_eq!(a.calls, clean.calls, "{name}");
        let lines: Vec<u64> = a
            .damage
            .iter()
            .map(|d| match d.at {
                Some(pylu_analyzer::profile::Location::Line(l)) => l,
                other => panic!("{name}: damage at {other:?}"),
            })
            .collect();
        assert_eq!(lines, damaged_lines, "{name}");
    }
}

/// A function of a few hundred nanoseconds does not read as free in the function table: durations that would
/// print as `0.000` ms get two significant digits; the call tree keeps the original's three decimals.
#[test]
fn sub_microsecond_functions_keep_their_digits() {
    let dir = tempfile::tempdir().unwrap();
    // `app.fast` takes 420 ns twice, `app.tiny` 42 ns, inside a 2 µs `app.main`.
    let events = vec![
        Ev::Enter(0, 1_000),
        Ev::Enter(1, 1_100),
        Ev::Exit(1, 1_520),
        Ev::Enter(1, 1_600),
        Ev::Exit(1, 2_020),
        Ev::Enter(2, 2_100),
        Ev::Exit(2, 2_142),
        Ev::Exit(0, 3_000),
    ];
    let trace = build_trace(
        7,
        &[("main", "app"), ("fast", "app"), ("tiny", "app")],
        &[ThreadSpec { tid: 1, name: "MainThread", events }],
        64,
    );
    let a = analyze_files(&[write_temp(dir.path(), "t.pylu", &trace)], 1 << 20);
    let mut out = Vec::new();
    pylu_analyzer::summary::write_text(&a, &Selection::default().views(&a), &Default::default(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let row = |name: &str| text.lines().find(|l| l.starts_with(&format!("| {name} "))).unwrap().to_owned();
    let cells =
        |name: &str| row(name).split('|').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect::<Vec<_>>();
    // function, hits, total, self, mean (then quantiles from the histogram, max).
    assert_eq!(cells("app.fast")[1..5], ["2", "0.001", "0.001", "0.00042"], "{text}");
    assert_eq!(cells("app.tiny")[1..5], ["1", "0.000042", "0.000042", "0.000042"], "{text}");
    assert_eq!(cells("app.tiny")[7], "0.000042", "max: {text}");
    // The tree's columns stay as the original printed them.
    assert!(text.lines().any(|l| l.trim_start().starts_with("app.tiny") && l.ends_with("0.000")), "{text}");
}
