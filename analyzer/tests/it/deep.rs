//! Deep recursion: every report works at any depth, and the summaries show the first `MAX_TREE_DEPTH` (text)
//! or `MAX_JSON_TREE_DEPTH` (JSON) levels: the text would otherwise grow with the square of the depth, and
//! JSON nested deeper than about 1,000 levels is more than Python's `json` module reads.

use pylu_analyzer::report::summary::{self, MAX_JSON_TREE_DEPTH, MAX_TREE_DEPTH};
use pylu_analyzer::Selection;

use crate::common::*;

/// One thread of a text log: `walk` calls itself `depth` times, each level 1 µs longer than the one inside.
fn deep_text_log(depth: usize) -> String {
    let line = |msg: String| {
        format!("2020-05-10 12:28:16,000; MainProcess; 4510; MainThread; 1001; /srv/t.py; 1; t; walk; {msg}\n")
    };
    let epoch = |t: usize| format!("1589113696.{t:06}");
    let mut out = String::new();
    for d in 0..depth {
        out += &line(format!("func_begin; {}", epoch(d)));
    }
    for d in (0..depth).rev() {
        let end = 2 * depth - d;
        out += &line(format!("func_end; {:.4}; {}", (end - d) as f64 / 1000.0, epoch(end)));
    }
    out
}

#[test]
fn recursion_deeper_than_the_summaries_show() {
    let depth = 3 * MAX_TREE_DEPTH;
    let dir = tempfile::tempdir().unwrap();
    let p = write_temp(dir.path(), "deep.log", deep_text_log(depth).as_bytes());
    let a = analyze_files(std::slice::from_ref(&p), 1 << 20);
    // 6,000 events: within the default read-ahead, so no level is taken for a raised request.
    assert_eq!(a.calls, depth as u64);
    assert_eq!(a.warnings, pylu_analyzer::Warnings::default());
    assert_self_sums(&a);
    // Folded: a stack per level (each has 2 µs of its own), the longest holding every level.
    let f = folded(&a);
    assert_eq!(f.lines().count(), depth);
    assert_eq!(f.lines().last().unwrap().matches(";t.walk").count(), depth);

    // (No function name holds a bracket or a quote, so nesting is counted on the bytes.)
    let json = summary_json(&a);
    assert_eq!(json.matches("\"function\": \"t.walk\"").count(), 1 + MAX_JSON_TREE_DEPTH, "functions + tree");
    assert!(json.contains("\"deeper_omitted\": 1"));
    let (mut nesting, mut deepest) = (0i32, 0i32);
    for b in json.bytes() {
        match b {
            b'[' | b'{' => nesting += 1,
            b']' | b'}' => nesting -= 1,
            _ => {}
        }
        deepest = deepest.max(nesting);
    }
    assert_eq!(nesting, 0);
    assert_eq!(deepest as usize, 4 + 2 * MAX_JSON_TREE_DEPTH);
    assert!(deepest < 990, "Python's json module reads it");

    let mut text = Vec::new();
    let views = Selection::default().views(&a);
    summary::write_text(&a, &views, &Default::default(), &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(text.lines().filter(|l| l.trim_start().starts_with("t.walk")).count(), MAX_TREE_DEPTH);
    assert!(text.contains(&format!("(1 call sites deeper than {MAX_TREE_DEPTH} levels not shown, with their callees)")));
}

/// A thread killed 100,000 calls deep: every frame is an unfinished call, each counted once, and only the
/// outermost one's time counts in the function's total (the summary looked up each one's callers: quadratic).
#[test]
fn a_thread_killed_deep_in_a_recursion() {
    let depth = 100_000u64;
    let events = (0..depth).map(|d| Ev::Enter(0, 1_000 * d)).chain([Ev::Enter(1, 1_000 * depth + 500)]).collect();
    let threads = [ThreadSpec { tid: 1, name: "MainThread", events }];
    let dir = tempfile::tempdir().unwrap();
    let p = write_temp(dir.path(), "killed.pylu", &build_trace(7, &[("walk", "t"), ("leaf", "t")], &threads, 4096));
    let a = analyze_files(std::slice::from_ref(&p), 1 << 20);
    let views = Selection::default().views(&a);
    let (stats, _) = summary::top_functions(&a, &views, summary::SortBy::Total, None);
    let walk = stats.iter().find(|s| s.name == "t.walk").unwrap();
    assert_eq!((walk.stats.hits, walk.unfinished.calls), (depth, depth));
    assert_eq!(walk.total_ns, 1_000 * depth + 500, "the outermost call's time up to the last event");
}
