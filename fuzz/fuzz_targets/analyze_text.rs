//! Random call sequences as an original-format text log, analyzed whole and in units, with several
//! read-aheads: nothing may panic, per thread the self times add up to the root's total, and the size of the
//! units never changes a result (the text replay reads ahead by events, not by units).
//!
//! Each input byte is one step on one of two threads: enter one of four functions, end the innermost call
//! (with its duration), raise (the call goes without a line, as the original logs a raised call), or suspend
//! and resume nothing (skipped). The first byte picks the read-ahead and the unit size.
#![no_main]

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use pylu_analyzer::{analyze, report, Analysis, Input, Options, Selection};

const FUNCS: [&str; 4] = ["handle", "query", "walk", "fetch"];

fn text_log(steps: &[u8]) -> String {
    let mut out = String::new();
    let mut stacks: [Vec<(usize, u64)>; 2] = [Vec::new(), Vec::new()];
    let mut t = 0u64;
    for &b in steps {
        t += 1 + u64::from(b >> 5);
        let th = usize::from(b & 1);
        let (name, tid) = [("MainThread", 1001), ("Thread-1", 1002)][th];
        let line = |f: usize, msg: String| {
            format!("2020-05-10 12:28:16,000; MainProcess; 4510; {name}; {tid}; /srv/m.py; 1; m; {}; {msg}\n", FUNCS[f])
        };
        let epoch = |t: u64| format!("{}.{:06}", 1_589_113_696 + t / 1_000_000, t % 1_000_000);
        match (b >> 1) & 7 {
            0..=3 => {
                let f = usize::from((b >> 3) & 3);
                stacks[th].push((f, t));
                out += &line(f, format!("func_begin; {}", epoch(t)));
            }
            4..=6 => {
                if let Some((f, t0)) = stacks[th].pop() {
                    out += &line(f, format!("func_end; {:.4}; {}", (t - t0) as f64 / 1000.0, epoch(t)));
                }
            }
            _ => {
                stacks[th].pop();
            }
        }
    }
    out
}

fn run(path: &std::path::Path, chunk_bytes: usize, text_read_ahead: usize) -> (String, Analysis) {
    let inputs = vec![Input::open(path).expect("the log just written")];
    let opts = Options { chunk_bytes, adaptive_units: false, text_read_ahead, ..Options::default() };
    let a = analyze(&inputs, &opts);
    let mut folded = Vec::new();
    report::folded::write_folded(&a, &Selection::default().views(&a), &mut folded).unwrap();
    let mut json = Vec::new();
    report::summary::write_json(&a, &Selection::default().views(&a), &Default::default(), &mut json).unwrap();
    folded.extend(json);
    (String::from_utf8(folded).unwrap(), a)
}

static RUN: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let Some((&first, steps)) = data.split_first() else { return };
    let log = text_log(steps);
    let path = std::env::temp_dir().join(format!(
        "pylu-fuzz-{}-{}.log",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::File::create(&path).unwrap().write_all(log.as_bytes()).unwrap();
    let read_ahead = [0usize, 1, 3, 16, 1 << 14][usize::from(first % 5)];
    let (whole, a) = run(&path, 1 << 30, read_ahead);
    for t in &a.threads {
        let selfs: u64 = t.tree.self_times().iter().sum();
        assert_eq!(selfs, t.tree.nodes[0].stats.total_ns, "thread {}", t.root_name());
    }
    let unit = 1 + usize::from(first >> 3) * 40;
    let (chunked, b) = run(&path, unit, read_ahead);
    assert_eq!(chunked, whole, "units of {unit} bytes, read-ahead {read_ahead}");
    assert_eq!(a.warnings, b.warnings);
    std::fs::remove_file(&path).ok();
});
