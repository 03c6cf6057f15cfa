//! `pylu-analyze export`: golden Chrome, speedscope and pstats files of the fixtures; timelines that nest per
//! thread; pstats counts equal to the summary's; Parquet files where they should be; errors as one line.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, RwLock};

use pylu_analyzer::export::pstats::PstatsSink;
use pylu_analyzer::export::replay::{replay, Funcs, ReplayOptions};
use pylu_analyzer::export::{run, ExportArgs, ExportFormat};
use pylu_analyzer::report::summary::{function_stats, SortBy};
use pylu_analyzer::{Input, Selection};
use serde_json::Value;

use crate::common::*;

fn args(format: ExportFormat, inputs: &[PathBuf], output: &Path) -> ExportArgs {
    ExportArgs {
        format,
        inputs: inputs.to_vec(),
        output: output.to_owned(),
        quiet: true,
        row_group_size: 262_144,
        compression: "zstd".into(),
        partition: false,
        from: None,
        to: None,
        min_dur: None,
    }
}

fn export(format: ExportFormat, inputs: &[PathBuf]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_eq!(run(&args(format, inputs, &out)).unwrap(), 0);
    std::fs::read(out).unwrap()
}

fn fixture_inputs() -> Vec<(&'static str, PathBuf)> {
    vec![
        ("worked", fixtures().join("worked.pylu")),
        ("two_threads", fixtures().join("two_threads.log")),
        ("demo", fixtures().join("../demo/service.pylu")),
    ]
}

#[test]
fn golden_chrome_speedscope_and_pstats() {
    for (stem, input) in fixture_inputs() {
        let input = [input];
        // The demo's timelines are most of a megabyte: its pstats file stands for it.
        if stem != "demo" {
            check_golden(&format!("{stem}.chrome.json"), &export(ExportFormat::Chrome, &input));
            check_golden(&format!("{stem}.speedscope.json"), &export(ExportFormat::Speedscope, &input));
        }
        check_golden(&format!("{stem}.prof"), &export(ExportFormat::Pstats, &input));
    }
}

/// Every complete event of a thread lies inside the events that enclose it, and metadata names each thread.
fn assert_chrome_nests(doc: &Value) {
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    let mut per_thread: BTreeMap<(u64, u64), Vec<(f64, f64)>> = BTreeMap::new();
    let mut named = std::collections::HashSet::new();
    for e in events {
        let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        assert!(key.1 < 1 << 16, "small thread ids: {e}");
        match e["ph"].as_str().unwrap() {
            "X" => {
                assert!(e["name"].is_string(), "{e}");
                let ts = e["ts"].as_f64().unwrap();
                let dur = e["dur"].as_f64().unwrap();
                assert!(ts >= 0.0 && dur >= 0.0, "{e}");
                per_thread.entry(key).or_default().push((ts, ts + dur));
            }
            "M" => {
                if e["name"] == "thread_name" {
                    named.insert(key);
                }
                assert!(e["args"]["name"].is_string() || e["args"]["sort_index"].is_number(), "{e}");
            }
            "i" => assert!(e["ts"].as_f64().is_some(), "{e}"),
            other => panic!("unexpected phase {other}"),
        }
    }
    for (key, mut spans) in per_thread {
        assert!(named.contains(&key), "thread {key:?} has no name");
        spans.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(b.1.partial_cmp(&a.1).unwrap()));
        let mut open: Vec<f64> = Vec::new();
        for (s, e) in spans {
            while open.last().is_some_and(|&end| end <= s) {
                open.pop();
            }
            if let Some(&end) = open.last() {
                // Ends are printed to the ns: compare at that precision.
                assert!(e <= end + 1e-6, "thread {key:?}: span {s}..{e} leaves its parent ending at {end}");
            }
            open.push(e);
        }
    }
}

/// Each profile's events are in time order, close only the frame on top, and close everything they open.
fn assert_speedscope_valid(doc: &Value) {
    assert_eq!(doc["$schema"], "https://www.speedscope.app/file-format-schema.json");
    let frames = doc["shared"]["frames"].as_array().expect("shared.frames");
    for f in frames {
        assert!(f["name"].is_string(), "{f}");
    }
    for p in doc["profiles"].as_array().expect("profiles") {
        assert_eq!(p["type"], "evented");
        assert_eq!(p["unit"], "nanoseconds");
        assert!(p["name"].is_string());
        let start = p["startValue"].as_f64().unwrap();
        let end = p["endValue"].as_f64().unwrap();
        let mut stack = Vec::new();
        let mut last = start;
        for e in p["events"].as_array().unwrap() {
            let at = e["at"].as_f64().unwrap();
            assert!(at >= last && at <= end, "{e} out of order ({last}..{end})");
            last = at;
            let frame = e["frame"].as_u64().unwrap() as usize;
            assert!(frame < frames.len());
            match e["type"].as_str().unwrap() {
                "O" => stack.push(frame),
                "C" => assert_eq!(stack.pop(), Some(frame), "{e} closes a frame not on top"),
                t => panic!("event type {t}"),
            }
        }
        assert!(stack.is_empty(), "frames left open: {stack:?}");
    }
}

fn generator_trace(dir: &Path) -> PathBuf {
    // main calls gen (suspends twice, other calls in between), recursion in walk, and a call never closed.
    let events = vec![
        Ev::Enter(0, 1_000),
        Ev::Enter(1, 2_000),
        Ev::Suspend(1, 3_000),
        Ev::Enter(2, 4_000),
        Ev::Enter(2, 5_000),
        Ev::Enter(2, 6_000),
        Ev::Exit(2, 7_000),
        Ev::Exit(2, 9_000),
        Ev::Raise(2, 12_000),
        Ev::Resume(1, 13_000),
        Ev::Suspend(1, 15_000),
        Ev::Resume(1, 16_000),
        Ev::Exit(1, 20_000),
        Ev::Enter(3, 21_000),
        Ev::Exit(0, 30_000),
        Ev::Enter(0, 31_000),
    ];
    let funcs = [("main", "app"), ("gen", "app"), ("walk", "app.tree"), ("lost", "app")];
    let worker = vec![Ev::Enter(2, 1_500), Ev::Enter(1, 2_500), Ev::Exit(1, 3_500), Ev::Exit(2, 8_000)];
    let bytes = build_trace(
        4242,
        &funcs,
        &[ThreadSpec { tid: 7, name: "MainThread", events }, ThreadSpec { tid: 8, name: "worker", events: worker }],
        3,
    );
    write_temp(dir, "gen.pylu", &bytes)
}

#[test]
fn timelines_nest_and_speedscope_is_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs: Vec<PathBuf> = fixture_inputs().into_iter().map(|(_, p)| p).collect();
    inputs.push(fixtures().join("unclosed_root.log"));
    inputs.push(fixtures().join("recursive_root.log"));
    inputs.push(generator_trace(dir.path()));
    for input in inputs {
        let input = [input];
        let chrome: Value = serde_json::from_slice(&export(ExportFormat::Chrome, &input)).unwrap();
        assert_chrome_nests(&chrome);
        let speedscope: Value = serde_json::from_slice(&export(ExportFormat::Speedscope, &input)).unwrap();
        assert_speedscope_valid(&speedscope);
    }
}

#[test]
fn a_generator_is_drawn_once_per_stretch() {
    let dir = tempfile::tempdir().unwrap();
    let chrome: Value = serde_json::from_slice(&export(ExportFormat::Chrome, &[generator_trace(dir.path())])).unwrap();
    let gen: Vec<(f64, f64)> = chrome["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "app.gen" && e["tid"] == 1)
        .map(|e| (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap()))
        .collect();
    // Origin is main's enter (1 µs): stretches 2-3, 13-15, 16-20 µs.
    assert_eq!(gen, [(1.0, 1.0), (12.0, 2.0), (15.0, 4.0)]);
}

#[test]
fn windows_and_minimum_durations_cut_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let input = [generator_trace(dir.path())];
    let out = dir.path().join("w.json");
    let mut a = args(ExportFormat::Chrome, &input, &out);
    // The clock anchor maps monotonic 0 to WALL0; keep 4..12 µs and stretches of at least 2 µs.
    let from = WALL0 + 4_000;
    let to = WALL0 + 12_000;
    a.from = Some(format!("{}.{:09}", from / 1_000_000_000, from % 1_000_000_000));
    a.to = Some(format!("{}.{:09}", to / 1_000_000_000, to % 1_000_000_000));
    a.min_dur = Some("2us".into());
    assert_eq!(run(&a).unwrap(), 0);
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let mut spans: Vec<(String, f64)> = doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e["dur"].as_f64().unwrap()))
        .collect();
    spans.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // main cut to 8 µs; walk (outer, 8), walk (middle 4); the worker's walk cut to 4..8 = 4; the innermost walk
    // (1 µs) is too short.
    assert_eq!(
        spans,
        [
            ("app.main".into(), 8.0),
            ("app.tree.walk".into(), 4.0),
            ("app.tree.walk".into(), 4.0),
            ("app.tree.walk".into(), 8.0)
        ]
    );
}

/// The replay of `path` into pstats' counts, with the functions it numbered.
fn pstats_of(path: &Path) -> (Funcs, PstatsSink) {
    let inputs = vec![Input::open(path).unwrap()];
    let funcs = RwLock::new(Funcs::default());
    let total = Mutex::new(PstatsSink::default());
    replay(
        &inputs,
        ReplayOptions { recursion: true, ..Default::default() },
        &funcs,
        |_| PstatsSink::default(),
        |_, s| total.lock().unwrap().merge(s),
    );
    (funcs.into_inner().unwrap(), total.into_inner().unwrap())
}

/// cProfile's invariants, which pstats and its viewers rely on: primitive calls at most all calls and at least
/// one when there are calls; cumulative time at least the own time (per function and per caller pair).
fn assert_pstats_invariants(funcs: &Funcs, stats: &PstatsSink) -> Result<(), String> {
    let name = |f: u32| funcs.list[f as usize].name.clone();
    let keyed = stats.funcs.iter().map(|(&f, c)| (name(f), c));
    let pairs = stats.pairs.iter().map(|(&(caller, f), c)| (format!("{} -> {}", name(caller), name(f)), c));
    for (what, c) in keyed.chain(pairs) {
        if c.cc > c.nc || (c.nc > 0 && c.cc == 0) || c.ct_ns < c.tt_ns {
            return Err(format!("{what}: {c:?}"));
        }
    }
    Ok(())
}

/// A recursive call inside a call of its function that never ended (the caller's exit cut it) is an outermost
/// call: pstats had `1/0` calls and a cumulative time of 0 under 3 ms of own time.
#[test]
fn recursion_under_a_call_that_never_ended_counts_as_outermost() {
    let dir = tempfile::tempdir().unwrap();
    // outer → f → f (3 ms) ; outer's exit cuts the outer f. Then f → f → f, the inner two ending, the outer
    // one never.
    let events = vec![
        Ev::Enter(0, 0),
        Ev::Enter(1, 1_000_000),
        Ev::Enter(1, 2_000_000),
        Ev::Exit(1, 5_000_000),
        Ev::Exit(0, 10_000_000),
        Ev::Enter(1, 11_000_000),
        Ev::Enter(1, 12_000_000),
        Ev::Enter(1, 13_000_000),
        Ev::Exit(1, 14_000_000),
        Ev::Exit(1, 16_000_000),
    ];
    let threads = [ThreadSpec { tid: 1, name: "MainThread", events }];
    let path = write_temp(dir.path(), "rec.pylu", &build_trace(1, &[("outer", "a"), ("f", "a")], &threads, 64));
    let (funcs, stats) = pstats_of(&path);
    let f = funcs.list.iter().position(|f| f.name == "a.f").unwrap() as u32;
    let c = stats.funcs[&f];
    // Calls: the 3 ms one (outermost: its f never ended), the 4 ms one (outermost), the 1 ms one inside it.
    assert_eq!((c.nc, c.cc, c.tt_ns, c.ct_ns), (3, 2, 3_000_000 + 3_000_000 + 1_000_000, 7_000_000));
    assert_pstats_invariants(&funcs, &stats).unwrap();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 96, ..Default::default() })]

    /// Over random threads (recursion, calls cut by an exit below them, generators, calls open at the end), the
    /// pstats counts keep cProfile's invariants, count the calls the summary counts as ended, and equal its
    /// hits, self and total times when no call was cut or left open.
    #[test]
    fn pstats_keep_cprofiles_invariants(
        ops in proptest::collection::vec((proptest::prelude::any::<u8>(), proptest::prelude::any::<u8>(), 0u16..500), 0..200),
        per_block in 1usize..8,
    ) {
        let (events, _, _) = crate::properties::thread_events(&ops);
        let threads = [ThreadSpec { tid: 1, name: "MainThread", events }];
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(dir.path(), "t.pylu", &build_trace(7, &crate::properties::FUNCS, &threads, per_block));
        let (funcs, stats) = pstats_of(&path);
        if let Err(e) = assert_pstats_invariants(&funcs, &stats) {
            proptest::prop_assert!(false, "{}", e);
        }
        let a = analyze_files(std::slice::from_ref(&path), 1 << 20);
        let clean = a.warnings.cut_calls + a.warnings.unfinished == 0;
        for s in function_stats(&a, &Selection::default().views(&a), SortBy::Total) {
            let f = funcs.list.iter().position(|f| f.name == s.name).unwrap() as u32;
            let c = stats.funcs.get(&f).copied().unwrap_or_default();
            proptest::prop_assert_eq!(c.nc, s.stats.hits - s.unfinished.calls, "{}", s.name);
            if clean {
                proptest::prop_assert_eq!((c.tt_ns, c.ct_ns), (s.self_ns, s.total_ns), "{}", s.name);
            }
        }
    }
}

/// pstats' counts per function from the replay equal the summary's hits, self and total, wherever the trace
/// has no calls cut off (the summary counts their children's time in their total; pstats has no such call).
#[test]
fn pstats_counts_equal_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let traces = [
        fixtures().join("two_threads.log"),
        fixtures().join("recursive_root.log"),
        fixtures().join("../demo/service.pylu"),
        generator_trace(dir.path()),
        fixtures().join("worked.pylu"),
    ];
    for path in traces {
        let (funcs, total) = pstats_of(&path);
        let mut by_name: HashMap<&str, (u64, u64, u64)> = HashMap::new();
        for (f, c) in &total.funcs {
            let e = by_name.entry(funcs.list[*f as usize].name.as_str()).or_default();
            e.0 += c.nc;
            e.1 += c.tt_ns;
            e.2 += c.ct_ns;
        }
        let a = analyze_files(std::slice::from_ref(&path), 1 << 20);
        let stats = function_stats(&a, &Selection::default().views(&a), SortBy::Total);
        assert!(!stats.is_empty());
        for s in stats.iter().filter(|s| s.stats.hits > 0) {
            let got = by_name.get(s.name.as_str()).copied().unwrap_or_default();
            // The replay counts the calls that ended: the summary's hits less its unfinished calls.
            if a.warnings.cut_calls + a.warnings.unfinished == 0 {
                assert_eq!(got, (s.stats.hits, s.self_ns, s.total_ns), "{}: {}", path.display(), s.name);
            } else {
                assert_eq!(got.0, s.stats.hits - s.unfinished.calls, "{}: {}", path.display(), s.name);
            }
        }
    }
}

fn cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pylu-analyze"))
}

#[test]
fn bad_arguments_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("worked.pylu");
    for extra in [
        vec!["parquet", "--compression", "lzma"],
        vec!["chrome", "--partition"],
        vec!["chrome", "--min-dur", "fast"],
        vec!["pstats", "--from", "0"],
    ] {
        let out = cmd().arg("export").args(&extra).arg(&input).arg("-o").arg(dir.path().join("x")).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{extra:?}: {err}");
    }
    let out = cmd().args(["export", "pstats", "/nonexistent/t.pylu", "-o"]).arg(dir.path().join("y")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_tables_and_partitions_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let gen = generator_trace(dir.path());
    let out = dir.path().join("flat");
    let o = cmd()
        .args(["export", "parquet", "--row-group-size", "2"])
        .arg(&gen)
        .arg(fixtures().join("two_threads.log"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    // gen: 7 closed calls (main, gen, 3 walks; the worker's walk and gen), `lost` and the second main never
    // closed; two_threads.log: 4 closed, and a query that never ended.
    assert!(err.contains("11 calls (3 never closed"), "{err}");
    for t in ["calls", "functions", "stacks", "lines", "events", "updates"] {
        let bytes = std::fs::read(out.join(format!("{t}.parquet"))).unwrap();
        assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"), "{t}");
    }
    let parts = dir.path().join("parts");
    let o = cmd()
        .args(["export", "parquet", "-q", "--partition"])
        .arg(&gen)
        .arg(fixtures().join("two_threads.log"))
        .arg("-o")
        .arg(&parts)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(parts.join("host=test-host/pid=4242/calls.parquet").is_file());
    assert!(parts.join("host=unknown/pid=4510/calls.parquet").is_file());
    assert!(parts.join("host=unknown/pid=4510/functions.parquet").is_file());
}

/// The speedscope file is written as it goes: what writing it allocates does not grow with the spans (built as
/// JSON values first, each event took ~3 KB).
#[test]
fn speedscope_is_written_without_holding_its_events() {
    use pylu_analyzer::export::replay::{Func, ThreadMeta};
    use pylu_analyzer::export::speedscope;
    use pylu_analyzer::export::timeline::{Span, ThreadLine, Window};
    let funcs: Vec<Func> = (0..3)
        .map(|k| Func {
            name: format!("m.f{k}"),
            module: "m".into(),
            qualname: format!("f{k}"),
            file: "/srv/m.py".into(),
            first_line: k,
        })
        .collect();
    let line = |spans: i64| {
        let meta = ThreadMeta { host: "h".into(), pid: 1, tid: 2, ordinal: 0, text_log: false };
        let mut t = ThreadLine::new(meta, Window::default());
        for i in 0..spans {
            // A call and a call inside it.
            let (func, start, end) =
                if i % 2 == 0 { (0, 10 * i, 10 * i + 9) } else { (1 + (i % 4) as u32 / 2, 10 * i - 8, 10 * i - 2) };
            t.spans.push(Span { start, end, func, depth: (i % 2) as u32, raised: false, args: Vec::new() });
        }
        t.nest();
        t
    };
    let (small, big) = ([line(1_000)], [line(100_000)]);
    let write = |t: &[ThreadLine]| allocated_by(|| speedscope::write(t, &funcs, &mut std::io::sink()).unwrap()).1;
    let (a_small, a_big) = (write(&small), write(&big));
    assert!(a_big <= a_small + 1024, "{a_small} bytes allocated for 1,000 spans, {a_big} for 100,000");
}
