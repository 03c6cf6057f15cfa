//! The command-line conventions users rely on (docs/ANALYZER.md, "Command-line conventions"): `-` for stdin and
//! stdout, `-o` on every report, directories for `info`/`dump`, completions, the overwrite rule, `.folded` input
//! and merged threads in `flamegraph`, and `pylu-processlogs`'s output names as the original's.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::*;

fn analyze_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pylu-analyze"))
}

fn processlogs_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pylu-processlogs"))
}

fn two_threads() -> std::path::PathBuf {
    fixtures().join("two_threads.log")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `cmd` with `input` on its stdin.
fn with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The files in `dir`, by name, one line.
fn listing(dir: &Path) -> String {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names.join(" ")
}

/// What each way of naming the input writes and prints, against a golden file: the original's names
/// (`<input file name>.folded/.summary/.svg`, bare in the current directory) and its last line.
#[test]
fn processlogs_output_names() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::read(two_threads()).unwrap();
    std::fs::write(dir.path().join("app.log"), &log).unwrap();
    std::fs::create_dir(dir.path().join("traces")).unwrap();
    std::fs::write(dir.path().join("traces/a.log"), &log).unwrap();
    let mut report = String::new();
    let cases: [&[&str]; 5] = [
        &["-i", "app.log"],
        &["--inputfile", "app.log"],
        &["-i", "traces"],
        &["-i", "traces/"],
        &["-i", "app.log", "-o", "out"],
    ];
    for args in cases {
        let cwd = tempfile::tempdir_in(dir.path()).unwrap();
        std::fs::copy(dir.path().join("app.log"), cwd.path().join("app.log")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("traces"), cwd.path().join("traces")).unwrap();
        let out = processlogs_cmd().args(args).arg("-q").current_dir(cwd.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let written = if args.contains(&"-o") { listing(&cwd.path().join("out")) } else { listing(cwd.path()) };
        report += &format!("{}\n  files: {written}\n  stdout: {}", args.join(" "), stdout(&out));
    }
    let out = with_stdin(
        {
            let mut c = processlogs_cmd();
            c.args(["-i", "-", "-o"]).arg(dir.path().join("stdin-out"));
            c
        },
        &log,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    report += &format!("-i - -o DIR\n  files: {}\n", listing(&dir.path().join("stdin-out")));
    check_golden("processlogs_names.txt", report.as_bytes());
}

/// An input with no calls is an error in one line (the original wrote an empty folded file and an SVG saying
/// "ERROR: No valid input").
#[test]
fn processlogs_no_calls_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let out = processlogs_cmd().args(["-i", "empty"]).current_dir(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("no calls"), "{}", stderr(&out));
    assert_eq!(listing(dir.path()), "empty", "nothing written");
}

/// `-` reads stdin (the same report as from the file) and `-o -` writes stdout (no file named `-`).
#[test]
fn dash_is_stdin_and_stdout() {
    let log = std::fs::read(two_threads()).unwrap();
    let from_file = analyze_cmd().args(["folded", "-q"]).arg(two_threads()).output().unwrap();
    let mut c = analyze_cmd();
    c.args(["folded", "-q", "-", "-o", "-"]);
    let from_stdin = with_stdin(c, &log);
    assert_eq!(from_stdin.status.code(), Some(0), "{}", stderr(&from_stdin));
    assert!(!from_file.stdout.is_empty());
    assert_eq!(from_stdin.stdout, from_file.stdout);
    let mut c = analyze_cmd();
    c.args(["info", "-"]);
    let info = with_stdin(c, &log);
    assert!(stdout(&info).contains("legacy") || stdout(&info).contains("text"), "{}", stdout(&info));
}

/// Every report takes `-o FILE`, and writes there what it writes to stdout without it.
#[test]
fn every_report_takes_output() {
    let dir = tempfile::tempdir().unwrap();
    let reports: [&[&str]; 7] = [
        &["summary"],
        &["summary", "--format", "json"],
        &["folded"],
        &["flamegraph"],
        &["lines"],
        &["events"],
        &["info"],
    ];
    for args in reports.iter().chain([&["dump"][..]].iter()) {
        let file = dir.path().join("report");
        let to_stdout = analyze_cmd().args(*args).arg(two_threads()).arg("-q").output();
        // info and dump take no -q.
        let to_stdout = match to_stdout.unwrap() {
            o if o.status.code() == Some(2) => analyze_cmd().args(*args).arg(two_threads()).output().unwrap(),
            o => o,
        };
        let quiet: &[&str] = if matches!(args[0], "info" | "dump") { &[] } else { &["-q"] };
        let to_file = analyze_cmd().args(*args).args(quiet).arg(two_threads()).arg("-o").arg(&file).output().unwrap();
        assert!(to_file.status.code().unwrap() <= 1, "{args:?}: {}", stderr(&to_file));
        assert!(to_file.stdout.is_empty(), "{args:?}");
        assert!(!to_stdout.stdout.is_empty(), "{args:?}");
        assert_eq!(std::fs::read(&file).unwrap(), to_stdout.stdout, "{args:?}");
    }
}

/// The overwrite rule: `-o` replaces an existing file, but never one of the inputs.
#[test]
fn output_replaces_files_but_never_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::copy(two_threads(), &log).unwrap();
    let out_file = dir.path().join("out.folded");
    std::fs::write(&out_file, "old contents that are longer than the report will be, to see them go\n".repeat(9))
        .unwrap();
    let ok = analyze_cmd().args(["folded", "-q"]).arg(&log).arg("-o").arg(&out_file).output().unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert!(std::fs::read_to_string(&out_file).unwrap().starts_with("4510-MainThread;views.handle"));
    for input in [log.clone(), dir.path().to_owned()] {
        let refused = analyze_cmd().args(["folded", "-q"]).arg(&input).arg("-o").arg(&log).output().unwrap();
        assert_eq!(refused.status.code(), Some(2));
        assert_eq!(stderr(&refused).lines().count(), 1, "{}", stderr(&refused));
        assert!(stderr(&refused).contains("is one of the inputs"), "{}", stderr(&refused));
    }
    assert_eq!(std::fs::read(&log).unwrap(), std::fs::read(two_threads()).unwrap(), "the input is intact");
}

/// `info` and `dump` take directories and globs, like the reports.
#[test]
fn info_and_dump_take_directories_and_globs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(two_threads(), dir.path().join("a.log")).unwrap();
    std::fs::copy(fixtures().join("worked.pylu"), dir.path().join("b.pylu")).unwrap();
    for sub in ["info", "dump"] {
        let by_dir = analyze_cmd().arg(sub).arg(dir.path()).output().unwrap();
        assert_eq!(by_dir.status.code(), Some(0), "{sub}: {}", stderr(&by_dir));
        let text = stdout(&by_dir);
        assert!(text.contains("a.log <==") && text.contains("b.pylu <=="), "{sub}: {text}");
        let by_glob = analyze_cmd().arg(sub).arg(dir.path().join("*")).output().unwrap();
        assert_eq!(by_glob.stdout, by_dir.stdout, "{sub}");
    }
}

/// A completion script for each shell, naming the subcommands.
#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = analyze_cmd().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        for sub in ["summary", "folded", "flamegraph", "info", "completions"] {
            assert!(script.contains(sub), "{shell} completions do not mention {sub}");
        }
    }
    let bad = analyze_cmd().args(["completions", "nosuchshell"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// Every option has a help line, and the short help's lines stay short (details go to `--help`).
#[test]
fn every_option_has_a_short_help() {
    for sub in ["summary", "folded", "flamegraph", "lines", "events", "info", "dump", "completions"] {
        let out = analyze_cmd().args([sub, "-h"]).output().unwrap();
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if t.starts_with("--") || (t.starts_with('-') && t.len() > 1 && t.as_bytes()[1] != b'-') {
                // clap puts the help on the option's line when it fits, otherwise on the next.
                let has_help = t.contains("  ") || lines.get(i + 1).is_some_and(|n| n.starts_with("          "));
                assert!(has_help, "{sub}: {l:?} has no help");
            }
            assert!(l.len() <= 200, "{sub}: a short help line of {} characters: {l}", l.len());
        }
    }
}

/// `flamegraph` draws `.folded` files again: the same SVG as from the log.
#[test]
fn flamegraph_from_folded() {
    let dir = tempfile::tempdir().unwrap();
    let folded = dir.path().join("app.folded");
    let out =
        analyze_cmd().args(["folded", "-q", "--merge-threads"]).arg(two_threads()).arg("-o").arg(&folded).output();
    assert_eq!(out.unwrap().status.code(), Some(0));
    let from_log = analyze_cmd().args(["flamegraph", "-q"]).arg(two_threads()).output().unwrap();
    let from_folded = analyze_cmd().args(["flamegraph", "-q"]).arg(&folded).output().unwrap();
    assert_eq!(from_folded.status.code(), Some(0), "{}", stderr(&from_folded));
    assert!(stdout(&from_folded).contains("views.handle"));
    assert_eq!(from_folded.stdout, from_log.stdout);
}

/// Threads of a process are merged by default in `flamegraph`; `--per-thread` draws one tower per thread.
#[test]
fn flamegraph_merges_threads_unless_per_thread() {
    let titles = |args: &[&str]| -> Vec<String> {
        let out = analyze_cmd().args(["flamegraph", "-q"]).args(args).arg(two_threads()).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let svg = stdout(&out);
        svg.split("<title>").skip(1).map(|t| t.split(" (").next().unwrap().to_owned()).collect()
    };
    let merged = titles(&[]);
    assert!(merged.contains(&"4510".to_owned()), "{merged:?}");
    assert!(!merged.iter().any(|t| t.contains("MainThread")), "{merged:?}");
    let split = titles(&["--per-thread"]);
    assert!(split.contains(&"4510-MainThread".to_owned()) && split.contains(&"4510-Thread-1".to_owned()), "{split:?}");
}

/// The warnings line is printed once, on stderr, not in the report.
#[test]
fn warnings_once_on_stderr() {
    let log = fixtures().join("unclosed_root.log");
    let out = analyze_cmd().args(["summary", "-q"]).arg(&log).output().unwrap();
    assert_eq!(stderr(&out).matches("warning:").count(), 1, "{}", stderr(&out));
    assert!(!stdout(&out).contains("warning"), "{}", stdout(&out));
}

/// A filter that selects nothing says so on stderr, once per filter; filters that match say nothing.
#[test]
fn filters_matching_nothing_get_a_note() {
    let run = |args: &[&str]| {
        let out = analyze_cmd().args(["summary", "-q"]).args(args).arg(two_threads()).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        // The fixture has a call that never ended: its warning line is not a note.
        stderr(&out).lines().filter(|l| l.contains("note:")).map(|l| format!("{l}\n")).collect::<String>()
    };
    let one_missing = run(&["--pid", "9,4510"]);
    assert_eq!(one_missing, "pylu-analyze: note: --pid 9: no such process in the input\n");
    let no_pid = run(&["--pid", "9,8"]);
    assert!(no_pid.contains("note: --pid 9, 8: no such processes in the input"), "{no_pid}");
    let no_thread = run(&["--thread", "Thread-9,MainThread", "--thread", "77"]);
    assert_eq!(
        no_thread,
        "pylu-analyze: note: --thread Thread-9: no thread of that name or id\n\
         pylu-analyze: note: --thread 77: no thread of that name or id\n"
    );
    let no_func = run(&["--func", "nosuch"]);
    assert_eq!(no_func, "pylu-analyze: note: --func nosuch: matches no function called in the selected threads\n");
    let thread_by_id = run(&["--pid", "4510", "--thread", "1002", "--func", "work"]);
    assert_eq!(thread_by_id, "");
    // `handle` runs only on MainThread: selecting Thread-1 leaves it nothing to match.
    let elsewhere = run(&["--thread", "Thread-1", "--func", "^handle$"]);
    assert!(elsewhere.contains("--func ^handle$: matches no function"), "{elsewhere}");
    let group = run(&["--group-threads", "Worker-*"]);
    assert!(group.contains("note: --group-threads Worker-*: matches no thread"), "{group}");
}

/// `-q` is accepted by every subcommand that reads inputs, `dump` and `info` included.
#[test]
fn quiet_everywhere() {
    for sub in ["summary", "folded", "flamegraph", "lines", "events", "info", "dump"] {
        let out = analyze_cmd().args([sub, "-q"]).arg(two_threads()).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{sub}: {}", stderr(&out));
        assert!(!out.stdout.is_empty(), "{sub} wrote nothing");
    }
}

/// `pylu-processlogs --completions SHELL` prints a script naming its options, and nothing else may come with it.
#[test]
fn processlogs_completions() {
    for shell in ["bash", "zsh", "fish"] {
        let out = processlogs_cmd().args(["--completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for option in ["inputfile", "output-dir", "merge-threads"] {
            assert!(script.contains(option), "{shell} completions do not mention --{option}");
        }
    }
    let with_input = processlogs_cmd().args(["--completions", "bash", "-i"]).arg(two_threads()).output().unwrap();
    assert_eq!(with_input.status.code(), Some(2), "{}", stderr(&with_input));
}
