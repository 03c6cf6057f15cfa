//! The binaries as users run them: exit codes, outputs, closed pipes, thread-count independence.

use std::process::Command;

use crate::common::*;

fn analyze_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pylu-analyze"))
}

fn formats_fixture(name: &str) -> std::path::PathBuf {
    fixtures().join("../binary").join(name)
}

#[test]
fn exit_codes() {
    let ok = analyze_cmd().args(["summary", "-q"]).arg(fixtures().join("two_threads.log")).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let damaged =
        analyze_cmd().args(["summary", "-q"]).arg(formats_fixture("corrupt_middle_block.pylu")).output().unwrap();
    assert_eq!(damaged.status.code(), Some(1));
    let err = String::from_utf8_lossy(&damaged.stderr);
    assert!(err.contains("corrupt_middle_block.pylu: offset "), "{err}");
    let missing = analyze_cmd().args(["summary", "/nonexistent/trace.pylu"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/trace.pylu"), "{err}");
    let bad_regex =
        analyze_cmd().args(["folded", "--func", "("]).arg(fixtures().join("two_threads.log")).output().unwrap();
    assert_eq!(bad_regex.status.code(), Some(2));
}

/// A recursive request handler whose calls span more events than `--text-read-ahead`: the log is read again
/// further ahead, which the CLI says, and the result is right.
#[test]
fn read_again_further_ahead() {
    let log = crate::common::fixtures().join("recursive_root.log");
    let out = analyze_cmd().args(["folded", "--text-read-ahead", "1"]).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("note: text logs read again 64 events ahead"), "{err}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn processlogs_writes_three_files_and_the_original_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pylu-processlogs"))
        .arg("-i")
        .arg(fixtures().join("two_threads.log"))
        .arg("-o")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("generate summary: ") && last.contains(" and flamegraph: "), "{last}");
    let folded = std::fs::read_to_string(dir.path().join("two_threads.log.folded")).unwrap();
    assert_eq!(folded.lines().next(), Some("4510-MainThread;views.handle 7500"));
    assert!(std::fs::read_to_string(dir.path().join("two_threads.log.summary")).unwrap().contains("views.handle"));
    assert!(std::fs::read_to_string(dir.path().join("two_threads.log.svg")).unwrap().starts_with("<?xml"));
}

fn generated(dir: &std::path::Path) -> std::path::PathBuf {
    let opts = pylu_gen::GenOptions { target_bytes: 3 << 20, processes: 2, ..Default::default() };
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    pylu_gen::write_binary_dir(&opts, &bin).unwrap();
    let f = std::fs::File::create(dir.join("app.log")).unwrap();
    pylu_gen::write_legacy(&pylu_gen::GenOptions { target_bytes: 2 << 20, ..opts }, std::io::BufWriter::new(f))
        .unwrap();
    dir.to_owned()
}

#[test]
fn one_thread_and_default_give_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = generated(dir.path());
    let run = |threads: Option<&str>, args: &[&str]| {
        let mut c = analyze_cmd();
        c.args(args).arg(d.join("bin")).arg(d.join("app.log")).args(["-q", "--chunk-mib", "1"]);
        if let Some(t) = threads {
            c.env("RAYON_NUM_THREADS", t);
        }
        let out = c.output().unwrap();
        assert!(out.status.code().unwrap() <= 1, "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    for args in [&["folded"][..], &["summary", "--format", "json"][..], &["flamegraph"][..]] {
        let one = run(Some("1"), args);
        assert!(!one.is_empty());
        assert!(one == run(None, args), "{args:?} differs between RAYON_NUM_THREADS=1 and the default");
    }
}

#[test]
fn a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = generated(dir.path());
    let out = close_after_16_bytes(analyze_cmd().args(["folded", "-q"]).arg(d.join("bin")));
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("error"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn filters() {
    let log = fixtures().join("two_threads.log");
    let run = |args: &[&str]| {
        let out = analyze_cmd().args(args).arg(&log).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        run(&["folded", "--thread", "Thread-1"]),
        "4510-Thread-1;jobs.worker 3000\n4510-Thread-1;jobs.worker;db.query 1000\n"
    );
    assert_eq!(
        run(&["folded", "--func", "^db\\."]),
        "4510-MainThread;views.handle;db.query 2500\n4510-Thread-1;jobs.worker;db.query 1000\n"
    );
    assert_eq!(run(&["folded", "--merge-threads"]).lines().count(), 4);
    assert!(run(&["folded", "--merge-threads"]).starts_with("4510;"));
    assert_eq!(run(&["folded", "--pid", "1"]), "");
    // Worker ran 12:28:16.002–.006: from .005 on only handle's exit is in the window (its enter is not).
    assert_eq!(run(&["folded", "--since", "2020-05-10 12:28:16.0045"]), "");
    // A thread left without calls is named once, not given a heading over an empty table.
    let emptied = run(&["summary", "--since", "2020-05-10 12:28:16.0045"]);
    assert!(!emptied.contains("4510-MainThread:"), "{emptied}");
    assert!(
        emptied.contains("(2 threads without profiled calls not shown: 4510-MainThread, 4510-Thread-1)"),
        "{emptied}"
    );
    let one_left = run(&["summary", "--func", "^jobs\\."]);
    assert!(one_left.contains("4510-Thread-1: 2 calls"), "{one_left}");
    assert!(one_left.contains("(1 thread without profiled calls not shown: 4510-MainThread)"), "{one_left}");
    assert!(!run(&["summary"]).contains("without profiled calls"));
    assert_eq!(
        run(&["folded", "--until", "2020-05-10 12:28:16.0065", "--thread", "Thread-1"]),
        "4510-Thread-1;jobs.worker 3000\n4510-Thread-1;jobs.worker;db.query 1000\n"
    );
    let json: serde_json::Value = serde_json::from_str(&run(&["summary", "--format", "json"])).unwrap();
    let f = &json["functions"][0];
    assert_eq!(f["function"], "views.handle");
    assert_eq!(f["self_us"], 7500.0);
    assert_eq!(json["threads"][1]["thread"], "Thread-1");
    assert_eq!(json["threads"][1]["tree"][0]["children"][0]["function"], "db.query");
    let ev: serde_json::Value = serde_json::from_str(&run(&["events", "--format", "json"])).unwrap();
    assert_eq!(ev[0]["time"], "2020-05-10T12:28:16.005000000Z");
    assert_eq!(ev[0]["kind"], "parameters");
}

#[test]
fn rotated_logs_globs_and_mixed_formats() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixtures().join("two_threads.log");
    std::fs::copy(&log, dir.path().join("app.log")).unwrap();
    std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    std::fs::copy(formats_fixture("two_threads.pylu"), dir.path().join("trace.pylu")).unwrap();
    let csv = |args: &[&str]| {
        let out = analyze_cmd().args(["summary", "-q", "--format", "csv"]).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // Naming the log brings its rotated backup: every hit twice.
    let s = csv(&[dir.path().join("app.log").to_str().unwrap()]);
    assert!(s.contains("\nviews.handle,2,20000,15000,"), "{s}");
    // A directory (or a glob) mixes the binary trace in.
    let all = csv(&[dir.path().to_str().unwrap()]);
    assert!(all.contains("\nviews.handle,2,20000,15000,") && all.lines().count() > s.lines().count(), "{all}");
    let glob = csv(&[&format!("{}/*.pylu", dir.path().display())]);
    assert!(!glob.contains("views.handle") && glob.lines().count() > 1, "{glob}");
}

/// Without `collect_lines` (summary, folded, flamegraph) nothing but the line timings changes: the same
/// functions (a function only line records name still gets its `<function #id>`), trees and reports.
#[test]
fn lines_not_collected_change_nothing_else() {
    use pylu_analyzer::{analyze, Input, Options};
    let dir = tempfile::tempdir().unwrap();
    let d = generated(dir.path());
    // A thread whose line records (and only those) name a function the file never defines.
    let mut trace = crate::common::build_trace(
        7,
        &[("f", "m")],
        &[crate::common::ThreadSpec {
            tid: 1,
            name: "t",
            events: vec![crate::common::Ev::Enter(0, 10), crate::common::Ev::Exit(0, 20)],
        }],
        1,
    );
    let mut enc = pylu_formats::BlockEncoder::new(1, 1 << 16);
    enc.line(99, 3, 5, 30);
    enc.line(0, 2, 5, 40);
    enc.line(99, 4, 5, 50);
    assert!(enc.seal_into(&mut trace));
    crate::common::write_temp(&d, "lines.pylu", &trace);
    let mut paths = pylu_analyzer::discover(&[d.join("bin")]).unwrap();
    paths.push(d.join("app.log"));
    paths.push(d.join("lines.pylu"));
    let inputs: Vec<Input> = paths.iter().map(|p| Input::open(p).unwrap()).collect();
    let run = |collect_lines| analyze(&inputs, &Options { chunk_bytes: 1 << 20, collect_lines, ..Options::default() });
    let (with, without) = (run(true), run(false));
    assert!(with.functions.iter().any(|f| f.name == "<function #99>"));
    assert_eq!(format!("{:?}", with.functions), format!("{:?}", without.functions));
    assert!(with.threads.iter().any(|t| !t.lines.is_empty()));
    assert!(without.threads.iter().all(|t| t.lines.is_empty()));
    assert_eq!(crate::common::folded(&with), crate::common::folded(&without));
    assert_eq!(crate::common::summary_json(&with), crate::common::summary_json(&without));
}

#[test]
fn idle_threads_of_a_pool_are_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..12).map(|i| format!("pool-{i:02}")).collect();
    let mut threads: Vec<ThreadSpec<'_>> =
        names.iter().enumerate().map(|(i, n)| ThreadSpec { tid: 100 + i as u64, name: n, events: vec![] }).collect();
    threads.push(ThreadSpec { tid: 1, name: "MainThread", events: vec![Ev::Enter(0, 1_000), Ev::Exit(0, 3_000)] });
    let path = write_temp(dir.path(), "pool.pylu", &build_trace(7, &[("serve", "app")], &threads, 8));
    let out = analyze_cmd().arg("summary").arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("7-MainThread: 1 calls, 0.002 ms\n"), "{text}");
    let line = text.lines().find(|l| l.contains("without profiled calls")).expect("the idle threads' line");
    assert_eq!(
        line,
        "(12 threads without profiled calls not shown: 7-pool-00, 7-pool-01, 7-pool-02, 7-pool-03, 7-pool-04, \
         7-pool-05, 7-pool-06, 7-pool-07, 7-pool-08, 7-pool-09 and 2 more)"
    );
    assert!(!text.contains("7-pool-00:"), "{text}");

    // Threads of one process that share a name (a command thread per connection) are named once, with a count.
    let mut threads: Vec<ThreadSpec<'_>> =
        (0..3).map(|i| ThreadSpec { tid: 200 + i, name: "pylu-command", events: vec![] }).collect();
    threads.push(ThreadSpec { tid: 300, name: "worker", events: vec![] });
    threads.push(ThreadSpec { tid: 1, name: "MainThread", events: vec![Ev::Enter(0, 1_000), Ev::Exit(0, 3_000)] });
    let path = write_temp(dir.path(), "same.pylu", &build_trace(7, &[("serve", "app")], &threads, 8));
    let out = analyze_cmd().arg("summary").arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.contains("without profiled calls")).expect("the idle threads' line");
    assert_eq!(line, "(4 threads without profiled calls not shown: 7-pylu-command ×3, 7-worker)");
}

/// `lines` shows a line's source when the file the trace names is a readable module, and reads nothing else: a
/// FIFO (opening it waited for a writer forever), `/dev/zero` (read to the end, it filled memory).
#[test]
fn lines_read_only_regular_source_files() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("m.py");
    std::fs::write(&module, "def f():\n    return 1\n").unwrap();
    let fifo = dir.path().join("fifo.py");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut log = String::new();
    for (k, file) in [module.to_str().unwrap(), fifo.to_str().unwrap(), "/dev/zero"].iter().enumerate() {
        let head = format!("2024-03-01 09:00:00,000; MainProcess; 4510; MainThread; 1001; {file}; 2; m{k}; f;");
        log += &format!("{head} func_begin; 1709283600.0\n{head} 0.5000 ms\n{head} func_end; 1.0; 1709283600.001\n");
    }
    let path = write_temp(dir.path(), "src.log", log.as_bytes());
    let out = analyze_cmd().args(["lines", "-q", "--format", "json"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sources: Vec<(&str, Option<&str>)> =
        rows.as_array().unwrap().iter().map(|r| (r["function"].as_str().unwrap(), r["source"].as_str())).collect();
    assert_eq!(sources, [("m0.f", Some("return 1")), ("m1.f", None), ("m2.f", None)]);
}

/// With stdout and stderr closed (`2>&1 | head -1` after its line), every command ends quietly, and with only
/// stderr closed, with its own exit code: nothing it prints may panic (a panic exits 101).
#[cfg(unix)]
#[test]
fn closed_stdout_and_stderr_do_not_panic() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let log = fixtures().join("two_threads.log");
    let damaged =
        write_temp(dir.path(), "damaged.log", &[&std::fs::read(&log).unwrap()[..], b"not a record\n"].concat());
    let closed = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Stdio::from(writer)
    };
    let (out, report) = (dir.path().join("out"), dir.path().join("report.txt"));
    let processlogs = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pylu-processlogs"));
        c.arg("-i").arg(&damaged).arg("-o").arg(&out);
        c
    };
    let summary = |to_file: bool| {
        let mut c = analyze_cmd();
        c.arg("summary").arg(&damaged);
        if to_file {
            c.arg("-o").arg(&report);
        }
        c
    };
    let diff = || {
        let mut c = analyze_cmd();
        c.args(["diff", "--fail-on", "hits:+0%"]).arg(&log).arg(&damaged);
        c
    };
    // (command, whether stdout is closed too, the exit code): 0 where the closed stdout ends the run quietly,
    // else the command's own (1: damaged input skipped; diff's 1: a rule broken — here none is).
    for (mut cmd, stdout_closed, code) in [
        (processlogs(), true, 0),
        (processlogs(), false, 1),
        (summary(false), true, 0),
        (summary(true), false, 1),
        (diff(), true, 0),
        (diff(), false, 0),
    ] {
        let stdout = if stdout_closed { closed() } else { Stdio::null() };
        let status = cmd.stdout(stdout).stderr(closed()).status().unwrap();
        assert_eq!(status.code(), Some(code), "{cmd:?}, stdout closed: {stdout_closed}");
    }
}

/// Thresholds outside what they mean are refused in one line: NaN, infinities, beyond 100 % or the drawn width.
#[test]
fn thresholds_out_of_range_are_refused() {
    let log = fixtures().join("two_threads.log");
    for args in [
        &["summary", "--min-percent", "nan"][..],
        &["summary", "--min-percent", "101"],
        &["summary", "--min-percent=-1"],
        &["flamegraph", "--min-width", "1e308"],
        &["flamegraph", "--min-width", "inf"],
    ] {
        let out = analyze_cmd().args(args).arg(&log).arg("-o").arg("/dev/null").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("from 0 to"), "{args:?}: {err}");
    }
    for args in [&["summary", "--min-percent", "0"][..], &["flamegraph", "--min-width", "0"]] {
        let out = analyze_cmd().args(args).arg(&log).arg("-o").arg("/dev/null").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// `flamegraph` drawing `.folded` files again: lines that are not `frame;frame count` are named and left out
/// (exit 1, as damaged input), a file with no stacks at all is an error (exit 2), not an "ERROR" picture.
#[test]
fn folded_input_lines_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let good = "main;views.get 12\nmain;views.get;db.query 3\n";
    let mixed = write_temp(dir.path(), "mixed.folded", format!("{good}nocount\na;c many\n;;x 5\na;b 1.5\n").as_bytes());
    let svg = dir.path().join("m.svg");
    let out = analyze_cmd().arg("flamegraph").arg(&mixed).arg("-o").arg(&svg).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let skipped: Vec<&str> = err.lines().filter(|l| l.contains("skipped:")).collect();
    assert_eq!(skipped.len(), 3, "{err}");
    assert!(skipped[0].ends_with("mixed.folded: line 3: not a folded stack: no count after the stack"), "{err}");
    assert!(skipped[2].contains("line 5: not a folded stack: an empty frame"), "{err}");
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("db.query") && !drawn.contains("ERROR"), "{drawn}");

    let clean = write_temp(dir.path(), "clean.folded", good.as_bytes());
    let out = analyze_cmd().arg("flamegraph").arg(&clean).arg("-o").arg(&svg).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    for (name, text) in [("empty.folded", ""), ("junk.folded", "nothing here\n")] {
        let path = write_temp(dir.path(), name, text.as_bytes());
        let out = analyze_cmd().arg("flamegraph").arg(&path).arg("-o").arg(&svg).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.lines().last().unwrap().contains("no folded stacks"), "{name}: {err}");
    }
}
