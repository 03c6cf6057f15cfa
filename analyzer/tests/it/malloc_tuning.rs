//! The binaries run again with glibc's malloc on huge pages (`malloc_tuning`): the second process gets the same
//! arguments, standard input and output, and writes the same bytes; `PYLU_MALLOC_TUNING` and a user's own
//! `GLIBC_TUNABLES` decide.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::*;

/// Whether this machine's kernel lets glibc use transparent huge pages (otherwise nothing is re-executed).
fn huge_pages_available() -> bool {
    cfg!(all(target_os = "linux", target_env = "gnu"))
        && std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|s| s.contains("[madvise]") || s.contains("[always]"))
}

fn processlogs(setting: &str, tunables: Option<&str>, out_dir: &std::path::Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pylu-processlogs"));
    cmd.env(pylu_analyzer::malloc_tuning::ENV, setting).env_remove("GLIBC_TUNABLES");
    if let Some(t) = tunables {
        cmd.env("GLIBC_TUNABLES", t);
    }
    cmd.args(["-q", "--timings", "-i"]).arg(fixtures().join("two_threads.log")).arg("-o").arg(out_dir);
    cmd.output().unwrap()
}

fn malloc_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines().find(|l| l.contains("malloc: ")).unwrap_or_else(|| panic!("no malloc line in {err}")).to_string()
}

#[test]
fn processlogs_runs_again_tuned_and_writes_the_same_bytes() {
    let (plain_dir, tuned_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = processlogs("off", None, plain_dir.path());
    let tuned = processlogs("always", None, tuned_dir.path());
    assert_eq!(plain.status.code(), tuned.status.code());
    assert_eq!(malloc_line(&plain), "pylu-processlogs: malloc: glibc's defaults");
    let want = if huge_pages_available() { "huge pages (malloc_tuning)" } else { "glibc's defaults" };
    assert_eq!(malloc_line(&tuned), format!("pylu-processlogs: malloc: {want}"));
    // The printed paths differ by directory only.
    let strip = |out: &Output, dir: &std::path::Path| {
        String::from_utf8_lossy(&out.stdout).replace(&dir.display().to_string(), "DIR")
    };
    assert_eq!(strip(&plain, plain_dir.path()), strip(&tuned, tuned_dir.path()));
    for ext in ["folded", "summary", "svg"] {
        let name = format!("two_threads.log.{ext}");
        let (a, b) = (
            std::fs::read(plain_dir.path().join(&name)).unwrap(),
            std::fs::read(tuned_dir.path().join(&name)).unwrap(),
        );
        assert!(!a.is_empty());
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn a_users_malloc_tunables_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = processlogs("always", Some("glibc.malloc.hugetlb=0"), dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(malloc_line(&out), "pylu-processlogs: malloc: glibc's defaults");
}

/// `pylu-analyze summary -` run again: standard input (not yet read) and standard output reach the second
/// process, and the report is the same.
#[test]
fn analyze_from_stdin_runs_again_with_the_same_input_and_output() {
    let log = std::fs::read(fixtures().join("two_threads.log")).unwrap();
    let run = |setting: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pylu-analyze"))
            .env(pylu_analyzer::malloc_tuning::ENV, setting)
            .env_remove("GLIBC_TUNABLES")
            .args(["summary", "-q", "--format", "json", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&log).unwrap();
        child.wait_with_output().unwrap()
    };
    let (plain, tuned) = (run("0"), run("1"));
    assert_eq!(plain.status.code(), Some(0), "{}", String::from_utf8_lossy(&plain.stderr));
    assert_eq!(tuned.status.code(), Some(0), "{}", String::from_utf8_lossy(&tuned.stderr));
    assert!(String::from_utf8_lossy(&plain.stdout).contains("\"calls\""));
    assert_eq!(plain.stdout, tuned.stdout);
    assert_eq!(plain.stderr, tuned.stderr);
}
