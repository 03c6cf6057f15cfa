//! Calls that never end (issue 21, item 3): a process killed mid-call and a generator closed while suspended
//! without an exit. Each such call counts one hit, *unfinished*; a call still on the stack lasts up to its
//! thread's last event, a suspended one keeps its stretches. Golden text and JSON summaries and folded stacks,
//! the same whatever the blocks and units, and nothing of it for `pylu-processlogs` (the original's rule).

use pylu_analyzer::report::summary::{function_stats, SortBy};
use pylu_analyzer::{Analysis, Options, Selection, Unfinished};
use regex::Regex;

use crate::common::Ev::*;
use crate::common::*;
use crate::handchecked::node_path;

const US: u64 = 1000;

/// A process killed while `main` runs `slow` (its last record is `inner`'s exit at 70 µs), after `gen` was
/// suspended and never resumed; in another thread a generator suspended twice, never resumed, and `io` entered
/// just before the end (its enter is the thread's last event).
pub fn killed_trace(per_block: usize) -> Vec<u8> {
    let funcs = [
        ("main", "app"),
        ("work", "app"),
        ("gen", "app"),
        ("slow", "app"),
        ("inner", "app"),
        ("task", "app"),
        ("io", "app"),
    ];
    let t0 = ThreadSpec {
        tid: 11,
        name: "MainThread",
        events: vec![
            Enter(0, 0),
            Enter(1, 10 * US),
            Exit(1, 30 * US),
            Enter(2, 35 * US),
            Suspend(2, 40 * US),
            Enter(3, 50 * US),
            Enter(4, 55 * US),
            Exit(4, 70 * US),
        ],
    };
    let t1 = ThreadSpec {
        tid: 12,
        name: "Thread-1",
        events: vec![
            Enter(5, 5 * US),
            Enter(2, 6 * US),
            Suspend(2, 8 * US),
            Resume(2, 12 * US),
            Suspend(2, 14 * US),
            Enter(6, 20 * US),
        ],
    };
    build_trace(4510, &funcs, &[t0, t1], per_block)
}

fn node(a: &Analysis, thread: usize, path: &[&str]) -> (u64, u64, u64, Unfinished) {
    let t = &a.threads[thread];
    let n = node_path(a, &t.tree, path);
    let s = &t.tree.nodes[n as usize].stats;
    (s.hits, s.total_ns, t.tree.self_times()[n as usize], t.tree.unfinished(n))
}

fn unfinished(calls: u64, ns: u64) -> Unfinished {
    Unfinished { calls, ns }
}

#[test]
fn a_killed_binary_trace_counts_its_open_calls() {
    let dir = tempfile::tempdir().unwrap();
    let slow = Selection { func: Some(Regex::new("slow").unwrap()), ..Default::default() };
    let mut reference: Option<(String, String)> = None;
    for per_block in [1, 2, 3, 100] {
        let p = write_temp(dir.path(), &format!("k{per_block}.pylu"), &killed_trace(per_block));
        for chunk in [1, 1 << 20] {
            let a = analyze_files(std::slice::from_ref(&p), chunk);
            assert_eq!(a.damage_count, 0);
            // Open at the end: `main` (0–70 µs) and `slow` (50–70 µs); `gen`, suspended at 40 µs, keeps its 5 µs.
            assert_eq!(node(&a, 0, &["app.main"]), (1, 70 * US, 25 * US, unfinished(1, 70 * US)));
            assert_eq!(node(&a, 0, &["app.main", "app.work"]), (1, 20 * US, 20 * US, unfinished(0, 0)));
            assert_eq!(node(&a, 0, &["app.main", "app.gen"]), (1, 5 * US, 5 * US, unfinished(1, 0)));
            assert_eq!(node(&a, 0, &["app.main", "app.slow"]), (1, 20 * US, 5 * US, unfinished(1, 20 * US)));
            assert_eq!(node(&a, 0, &["app.main", "app.slow", "app.inner"]), (1, 15 * US, 15 * US, unfinished(0, 0)));
            // Thread-1: `gen` ran 2 + 2 µs; `io` began at the thread's last event, so it lasted 0.
            assert_eq!(node(&a, 1, &["app.task"]), (1, 15 * US, 11 * US, unfinished(1, 15 * US)));
            assert_eq!(node(&a, 1, &["app.task", "app.gen"]), (1, 4 * US, 4 * US, unfinished(1, 0)));
            assert_eq!(node(&a, 1, &["app.task", "app.io"]), (1, 0, 0, unfinished(1, 0)));
            assert_eq!((a.calls, a.warnings.unfinished, a.warnings.cut_calls, a.warnings.unmatched), (2, 6, 0, 0));
            assert_self_sums(&a);
            // A function's figures: `gen`'s two calls (5 and 4 µs) are both unfinished.
            let stats = function_stats(&a, &Selection::default().views(&a), SortBy::Total);
            let gen = stats.iter().find(|f| f.name == "app.gen").unwrap();
            assert_eq!(
                (gen.stats.hits, gen.total_ns, gen.mean_ns(), gen.unfinished),
                (2, 9 * US, 4500, unfinished(2, 0))
            );
            // Merged roots keep every thread's unfinished calls (`--group-threads`, `--merge-threads` graft the
            // same way).
            let grouped = Selection { group_threads: vec![glob::Pattern::new("*").unwrap()], ..Default::default() };
            for sel in [grouped, Selection { merge_processes: true, ..Default::default() }] {
                let views = sel.views(&a);
                assert_eq!(views.len(), 1);
                assert_eq!(views[0].tree.unfinished_nodes().map(|(_, u)| u.calls).sum::<u64>(), 6);
                assert_eq!(views[0].tree.nodes[0].stats.total_ns, 85 * US);
            }
            if same_as_first(&mut reference, &a, "killed", &format!("per_block {per_block}, chunk {chunk}")) {
                // A filtered view keeps the matches' unfinished calls; `main`, context, shows those under it.
                check_golden("killed_func.summary", summary_text(&a, &slow).as_bytes());
            }
        }
    }
}

#[test]
fn a_killed_text_log_counts_its_open_calls() {
    let p = fixtures().join("killed.log");
    let mut reference: Option<(String, String)> = None;
    for chunk in [1, 200, 1 << 20] {
        let a = analyze_files(std::slice::from_ref(&p), chunk);
        // `handle` and `fetch` never end: they run to the thread's last event, `fetch`'s debugger record at 8 ms.
        assert_eq!(node(&a, 0, &["views.handle"]), (1, 8000 * US, 2000 * US, unfinished(1, 8000 * US)));
        assert_eq!(node(&a, 0, &["views.handle", "db.fetch"]), (1, 4000 * US, 4000 * US, unfinished(1, 4000 * US)));
        assert_eq!(node(&a, 0, &["views.handle", "db.query"]), (1, 2000 * US, 2000 * US, unfinished(0, 0)));
        // The second `worker` began at its thread's last event.
        assert_eq!(node(&a, 1, &["jobs.worker"]), (2, 1000 * US, 1000 * US, unfinished(1, 0)));
        assert_eq!((a.calls, a.warnings.unfinished, a.warnings.cut_calls), (2, 3, 0));
        assert_self_sums(&a);
        same_as_first(&mut reference, &a, "killed_log", &format!("chunk {chunk}"));
    }
}

/// `pylu-processlogs` and `diff` do not count them: the calls that ended only, the open ones cut as before.
#[test]
fn not_counted_they_are_cut_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_temp(dir.path(), "k.pylu", &killed_trace(2));
    let a = analyze_with(&[p], &Options { unfinished: false, ..test_options(1 << 20) });
    assert_eq!(node(&a, 0, &["app.main"]), (0, 40 * US, 0, unfinished(0, 0)));
    assert_eq!(node(&a, 0, &["app.main", "app.gen"]), (0, 5 * US, 5 * US, unfinished(0, 0)));
    assert_eq!((a.warnings.unfinished, a.warnings.cut_calls), (0, 4));
    assert_self_sums(&a);
    let a = analyze_with(&[fixtures().join("killed.log")], &Options { unfinished: false, ..test_options(1 << 20) });
    assert_eq!(node(&a, 0, &["views.handle"]), (0, 2000 * US, 0, unfinished(0, 0)));
    assert_eq!(node(&a, 1, &["jobs.worker"]), (1, 1000 * US, 1000 * US, unfinished(0, 0)));
}

/// `--until` before the end: a call still running then runs to the window's end.
#[test]
fn a_call_running_at_until_runs_to_the_window_end() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_temp(dir.path(), "k.pylu", &killed_trace(3));
    let until = (WALL0 + 60 * US) as i64;
    let a = analyze_with(&[p], &Options { until_ns: Some(until), ..test_options(1 << 20) });
    assert_eq!(node(&a, 0, &["app.main"]), (1, 60 * US, 25 * US, unfinished(1, 60 * US)));
    assert_eq!(node(&a, 0, &["app.main", "app.slow"]), (1, 10 * US, 5 * US, unfinished(1, 10 * US)));
    assert_eq!(node(&a, 0, &["app.main", "app.slow", "app.inner"]), (1, 5 * US, 5 * US, unfinished(1, 5 * US)));
    assert_self_sums(&a);
}

/// The first analysis (`first` empty) gives the goldens `<stem>.folded`, `.summary.json` and `.summary`; every
/// later one (`case`) must give the same folded stacks and JSON. Returns whether `a` was the first.
fn same_as_first(first: &mut Option<(String, String)>, a: &Analysis, stem: &str, case: &str) -> bool {
    let got = (folded(a), summary_json(a));
    match first {
        None => {
            check_golden(&format!("{stem}.folded"), got.0.as_bytes());
            check_golden(&format!("{stem}.summary.json"), got.1.as_bytes());
            check_golden(&format!("{stem}.summary"), summary_text(a, &Selection::default()).as_bytes());
            *first = Some(got);
            true
        }
        Some(r) => {
            assert_eq!(r, &got, "{case}");
            false
        }
    }
}

fn summary_text(a: &Analysis, sel: &Selection) -> String {
    let mut out = Vec::new();
    pylu_analyzer::summary::write_text(a, &sel.views(a), &Default::default(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}
