//! The generator: deterministic, well-formed in both formats, sized as asked, and modelling what it claims
//! (nesting, exceptions, generators, line and debug records, definitions before use).

use std::collections::{HashMap, HashSet};

use pylu_formats::{legacy, EventKind, FuncRef, Trace};
use pylu_gen::{process_ids, write_binary, write_binary_dir, write_legacy, GenOptions};

fn small(seed: u64, target_bytes: u64) -> GenOptions {
    GenOptions { seed, target_bytes, processes: 2, threads_per_process: 3, functions: 300, ..GenOptions::default() }
}

fn binary_bytes(opts: &GenOptions, pid: u32) -> Vec<u8> {
    let mut out = Vec::new();
    write_binary(opts, pid, &mut out).unwrap();
    out
}

fn legacy_bytes(opts: &GenOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_legacy(opts, &mut out).unwrap();
    out
}

#[test]
fn same_options_same_bytes() {
    let opts = small(7, 400_000);
    let pid = process_ids(&opts)[1];
    assert_eq!(binary_bytes(&opts, pid), binary_bytes(&opts, pid));
    assert_eq!(legacy_bytes(&opts), legacy_bytes(&opts));
    let other = small(8, 400_000);
    assert_ne!(binary_bytes(&opts, pid), binary_bytes(&other, pid));
    assert_ne!(legacy_bytes(&opts), legacy_bytes(&other));
}

#[test]
fn directory_holds_one_trace_per_process_matching_write_binary() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small(3, 600_000);
    let stats = write_binary_dir(&opts, dir.path()).unwrap();
    let pids = process_ids(&opts);
    assert_eq!(stats.files.len(), pids.len());
    let mut total = 0;
    for (file, pid) in stats.files.iter().zip(&pids) {
        assert_eq!(file.file_name().unwrap().to_string_lossy(), format!("trace-{pid}.pylu"));
        let bytes = std::fs::read(file).unwrap();
        assert_eq!(bytes, binary_bytes(&opts, *pid), "parallel generation changes nothing");
        total += bytes.len() as u64;
    }
    assert_eq!(stats.bytes, total);
    // Requests running at the target finish, so the total overshoots a little, never much.
    assert!(total >= opts.target_bytes && total < opts.target_bytes + opts.target_bytes / 2, "{total}");
}

#[test]
fn binary_trace_is_well_formed_and_realistic() {
    let opts = GenOptions { target_bytes: 4 << 20, processes: 1, ..GenOptions::default() };
    let pid = process_ids(&opts)[0];
    let mut data = Vec::new();
    let stats = write_binary(&opts, pid, &mut data).unwrap();
    assert_eq!(stats.bytes, data.len() as u64);

    let trace = Trace::parse(&data).unwrap();
    assert_eq!(trace.header.pid, pid);
    let mut defined = HashSet::new();
    let mut used = HashSet::new();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut last_time: HashMap<u64, u64> = HashMap::new();
    let mut stacks: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut named = HashSet::new();
    let mut records = 0;
    for block in trace.blocks() {
        let block = block.unwrap();
        block.verify().unwrap();
        for record in block.records() {
            let record = record.unwrap();
            records += 1;
            if record.kind.is_timed() {
                let last = last_time.entry(block.thread_id).or_insert(0);
                assert!(record.time_ns >= *last, "time goes back in thread {}", block.thread_id);
                *last = record.time_ns;
            }
            let stack = stacks.entry(block.thread_id).or_default();
            let id = |f: FuncRef<'_>| match f {
                FuncRef::Id(id) => id,
                FuncRef::Named { .. } => panic!("binary traces use ids"),
            };
            let kind = match record.kind {
                EventKind::FuncDef(def) => {
                    assert!(defined.insert(def.id), "defined twice: {}", def.id);
                    "def"
                }
                EventKind::ThreadName(_) => {
                    assert!(named.insert(block.thread_id));
                    "thread"
                }
                EventKind::Enter(f) => {
                    used.insert(id(f));
                    stack.push(id(f));
                    "enter"
                }
                EventKind::Exit { func, exception, .. } => {
                    assert_eq!(stack.pop(), Some(id(func)), "exit matches the innermost frame");
                    if exception {
                        "raised"
                    } else {
                        "exit"
                    }
                }
                EventKind::Suspend(f) => {
                    assert_eq!(stack.pop(), Some(id(f)), "only the running frame suspends");
                    "suspend"
                }
                EventKind::Resume(f) => {
                    stack.push(id(f));
                    "resume"
                }
                EventKind::ThreadIdent { .. } => "ident",
                EventKind::Line { .. } => "line",
                EventKind::Debug { .. } => "debug",
                EventKind::Update { .. } => "update",
            };
            *counts.entry(kind).or_default() += 1;
        }
    }
    assert_eq!(records, stats.records);
    assert_eq!(counts["enter"], stats.calls);
    assert_eq!(counts["raised"], stats.exceptions);
    assert!(used.is_subset(&defined), "every function used is defined");
    assert!(stacks.values().all(Vec::is_empty), "every request ran to its end");
    assert_eq!(named.len(), opts.threads_per_process as usize, "one thread name per thread");
    let calls = stats.calls as f64;
    for (kind, low, high) in
        [("raised", 0.01, 0.10), ("suspend", 0.005, 0.3), ("line", 0.002, 0.05), ("debug", 0.002, 0.05)]
    {
        let share = counts.get(kind).copied().unwrap_or(0) as f64 / calls;
        assert!((low..high).contains(&share), "{kind}: {share:.4} per call");
    }
    assert!(stats.bytes_per_call() < 12.0, "{:.2} bytes per call", stats.bytes_per_call());
}

#[test]
fn legacy_log_parses_cleanly_and_counts_match() {
    let opts = small(11, 1 << 20);
    let data = legacy_bytes(&opts);
    assert!(data.len() as u64 >= opts.target_bytes);
    let mut enters = 0;
    let mut exits = 0;
    let mut pids = HashSet::new();
    for item in legacy::lines(&data, 1) {
        let event = item.unwrap_or_else(|e| panic!("generated log has a bad line: {e}"));
        pids.insert(event.pid);
        match event.kind {
            EventKind::Enter(_) => enters += 1,
            EventKind::Exit { duration_ns, .. } => {
                assert!(duration_ns.is_some());
                exits += 1;
            }
            _ => {}
        }
    }
    let mut stats_out = Vec::new();
    let stats = write_legacy(&opts, &mut stats_out).unwrap();
    assert_eq!(enters, stats.calls);
    // Raised exits are missing from the text log, as they were from the original's.
    assert_eq!(exits + stats.exceptions, stats.calls);
    assert_eq!(pids.len(), opts.processes as usize);
    assert_eq!(stats.bytes, data.len() as u64);
}

#[test]
fn extreme_options_neither_panic_nor_hang() {
    let extremes = [
        GenOptions {
            target_bytes: 20_000,
            processes: 0,
            threads_per_process: 0,
            functions: 0,
            max_depth: 0,
            ..GenOptions::default()
        },
        GenOptions {
            target_bytes: 20_000,
            line_rate: 1.0,
            debug_rate: 1.0,
            exception_rate: 2.0,
            generator_rate: f64::NAN,
            zipf_exponent: f64::NAN,
            ..GenOptions::default()
        },
        GenOptions { target_bytes: 0, exception_rate: -1.0, zipf_exponent: -3.0, ..GenOptions::default() },
    ];
    for opts in extremes {
        let mut out = Vec::new();
        write_binary(&opts, 1, &mut out).unwrap();
        assert!(Trace::parse(&out).is_ok(), "{opts:?}");
        out.clear();
        let stats = write_legacy(&opts, &mut out).unwrap();
        assert_eq!(stats.bytes, out.len() as u64);
        assert!(legacy::lines(&out, 1).all(|item| item.is_ok()), "{opts:?}");
    }
}

/// Distinct call stacks (function ids from the thread's root) of one process's binary trace. Suspended
/// generators leave the stack and come back on top of it, as the format says.
fn distinct_stacks(bytes: &[u8]) -> usize {
    let trace = Trace::parse(bytes).unwrap();
    let mut stacks: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut seen: HashSet<Vec<u32>> = HashSet::new();
    for block in trace.blocks() {
        let block = block.unwrap();
        let stack = stacks.entry(block.thread_id).or_default();
        for r in block.records() {
            match r.unwrap().kind {
                EventKind::Enter(FuncRef::Id(f)) | EventKind::Resume(FuncRef::Id(f)) => {
                    stack.push(f);
                    seen.insert(stack.clone());
                }
                EventKind::Exit { func: FuncRef::Id(f), .. } | EventKind::Suspend(FuncRef::Id(f)) => {
                    if let Some(i) = stack.iter().rposition(|&g| g == f) {
                        stack.truncate(i);
                    }
                }
                _ => {}
            }
        }
    }
    seen.len()
}

/// A real program has a static call graph: a longer recording repeats its stacks rather than inventing new ones.
/// (Drawing any function as any call's child once made ~80% of all calls a new stack.)
#[test]
fn distinct_stacks_grow_far_slower_than_the_trace() {
    let opts = |size| GenOptions { seed: 11, target_bytes: size, processes: 1, ..GenOptions::default() };
    let pid = process_ids(&opts(1))[0];
    let small = distinct_stacks(&binary_bytes(&opts(2 << 20), pid));
    let large = distinct_stacks(&binary_bytes(&opts(16 << 20), pid));
    assert!(small > 100, "a realistic program has many code paths ({small})");
    assert!(large < small * 3, "8x the trace gave {large} distinct stacks against {small}");
}

/// With many threads each holding a block not written yet, the size still bounds the output (it was 55 MB for
/// 1 MiB with 1,000 threads: blocks were counted only once written).
#[test]
fn many_threads_keep_to_the_size() {
    let opts = GenOptions {
        target_bytes: 1 << 20,
        processes: 1,
        threads_per_process: 1000,
        functions: 300,
        ..GenOptions::default()
    };
    let total = binary_bytes(&opts, pylu_gen::process_ids(&opts)[0]).len() as u64;
    assert!(total >= opts.target_bytes && total < opts.target_bytes + opts.target_bytes / 2, "{total}");
}
