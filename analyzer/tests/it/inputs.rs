//! How inputs are found and read: rotated logs in a directory, pipes, files shrinking under the analyzer.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn analyze_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pylu-analyze"))
}

fn log_fixture() -> std::path::PathBuf {
    fixtures().join("two_threads.log")
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
    let byte = unsafe { std::ptr::read_volatile(&input.bytes()[last]) };
    println!("read {byte} past the end without a fault");
}

/// logrotate's copytruncate empties a log under a reader: the mapped pages vanish and reading them raises
/// SIGBUS. The analyzer says which file and exits 2 instead of dying of "Bus error". Deterministic: the file
/// is mapped, truncated, then read, in that order, in a child process.
#[cfg(unix)]
#[test]
fn a_file_truncated_while_mapped_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.log");
    // Several pages, so that the last byte read is on a page past the new end.
    let mut big = Vec::new();
    while big.len() < 64 << 10 {
        big.extend_from_slice(&std::fs::read(log_fixture()).unwrap());
    }
    std::fs::write(&path, &big).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "inputs::sigbus_child", "--ignored", "--nocapture", "--test-threads", "1"])
        .env("PYLU_SIGBUS_FILE", &path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let line = err.lines().find(|l| l.contains("shrank")).unwrap_or_else(|| panic!("no line on stderr: {err}"));
    assert!(line.contains(&*path.to_string_lossy()) && line.contains(": error: "), "{line}");
}