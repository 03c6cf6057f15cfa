//! Binary traces at the input boundary: a record naming the reserved function id, traces joined with `cat`, a
//! trace cut short. Each must read as docs/FORMAT.md says, in every report.

use std::path::{Path, PathBuf};
use std::process::Command;

use pylu_formats::{crc::crc32c, varint, BlockEncoder, Trace};

use crate::common::*;

fn analyze_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pylu-analyze"))
}

/// Two threads of pid 7 calling `serve` (id 0); the second thread's last block ends with an enter of function
/// 0xFFFFFFFF, which no writer writes.
fn trace_naming_the_reserved_id() -> Vec<u8> {
    let threads = [ThreadSpec { tid: 1, name: "main", events: vec![Ev::Enter(0, 1_000), Ev::Exit(0, 3_000)] }];
    let mut bytes = build_trace(7, &[("serve", "app")], &threads, 8);
    let mut enc = BlockEncoder::new(2, 1 << 16);
    enc.thread_name("worker");
    enc.enter(0, 4_000);
    enc.exit(0, 9_000, false);
    let mut block = Vec::new();
    assert!(enc.seal_into(&mut block));
    let mut payload = block.split_off(40);
    varint::put(&mut payload, (u32::MAX as u64) << 2);
    varint::put(&mut payload, 10);
    // The header redone for the longer payload (one more record).
    let count = u32::from_le_bytes(block[8..12].try_into().unwrap()) + 1;
    block[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    block[8..12].copy_from_slice(&count.to_le_bytes());
    block[32..36].copy_from_slice(&crc32c(&payload).to_le_bytes());
    let crc = crc32c(&block[..36]);
    block[36..40].copy_from_slice(&crc.to_le_bytes());
    bytes.extend(block);
    bytes.extend(payload);
    bytes
}

#[track_caller]
fn assert_damaged_not_crashed(what: &str, out: &std::process::Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    assert!(err.contains("function id 0xFFFFFFFF is reserved"), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
}

#[test]
fn a_record_naming_function_0xffffffff_is_one_damage_line_in_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(dir.path(), "reserved.pylu", &trace_naming_the_reserved_id());
    for cmd in [&["folded"][..], &["summary"], &["flamegraph"], &["export", "parquet"], &["export", "pstats"]] {
        let out_path = dir.path().join(format!("out-{}", cmd.join("-")));
        let out = analyze_cmd().args(cmd).arg("-q").arg(&path).arg("-o").arg(&out_path).output().unwrap();
        assert_damaged_not_crashed(&cmd.join(" "), &out);
    }
    let folded = analyze_cmd().args(["folded", "-q"]).arg(&path).output().unwrap();
    assert_damaged_not_crashed("folded", &folded);
    // The calls before the damaged record, in both threads, still count.
    assert_eq!(String::from_utf8(folded.stdout).unwrap(), "7-main;app.serve 2\n7-worker;app.serve 5\n");
    let diff = analyze_cmd().args(["diff", "--format", "json"]).arg(&path).arg(&path).output().unwrap();
    assert!(String::from_utf8_lossy(&diff.stderr).contains("function id 0xFFFFFFFF is reserved"));
    // `diff` reports the damage and goes on (its exit codes are about the gate, docs/DIFF.md).
    assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stderr));
    assert!(String::from_utf8_lossy(&diff.stdout).contains("app.serve"));
    let processlogs = Command::new(env!("CARGO_BIN_EXE_pylu-processlogs"))
        .arg("-i")
        .arg(&path)
        .arg("-o")
        .arg(dir.path().join("pl"))
        .output()
        .unwrap();
    assert_damaged_not_crashed("pylu-processlogs", &processlogs);
}

/// Two processes whose ids name different functions, with different clocks.
fn two_traces() -> (Vec<u8>, Vec<u8>) {
    let a = build_trace(
        10,
        &[("handle", "web"), ("query", "db")],
        &[ThreadSpec {
            tid: 1,
            name: "MainThread",
            events: (0..40u64)
                .flat_map(|i| [Ev::Enter(i as u32 % 2, 1_000 * i), Ev::Exit(i as u32 % 2, 1_000 * i + 700)])
                .collect(),
        }],
        16,
    );
    let b = build_trace(
        20,
        &[("render", "tpl"), ("fetch", "cache"), ("send", "net")],
        &[
            ThreadSpec {
                tid: 1,
                name: "MainThread",
                events: (0..30u64)
                    .flat_map(|i| [Ev::Enter(i as u32 % 3, 5_000 * i), Ev::Exit(i as u32 % 3, 5_000 * i + 4_000)])
                    .collect(),
            },
            ThreadSpec { tid: 2, name: "worker", events: vec![Ev::Enter(2, 100), Ev::Exit(2, 900)] },
        ],
        8,
    );
    (a, b)
}

fn paths(dir: &Path, files: &[(&str, &[u8])]) -> Vec<PathBuf> {
    files.iter().map(|(name, bytes)| write_temp(dir, name, bytes)).collect()
}

#[test]
fn traces_joined_with_cat_read_as_the_traces_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_traces();
    let apart = analyze_files(&paths(dir.path(), &[("a.pylu", &a), ("b.pylu", &b)]), 1 << 20);
    let joined = analyze_files(&paths(dir.path(), &[("ab.pylu", &[a.clone(), b.clone()].concat())]), 1 << 20);
    assert!(joined.damage.is_empty(), "{:?}", joined.damage);
    assert_eq!(summary_json(&joined), summary_json(&apart));
    assert_eq!(folded(&joined), folded(&apart));
    assert!(folded(&joined).contains("20-worker;net.send 1\n"), "{}", folded(&joined));

    // The exports (their own reading of the traces) too.
    let ab = dir.path().join("ab.pylu");
    for kind in ["chrome", "speedscope", "pstats"] {
        let run = |inputs: &[PathBuf], out: &str| {
            let out = dir.path().join(out);
            let o = analyze_cmd().args(["export", kind, "-q"]).args(inputs).arg("-o").arg(&out).output().unwrap();
            assert_eq!(o.status.code(), Some(0), "{kind}: {}", String::from_utf8_lossy(&o.stderr));
            std::fs::read(out).unwrap()
        };
        let apart = run(&[dir.path().join("a.pylu"), dir.path().join("b.pylu")], "apart");
        assert!(run(std::slice::from_ref(&ab), "joined") == apart, "export {kind}");
    }

    // The first one torn before they were joined: its calls before the cut count, the second reads whole.
    let last = Trace::parse(&a).unwrap().blocks().last().unwrap().unwrap().offset as usize;
    let torn = &a[..last + 60];
    let apart = analyze_files(&paths(dir.path(), &[("t.pylu", torn), ("b.pylu", &b)]), 1 << 20);
    let joined = analyze_files(&paths(dir.path(), &[("tb.pylu", &[torn, &b[..]].concat())]), 1 << 20);
    assert_eq!(folded(&joined), folded(&apart));
    // Torn inside the file, bytes of it are lost (damage); torn at a file's end, all there is was read (a note).
    assert_eq!(joined.damage.len(), 1, "{:?}", joined.damage);
    assert!(apart.damage.is_empty() && apart.notes.len() == 1, "{:?} {:?}", apart.damage, apart.notes);
    assert_eq!(joined.damage[0].what, apart.notes[0].what);
}

#[test]
fn a_cut_trace_keeps_the_calls_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Ev> = (0..200u64).flat_map(|i| [Ev::Enter(0, 1_000 * i), Ev::Exit(0, 1_000 * i + 500)]).collect();
    let whole = build_trace(3, &[("work", "app")], &[ThreadSpec { tid: 1, name: "main", events }], 10_000);
    let last = Trace::parse(&whole).unwrap().blocks().last().unwrap().unwrap();
    assert_eq!(last.record_count, 400, "the calls are in one block");
    let start = last.offset as usize;
    let path = dir.path().join("cut.pylu");
    let mut before = 0;
    for cut in (start + 41..whole.len()).step_by(5) {
        std::fs::write(&path, &whole[..cut]).unwrap();
        let a = analyze_files(std::slice::from_ref(&path), 1 << 20);
        assert!(a.calls >= before, "cut at {cut}: a longer prefix holds at least the calls of a shorter one");
        before = a.calls;
        // Cut at the end of the file, as a live writer's file is: read up to the cut, a note and no damage.
        assert!(a.damage.is_empty(), "{:?}", a.damage);
        assert_eq!(a.notes.len(), 1, "{:?}", a.notes);
        let what = &a.notes[0].what;
        let expect =
            format!("block cut short (needs {} bytes, {} left in the file): ", whole.len() - start, cut - start);
        assert!(what.starts_with(&expect) && what.ends_with(" records read, checksum not checked"), "{what}");
    }
    assert!(before >= 190, "the calls up to the cut count: {before} of 200");
}

/// What a live writer's file looks like (its last block not all written yet): every command reads it up to the
/// cut, says so in one `note:` line and exits 0 — the analyses and the exports alike.
#[test]
fn a_trace_still_being_written_is_a_note_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Ev> = (0..200u64).flat_map(|i| [Ev::Enter(0, 1_000 * i), Ev::Exit(0, 1_000 * i + 500)]).collect();
    let whole = build_trace(3, &[("work", "app")], &[ThreadSpec { tid: 1, name: "main", events }], 10_000);
    let path = write_temp(dir.path(), "live.pylu", &whole[..whole.len() - 100]);
    for args in [&["summary"][..], &["folded"], &["export", "pstats"], &["export", "chrome"]] {
        let out_file = dir.path().join("out");
        let o = analyze_cmd().args(args).arg("-q").arg(&path).arg("-o").arg(&out_file).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
        let notes: Vec<&str> = stderr.lines().filter(|l| l.contains("note: ")).collect();
        assert_eq!(notes.len(), 1, "{args:?}: {stderr}");
        assert!(notes[0].contains("block cut short") && !stderr.contains("skipped"), "{args:?}: {stderr}");
    }
}
