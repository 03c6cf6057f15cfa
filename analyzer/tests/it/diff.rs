//! `pylu-analyze diff`: golden tables on the hand-made regression of fixtures/diff (db.query 1.5× slower), the
//! gate's exit codes, the differential flamegraph, and the statistics on generated workloads: no false alarm
//! between two runs of one program, and one function made 1.5× slower found among hundreds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pylu_analyzer::diff::gate::{self, Rule};
use pylu_analyzer::diff::{diff, DiffOptions, Metric, Side};
use pylu_analyzer::{analyze_paths, discover, Options};
use pylu_gen::{function_names, write_binary_dir, GenOptions};

use crate::common::check_golden;

fn diff_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/diff")
}

/// `pylu-analyze diff ARGS` run in fixtures/diff (so the labels in the outputs are the relative names).
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pylu-analyze")).arg("diff").args(args).current_dir(diff_dir()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn golden_tables_of_a_known_regression() {
    for (format, ext) in [("table", "txt"), ("json", "json"), ("markdown", "md"), ("csv", "csv")] {
        let out = run(&["before.log", "after.log", "--format", format, "--fail-on", "mean:+20%"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        check_golden(&format!("diff/regression.{ext}"), &out.stdout);
    }
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["before.log", "after.log", "--format", "json"]).stdout).unwrap();
    let f = &json["functions"];
    // db.query: every call 1.5× longer (hand-made); cache.get and render.page: the same durations reordered.
    assert_eq!(f[0]["name"], "db.query");
    assert_eq!(f[0]["verdict"], "slower");
    let mean = &f[0]["metrics"]["mean"];
    assert!((mean["change_percent"].as_f64().unwrap() - 50.0).abs() < 0.01, "{mean}");
    for row in f.as_array().unwrap() {
        if row["name"] == "cache.get" || row["name"] == "render.page" {
            assert_eq!(row["verdict"], "~", "{row}");
            assert_eq!(row["metrics"]["total"]["change_percent"], 0.0, "{row}");
        }
    }
}

#[test]
fn gate_exit_codes() {
    let regression = run(&["before.log", "after.log", "--fail-on", "p95:+10%", "--fail-on", "self:+20%"]);
    assert_eq!(regression.status.code(), Some(1));
    let err = stderr(&regression);
    assert!(err.contains("regressed db.query: p95") && err.contains("regressed db.query: self"), "{err}");
    assert!(!err.contains("views.handle: self") && !err.contains("cache.get"), "{err}");

    let same = run(&["before.log", "before.log", "--fail-on", "mean:+1%", "--fail-on-improvement"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    // Past the limit but not significant: the two-argument form with --func on one function.
    let limit_not_reached = run(&["before.log", "after.log", "--fail-on", "mean:+60%"]);
    assert_eq!(limit_not_reached.status.code(), Some(0));

    let improvement = run(&["--fail-on", "mean:+20%", "after.log", "--", "before.log"]);
    assert_eq!(improvement.status.code(), Some(0), "{}", stderr(&improvement));
    let stale = run(&["--fail-on", "mean:+20%", "--fail-on-improvement", "after.log", "--", "before.log"]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(stderr(&stale).contains("improved db.query: mean"), "{}", stderr(&stale));

    let empty = tempfile::NamedTempFile::new().unwrap();
    let empty = empty.path().to_str().unwrap();
    for (args, says) in [
        (vec!["before.log", "missing.log"], "missing.log"),
        (vec!["before.log", "after.log", "--fail-on", "p95:10"], "--fail-on \"p95:10\""),
        (vec!["before.log", "after.log", "--fail-on", "latency:+5%"], "unknown metric"),
        (vec!["before.log", empty], "the after side has no profiled calls"),
        (vec!["before.log", "after.log", "--func", "^nothing$"], "no function in common"),
        (vec!["before.log", "after.log", "--min-hits", "21"], "no function in common"),
        (vec!["before.log"], "BEFORE AFTER"),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        // One error line (an empty input is also reported as skipped, on a line before it).
        let err = stderr(&out);
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {err}");
        assert!(errors[0].contains(says) && err.lines().last() == Some(errors[0]), "{args:?}: {err}");
    }
}

#[test]
fn differential_flamegraph_names_both_sides_and_colours_the_slower_stack() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("diff.svg");
    let out = run(&["before.log", "after.log", "--flamegraph", svg.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.contains("pylu diff: before.log → after.log"), "no title");
    // inferno's differential tooltips: "(…, +N.NN%)" for a stack with more time after.
    let query =
        svg.lines().find(|l| l.contains("<title>views.handle;db.query") || l.contains("<title>db.query")).unwrap();
    assert!(query.contains("+"), "{query}");
}

/// `-o` receives the report `--format` asks for, as on every report; the SVG has an option of its own, and an
/// `-o *.svg` (what drew it once) is refused rather than given a table. The usage of docs/ANALYZER.md works.
#[test]
fn output_receives_the_format_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("d.json");
    let out = run(&["--format", "json", "-o", json.to_str().unwrap(), "before.log", "after.log"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(v.is_object());
    let svg = dir.path().join("d.svg");
    let out = run(&["-o", svg.to_str().unwrap(), "before.log", "after.log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--flamegraph"), "{}", stderr(&out));
    assert!(!svg.exists());
    // Options before the sides: after `--` everything is the after side.
    let gated =
        run(&["--fail-on", "mean:+20%", "--flamegraph", svg.to_str().unwrap(), "before.log", "--", "after.log"]);
    assert_eq!(gated.status.code(), Some(1), "{}", stderr(&gated));
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<?xml"));
}

/// A small generated workload: 300 functions, 2 processes of 2 threads.
fn workload(run_seed: u64, slowdown: Option<(u32, f64)>) -> GenOptions {
    GenOptions {
        seed: 7,
        run_seed: Some(run_seed),
        slowdown,
        // What pylu-gen wrote for 3 MiB before it counted the blocks threads hold unwritten: the runs' samples (and
        // so their noise) as the rules below were set for.
        target_bytes: (3 << 20) + (128 << 10),
        processes: 2,
        threads_per_process: 2,
        functions: 300,
        ..GenOptions::default()
    }
}

fn side(dir: &Path, runs: &[GenOptions]) -> Side {
    let mut side = Side::new(dir.display().to_string());
    for (i, o) in runs.iter().enumerate() {
        let d = dir.join(format!("run{i}"));
        write_binary_dir(o, &d).unwrap();
        side.add_run(&analyze_paths(&discover(&[d]).unwrap(), &Options::default()).unwrap());
    }
    side
}

fn rules() -> Vec<Rule> {
    ["mean:+5%", "p95:+10%", "p50:+10%", "self:+20%"].iter().map(|r| r.parse().unwrap()).collect()
}

#[test]
fn no_false_alarm_between_runs_of_one_program() {
    let dir = tempfile::tempdir().unwrap();
    for seed in [1, 2, 3] {
        let before = side(&dir.path().join(format!("b{seed}")), &[workload(seed, None)]);
        let after = side(&dir.path().join(format!("a{seed}")), &[workload(seed + 100, None)]);
        let d = diff(&before, &after, &DiffOptions { min_hits: 30, ..Default::default() }).unwrap();
        assert!(d.rows.len() > 50, "{} functions compared", d.rows.len());
        let v = gate::check(&d, &rules(), true);
        assert!(v.is_empty(), "seed {seed}: {:?}", v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    }
}

#[test]
fn one_function_made_slower_is_flagged_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let before = side(&dir.path().join("b"), &[workload(1, None), workload(2, None)]);
    // The slowed function: one with many calls that spends its time in its own body (a leaf).
    let names = function_names(&workload(1, None));
    let (index, name) = before
        .funcs
        .iter()
        .filter(|(_, f)| f.runs.iter().all(|r| r.hits >= 300 && r.self_ns * 10 >= r.total_ns * 9))
        .filter_map(|(name, _)| {
            names.iter().position(|(m, q)| name.contains(m.as_str()) && name.contains(q.as_str())).map(|i| (i, name))
        })
        .next()
        .expect("a leaf called often");
    let after = side(
        &dir.path().join("a"),
        &[workload(11, Some((index as u32, 1.5))), workload(12, Some((index as u32, 1.5)))],
    );
    let d = diff(&before, &after, &DiffOptions { min_hits: 30, ..Default::default() }).unwrap();
    let v = gate::check(&d, &rules(), true);
    let flagged: std::collections::BTreeSet<&str> = v.iter().map(|x| x.function.as_str()).collect();
    assert_eq!(
        flagged.into_iter().collect::<Vec<_>>(),
        vec![name.as_str()],
        "{:?}",
        v.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    );
    let row = d.rows.iter().find(|r| &r.name == name).unwrap();
    // The median call (the mean swings with the rare long I/O waits of the model, see docs/DIFF.md).
    let p50 = row.change(Metric::P50);
    assert!(p50.significant && (p50.percent.unwrap() - 50.0).abs() < 15.0, "{row:?}");
    assert_eq!(&d.rows[0].name, name, "the largest significant change first");
}

#[test]
fn split_at_update_compares_one_trace_before_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t");
    write_binary_dir(&GenOptions { target_bytes: 2 << 20, processes: 1, ..GenOptions::default() }, &trace).unwrap();
    let t = trace.to_str().unwrap();
    let out = run(&["-q", "--format", "json", "--split-at-update", "1", t]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["before"]["label"], format!("{t} before update 1"));
    assert_eq!(json["after"]["label"], format!("{t} after update 1"));
    // The calls are split between the sides: each side has some, and together about all of the trace's.
    let whole = analyze_paths(&discover(std::slice::from_ref(&trace)).unwrap(), &Options::default()).unwrap();
    let mut all = Side::new(String::new());
    all.add_run(&whole);
    let (mut before, mut after, mut total) = (0.0, 0.0, 0.0);
    for f in json["functions"].as_array().unwrap() {
        let hits = &f["metrics"]["hits"];
        before += hits["before"].as_f64().unwrap();
        after += hits["after"].as_f64().unwrap();
        total += all.funcs[f["name"].as_str().unwrap()].value(Metric::Hits);
    }
    assert!(before > 0.0 && after > 0.0);
    assert!((before + after - total).abs() <= total * 0.01, "{before} + {after} vs {total}");
    // Two processes' traces: each numbers its updates from 1, so the split is refused rather than mixed.
    let two = dir.path().join("two");
    write_binary_dir(&GenOptions { target_bytes: 1 << 20, processes: 2, ..GenOptions::default() }, &two).unwrap();
    let two = two.to_str().unwrap();
    for (args, says) in [
        (vec!["--split-at-update", "999", t], "no update 999"),
        (vec!["--split-at-update", "1", t, t], "one trace"),
        (vec!["--split-at-update", "1", two], "update numbers are per process"),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says) && stderr(&out).lines().count() == 1, "{}", stderr(&out));
    }
}
