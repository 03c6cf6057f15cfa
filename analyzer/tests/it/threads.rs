//! Thread identity: threads grouped by name pattern (`--group-threads`), and the OS ids of a format 1.2 thread
//! (whose block thread id is a serial) shown by `info` and `dump`.

use std::process::Command;

use pylu_analyzer::Selection;
use pylu_formats::{BlockEncoder, ClockAnchor, FileHeader, TraceWriter};

use crate::common::*;
use crate::filtered::{analysis, HANDLE, MS, WORK};

#[test]
fn threads_grouped_by_name_pattern_become_one_root() {
    let one_request = |k: u64| {
        let t = k * MS;
        vec![Ev::Enter(HANDLE, t), Ev::Enter(WORK, t + 1000), Ev::Exit(WORK, t + 2000), Ev::Exit(HANDLE, t + 3000)]
    };
    let names: Vec<String> = (1..=300).map(|k| format!("Thread-{k}")).collect();
    let mut threads = vec![ThreadSpec { tid: 1, name: "MainThread", events: one_request(0) }];
    threads.extend(names.iter().enumerate().map(|(k, n)| ThreadSpec {
        tid: 1000 + k as u64,
        name: n,
        events: one_request(k as u64 + 1),
    }));
    let (_dir, p, a) = analysis(&threads);
    assert_eq!(Selection::default().views(&a).len(), 301);
    let sel = Selection { group_threads: vec![glob::Pattern::new("Thread-*").unwrap()], ..Selection::default() };
    let views = sel.views(&a);
    let roots: Vec<&str> = views.iter().map(|v| v.root.as_str()).collect();
    assert_eq!(roots, ["4510-MainThread", "4510-Thread-*"]);
    let handle = views[1].tree.nodes.iter().find(|n| n.func != u32::MAX && a.func_name(n.func) == "app.handle");
    assert_eq!(handle.map(|n| n.stats.hits), Some(300));

    let out = Command::new(env!("CARGO_BIN_EXE_pylu-analyze"))
        .args(["folded", "--group-threads", "Thread-*", "--group-threads", "Main*"])
        .arg(&p)
        .output()
        .unwrap();
    let folded = String::from_utf8(out.stdout).unwrap();
    assert!(folded.contains("4510-Thread-*;app.handle;app.work 300\n"), "{folded}");
    assert!(folded.contains("4510-Main*;app.handle;app.work 1\n"), "{folded}");
    let bad = Command::new(env!("CARGO_BIN_EXE_pylu-analyze"))
        .args(["folded", "--group-threads", "[x"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad --group-threads glob"));
}

#[test]
fn many_threads_named_alike_get_a_suggestion_that_works() {
    let one_request = |k: u64| {
        let t = k * MS;
        vec![Ev::Enter(HANDLE, t), Ev::Enter(WORK, t + 1000), Ev::Exit(WORK, t + 2000), Ev::Exit(HANDLE, t + 3000)]
    };
    // As socketserver's ThreadingMixIn names them (Flask's and Django's development servers), a `[` included.
    let names: Vec<String> = (1..=12).map(|k| format!("Thread-{k} (process[{}])", k % 3)).collect();
    let few: Vec<String> = (1..=3).map(|k| format!("pool-{k}")).collect();
    let mut threads = vec![ThreadSpec { tid: 1, name: "MainThread", events: one_request(0) }];
    for (k, n) in names.iter().chain(&few).enumerate() {
        threads.push(ThreadSpec { tid: 1000 + k as u64, name: n, events: one_request(k as u64 + 1) });
    }
    let (_dir, p, a) = analysis(&threads);
    let glob = "Thread-* (process[[]*[]])";
    assert_eq!(pylu_analyzer::report::summary::alike_threads(&Selection::default().views(&a)), Some((12, glob.into())));

    let summary = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pylu-analyze")).arg("summary").args(args).arg(&p).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = summary(&[]);
    let hint = format!("(12 threads named like '{glob}': `pylu-analyze summary --group-threads '{glob}'` shows them");
    assert!(text.contains(&hint), "{text}");
    // What it suggests gives one tree for the twelve, and no suggestion then.
    let grouped = summary(&["--group-threads", glob]);
    assert!(grouped.contains(&format!("4510-{glob}: 24 calls")), "{grouped}");
    assert!(!grouped.contains("threads named like"), "{grouped}");
    // pylu-processlogs (one root per thread, as the original) suggests its own option, which works the same.
    let processlogs = |args: &[&str]| {
        let out_dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_pylu-processlogs"))
            .args(["-q", "-o"])
            .arg(out_dir.path())
            .args(args)
            .arg("-i")
            .arg(&p)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let name = p.file_name().unwrap().to_string_lossy();
        std::fs::read_to_string(out_dir.path().join(format!("{name}.summary"))).unwrap()
    };
    let text = processlogs(&[]);
    assert!(text.contains(&format!("`pylu-processlogs --group-threads '{glob}'` shows them")), "{text}");
    let grouped = processlogs(&["--group-threads", glob]);
    assert!(grouped.contains(&format!("4510-{glob}: 24 calls")), "{grouped}");
    assert!(!grouped.contains("threads named like"), "{grouped}");
    // Fewer than eight alike: nothing suggested.
    let (_dir2, _p2, few_only) = analysis(&threads[..8]);
    assert_eq!(pylu_analyzer::report::summary::alike_threads(&Selection::default().views(&few_only)), None);
}

#[test]
fn info_and_dump_show_the_os_ids_beside_the_serial() {
    let header = FileHeader::new(4510, 1, "h", "3.11.7", &[], ClockAnchor { monotonic_ns: 0, wall_ns: WALL0 });
    let w = TraceWriter::new(Vec::new(), &header).unwrap();
    // Two threads that had the same OS ident, one after the other: serials 1 and 2.
    for (serial, native, name) in [(1u64, 4101u64, "Thread-1"), (2, 4102, "Thread-2")] {
        let mut enc = BlockEncoder::new(serial, 1 << 16);
        enc.thread_name(name);
        enc.thread_ident(0x7f00_dead_b000, native);
        w.flush_encoder(&mut enc).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write_temp(dir.path(), "t.pylu", &w.into_inner().unwrap());
    let run = |cmd: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_pylu-analyze")).arg(cmd).arg(&p).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let info = run("info");
    assert!(info.contains("threads: 2\n"), "{info}");
    assert!(info.contains("  4510/1 (ident 0x7f00deadb000, native id 4101) \"Thread-1\""), "{info}");
    assert!(info.contains("  4510/2 (ident 0x7f00deadb000, native id 4102) \"Thread-2\""), "{info}");
    let dump = run("dump");
    assert!(dump.contains("thread-ident 0x7f00deadb000 native=4102"), "{dump}");
}
