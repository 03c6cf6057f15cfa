//! How inputs are found and read, and where outputs may go: hard links, rotated logs in a directory, pipes,
//! files shrinking under the analyzer.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn analyze_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pylu-analyze"))
}

fn log_fixture() -> std::path::PathBuf {
    fixtures().join("two_threads.log")
}

/// A second hard link of an input is the input: writing the report there would destroy it.
#[test]
fn output_onto_a_hard_link_of_an_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("h.log");
    std::fs::copy(log_fixture(), &input).unwrap();
    let link = dir.path().join("h2.log");
    std::fs::hard_link(&input, &link).unwrap();
    let before = std::fs::read(&input).unwrap();
    for cmd in [&["summary", "-q"][..], &["folded"], &["dump"], &["info"], &["export", "chrome", "-q"]] {
        let out = analyze_cmd().args(cmd).arg(&input).arg("-o").arg(&link).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is one of the inputs"), "{cmd:?}: {err}");
        assert_eq!(std::fs::read(&input).unwrap(), before, "{cmd:?} changed the input");
    }
}

/// Each line of `log` a file named as RotatingFileHandler names them: `app.log.N` oldest, `app.log` newest.
/// Returns the highest N.
fn rotate(log: &[u8], dir: &Path) -> usize {
    let lines: Vec<&[u8]> = log.split_inclusive(|&b| b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let n = lines.len() - 1 - i;
        let name = if n == 0 { "app.log".to_string() } else { format!("app.log.{n}") };
        std::fs::write(dir.join(name), line).unwrap();
    }
    lines.len() - 1
}

/// A directory holding a log and its backups reads them oldest first (`.10` before `.2`), as naming the log
/// does: calls that span a rotation still match up.
#[test]
fn rotated_logs_in_a_directory_are_read_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::read(log_fixture()).unwrap();
    let oldest = rotate(&log, dir.path());
    assert!(oldest >= 10, "backups .10 and .2 must both exist");
    let whole = analyze_cmd().args(["folded"]).arg(log_fixture()).output().unwrap();
    let named = analyze_cmd().args(["folded"]).arg(dir.path().join("app.log")).output().unwrap();
    let as_dir = analyze_cmd().args(["folded"]).arg(dir.path()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&named.stdout), String::from_utf8_lossy(&whole.stdout));
    assert_eq!(String::from_utf8_lossy(&as_dir.stdout), String::from_utf8_lossy(&whole.stdout));
    assert_eq!(as_dir.status.code(), Some(0), "{}", String::from_utf8_lossy(&as_dir.stderr));
    let dump = analyze_cmd().arg("dump").arg(dir.path()).output().unwrap();
    let order: Vec<String> = String::from_utf8_lossy(&dump.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("==> ").and_then(|l| l.strip_suffix(" <==")))
        .map(|p| Path::new(p).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut expected: Vec<String> = (1..=oldest).rev().map(|n| format!("app.log.{n}")).collect();
    expected.push("app.log".into());
    assert_eq!(order, expected);
}

/// The stub's directory also holds its TCP token (`token-<uid>`) once a stub listened on TCP: reading the
/// directory leaves it out (it made `pylu-analyze summary /tmp/pyliveupdate/<uid>/` say `skipped` and exit 1);
/// any other file that is not a trace or a log is still named.
#[test]
fn the_stubs_token_in_a_trace_directory_is_not_an_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(log_fixture(), dir.path().join("app.log")).unwrap();
    std::fs::write(dir.path().join("token-1000"), "0f".repeat(32)).unwrap();
    let alone = analyze_cmd().args(["summary", "-q"]).arg(log_fixture()).output().unwrap();
    let out = analyze_cmd().args(["summary", "-q"]).arg(dir.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("token"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&alone.stdout));
    let out_dir = tempfile::tempdir().unwrap();
    let processlogs = Command::new(env!("CARGO_BIN_EXE_pylu-processlogs"))
        .args(["-q", "-o"])
        .arg(out_dir.path())
        .arg("-i")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(processlogs.status.code(), Some(0), "{}", String::from_utf8_lossy(&processlogs.stderr));
    // Only that name: `token-x` (not a uid) is a file like any other.
    std::fs::write(dir.path().join("token-x"), "0f").unwrap();
    let out = analyze_cmd().args(["summary", "-q"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token-x"));
}

/// A FIFO is opened once and read once: its first bytes are not lost to the format check.
#[test]
fn a_fifo_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let log = std::fs::read(log_fixture()).unwrap();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, log))
    };
    let out = analyze_cmd().args(["folded"]).arg(&fifo).output().unwrap();
    writer.join().unwrap().unwrap();
    let whole = analyze_cmd().args(["folded"]).arg(log_fixture()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&whole.stdout));
}

/// A stream that is not a trace is not read past its first bytes: `/dev/zero` never ends.
#[test]
fn an_endless_non_trace_stream_is_rejected_from_its_first_bytes() {
    let out = analyze_cmd().args(["summary", "-q", "/dev/zero"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/zero: not a pylu trace"), "{err}");
    assert!(out.status.code().is_some_and(|c| c != 0), "{err}");
}

/// Run by [`a_file_truncated_while_mapped_is_one_line_and_exit_2`] in a child process: maps the file
/// `PYLU_SIGBUS_FILE` names, truncates it, then reads its last byte.
#[test]
#[ignore = "a helper run in a child process; it dies of its own SIGBUS"]
fn sigbus_child() {
    let path = std::env::var_os("PYLU_SIGBUS_FILE").expect("run by a_file_truncated_while_mapped...");
    let input = pylu_analyzer::Input::open(Path::new(&path)).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
    let last = input.bytes().len() - 1;
    // Volatile: the read must happen (and fault), not be folded away.
    // SAFETY: a reference into the input's bytes, valid and aligned; reading it faults (the point of the test),
    // which the handler under test turns into an exit before anything else runs.
    let byte = unsafe { std::ptr::read_volatile(&input.bytes()[last]) };
    println!("read {byte} past the end without a fault");
}

/// Writes a log of several pages at `path` (so that the last byte read is on a page past the new end), has
/// [`sigbus_child`] map, truncate and read it, and returns the child's line about it (after checking exit 2).
#[cfg(unix)]
fn truncated_while_mapped(path: &Path) -> String {
    let mut big = Vec::new();
    while big.len() < 64 << 10 {
        big.extend_from_slice(&std::fs::read(log_fixture()).unwrap());
    }
    std::fs::write(path, &big).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "inputs::sigbus_child", "--ignored", "--nocapture", "--test-threads", "1"])
        .env("PYLU_SIGBUS_FILE", path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    err.lines().find(|l| l.contains("shrank")).unwrap_or_else(|| panic!("no line on stderr: {err}")).to_string()
}

/// logrotate's copytruncate empties a log under a reader: the mapped pages vanish and reading them raises
/// SIGBUS. The analyzer says which file and exits 2 instead of dying of "Bus error". Deterministic: the file
/// is mapped, truncated, then read, in that order, in a child process.
#[cfg(unix)]
#[test]
fn a_file_truncated_while_mapped_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.log");
    let line = truncated_while_mapped(&path);
    assert!(line.contains(&*path.to_string_lossy()) && line.contains(": error: "), "{line}");
}

/// A path longer than the handler's record of it (1,024 bytes) is named by its first 1,024 bytes and `...`.
#[cfg(unix)]
#[test]
fn a_long_path_truncated_while_mapped_is_named_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut deep = dir.path().to_path_buf();
    for i in 0..6 {
        deep.push(format!("{i}{}", "d".repeat(199)));
    }
    std::fs::create_dir_all(&deep).unwrap();
    let path = deep.join("live.log");
    let line = truncated_while_mapped(&path);
    let bytes = path.as_os_str().as_encoded_bytes();
    assert!(bytes.len() > 1024);
    let named = format!("{}...: the file shrank", String::from_utf8_lossy(&bytes[..1024]));
    assert!(line.contains(&named), "{line}");
}

/// Opening and dropping inputs keeps no memory: the SIGBUS handler's record of a mapping (its path included)
/// lives in a fixed table, where a copy of each input's path was once leaked.
#[test]
fn opening_inputs_keeps_no_memory() {
    let path = log_fixture();
    // The first open installs the handler once (its program name is kept for the process' life).
    drop(pylu_analyzer::Input::open(&path).unwrap());
    let ((), kept) = kept_by(|| {
        for _ in 0..100 {
            drop(pylu_analyzer::Input::open(&path).unwrap());
        }
    });
    assert_eq!(kept, 0);
}

/// `-o -` is standard output for every export that writes one file; parquet's directory cannot go there.
#[test]
fn export_to_dash_is_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    for (format, starts) in [("chrome", &b"{"[..]), ("speedscope", b"{"), ("pstats", b"{")] {
        let mut cmd = analyze_cmd();
        let out = cmd.current_dir(dir.path()).args(["export", format, "-q"]).arg(log_fixture()).args(["-o", "-"]);
        let out = out.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.starts_with(starts), "{format}: {:?}", String::from_utf8_lossy(&out.stdout[..20]));
        assert!(!dir.path().join("-").exists(), "{format} wrote a file named -");
    }
    let mut cmd = analyze_cmd();
    let out = cmd.current_dir(dir.path()).args(["export", "parquet", "-q", "-o", "-"]).arg(log_fixture());
    let out = out.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("-o -") && err.contains("directory"), "{err}");
    assert!(!dir.path().join("-").exists());
}

/// An export to `/dev/stdout` read by `head` ends quietly, as every report on a closed pipe does.
#[cfg(unix)]
#[test]
fn export_into_a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // Big enough not to fit in the pipe's buffer, so that the write meets the closed end.
    let opts = pylu_gen::GenOptions { target_bytes: 1 << 20, processes: 1, ..Default::default() };
    let log = dir.path().join("app.log");
    pylu_gen::write_legacy(&opts, std::io::BufWriter::new(std::fs::File::create(&log).unwrap())).unwrap();
    let out =
        close_after_16_bytes(analyze_cmd().args(["export", "chrome", "-q"]).arg(&log).args(["-o", "/dev/stdout"]));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A full disk is named: which file could not be written.
#[cfg(target_os = "linux")]
#[test]
fn a_write_error_names_the_output() {
    for args in [&["summary", "-q"][..], &["export", "pstats", "-q"]] {
        let out = analyze_cmd().args(args).arg(log_fixture()).args(["-o", "/dev/full"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error: /dev/full: "), "{args:?}: {err}");
    }
}

/// An output that cannot be written is refused before the inputs are read: no warnings about the input first.
#[test]
fn an_unwritable_output_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    // Inputs a run that read them would complain about (on stderr) before it failed to write.
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::write(inputs.join("junk"), b"neither a trace nor a log\n").unwrap();
    std::fs::copy(log_fixture(), inputs.join("app.log")).unwrap();
    let missing = dir.path().join("missing").join("out.txt");
    for (o, why) in [(dir.path().to_owned(), "is a directory"), (missing, "no such directory")] {
        for cmd in [&["summary", "-q"][..], &["flamegraph"], &["export", "chrome", "-q"]] {
            let out = analyze_cmd().args(cmd).arg(&inputs).arg("-o").arg(&o).output().unwrap();
            assert_eq!(out.status.code(), Some(2));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.lines().count(), 1, "{cmd:?}: {err}");
            assert!(err.contains(why) && err.contains(&*o.to_string_lossy()), "{cmd:?}: {err}");
        }
    }
}

/// An input that is no trace nor log at all is exit 2 and one line naming it, for every command; a gzip file is
/// named as such. Among readable inputs it is skipped (exit 1).
#[test]
fn an_input_that_is_not_a_trace_is_exit_2_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let gz = write_temp(dir.path(), "app.log.gz", &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]);
    let junk = write_temp(dir.path(), "junk.txt", b"hello\n");
    let runs: [(&str, &[&str]); 6] = [
        ("pylu-analyze", &["summary", "-q"]),
        ("pylu-analyze", &["folded"]),
        ("pylu-analyze", &["info"]),
        ("pylu-analyze", &["dump"]),
        ("pylu-analyze", &["export", "pstats", "-q", "-o", "-"]),
        ("pylu-processlogs", &["-q", "-i"]),
    ];
    for (bin, args) in runs {
        let exe = if bin == "pylu-analyze" {
            env!("CARGO_BIN_EXE_pylu-analyze")
        } else {
            env!("CARGO_BIN_EXE_pylu-processlogs")
        };
        let out = Command::new(exe).current_dir(dir.path()).args(args).arg(&gz).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("app.log.gz: gzip-compressed: decompress it first"), "{args:?}: {err}");
        // Next to a readable log it is skipped: exit 1, the log still read.
        if bin == "pylu-analyze" && args[0] != "export" {
            let out = analyze_cmd().args(args).arg(&junk).arg(log_fixture()).output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("skipped: ") && err.contains("junk.txt: not a pylu trace"), "{args:?}: {err}");
            assert!(!out.stdout.is_empty(), "{args:?}");
        }
    }
}

/// A trace of two threads whose blocks alternate in the file, every block damaged after the first two; and
/// the damaged blocks' offsets.
fn every_block_damaged(dir: &Path) -> (std::path::PathBuf, Vec<u64>) {
    let events =
        |base: u64| (0..400u64).flat_map(move |k| [Ev::Enter(0, base + 10 * k), Ev::Exit(0, base + 10 * k + 5)]);
    let threads = [
        ThreadSpec { tid: 1, name: "a", events: events(0).collect() },
        ThreadSpec { tid: 2, name: "b", events: events(1).collect() },
    ];
    let mut bytes = build_trace(7, &[("f", "m")], &threads, 40);
    let trace = pylu_formats::Trace::parse(&bytes).unwrap();
    let blocks: Vec<(u64, usize)> = trace
        .blocks()
        .skip(2)
        .map(|b| b.unwrap())
        .map(|b| (b.offset, b.offset as usize + b.len_in_file() - 1))
        .collect();
    assert!(blocks.len() > 20);
    for &(_, end) in &blocks {
        bytes[end] ^= 0x55;
    }
    (write_temp(dir, "damaged.pylu", &bytes), blocks.iter().map(|&(offset, _)| offset).collect())
}

fn offsets_on_stderr(err: &str) -> Vec<u64> {
    err.lines()
        .filter_map(|l| l.split_once("damaged.pylu: offset ").and_then(|(_, r)| r.split(':').next()?.parse().ok()))
        .collect()
}

/// The damage lines on stderr are the first in the file, in file order, whatever order the units were read in.
#[test]
fn damage_lines_are_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let (path, damaged) = every_block_damaged(dir.path());
    let out = analyze_cmd().args(["summary", "-q"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(offsets_on_stderr(&String::from_utf8_lossy(&out.stderr)), damaged[..20]);
}

/// `dump` and `info` exit 1 for damage and say it on stderr too (with `-o FILE` the terminal shows nothing
/// else), in file order.
#[test]
fn dump_and_info_report_damage_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let (path, damaged) = every_block_damaged(dir.path());
    for cmd in ["dump", "info"] {
        let out = analyze_cmd().arg(cmd).arg(&path).arg("-o").arg(dir.path().join("out.txt")).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(offsets_on_stderr(&err), damaged[..20], "{cmd}: {err}");
        assert!(err.lines().last().unwrap().contains("more damaged parts"), "{cmd}: {err}");
    }
}

fn processlogs_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pylu-processlogs"))
}

/// `--name` that makes an output one of the inputs is refused before anything is written.
#[test]
fn processlogs_refuses_a_name_that_overwrites_an_input_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("X.summary");
    std::fs::copy(log_fixture(), &input).unwrap();
    let mut cmd = processlogs_cmd();
    let out = cmd.args(["-q", "-i"]).arg(&input).args(["--name", "X", "-o"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("X.summary: is one of the inputs"), "{err}");
    let mut left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["X.summary"], "outputs written before the refusal");
    assert_eq!(std::fs::read(&input).unwrap(), std::fs::read(log_fixture()).unwrap());
}

/// An input name that is not UTF-8 names the outputs with its own bytes.
#[cfg(unix)]
#[test]
fn processlogs_keeps_a_non_utf8_name_as_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"app\xff\xfe.log");
    std::fs::copy(log_fixture(), dir.path().join(name)).unwrap();
    let out = processlogs_cmd().current_dir(dir.path()).args(["-q", "-i"]).arg(name).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for ext in ["folded", "summary", "svg"] {
        let mut file = name.to_owned();
        file.push(format!(".{ext}"));
        assert!(dir.path().join(&file).is_file(), "{file:?} missing");
    }
}

/// A symlink loop is named as such, not as a missing file.
#[cfg(unix)]
#[test]
fn a_symlink_loop_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(dir.path().join("b"), dir.path().join("a")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("b")).unwrap();
    let out = analyze_cmd().arg("summary").arg(dir.path().join("a")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("symbolic links") && !err.contains("no such file"), "{err}");
}

/// An empty `--since`…`--until` window is refused, as `export` refuses `--from` after `--to`.
#[test]
fn since_after_until_is_refused() {
    for cmd in ["summary", "folded", "flamegraph"] {
        let out = analyze_cmd().args([cmd, "--since", "2000000000", "--until", "1000"]).arg(log_fixture()).output();
        let out = out.unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        assert!(out.stdout.is_empty(), "{cmd}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--since is after --until"), "{cmd}");
    }
}

/// Standard input that is not a trace, a log nor text (folded stacks) is not read past its first bytes either.
#[cfg(unix)]
#[test]
fn endless_binary_standard_input_is_rejected_from_its_first_bytes() {
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let out = analyze_cmd().args(["summary", "-q", "-"]).stdin(zero).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("-: not a pylu trace"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
