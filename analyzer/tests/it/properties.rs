//! Properties over random call sequences: self times add up to each root's total, hits equal the calls that
//! ended plus those still open or suspended at the end (unfinished), and neither block boundaries nor the size of
//! parallel units change any output.

use proptest::prelude::*;
use pylu_analyzer::Options;

use crate::common::*;

/// A random thread: calls nest, some raise through their callers, generators suspend and resume (possibly
/// under another caller), and some calls are still open at the end. Also returns the calls that ended, and those
/// still open or suspended at the end.
pub fn thread_events(ops: &[(u8, u8, u16)]) -> (Vec<Ev>, u64, u64) {
    let mut evs = Vec::new();
    let mut t = 0u64;
    let mut stack: Vec<u32> = Vec::new();
    let mut suspended: Vec<u32> = Vec::new();
    let mut ended = 0u64;
    for &(op, f, dt) in ops {
        t += dt as u64 + 1;
        let f = (f % 6) as u32;
        match op % 6 {
            0 | 1 => {
                stack.push(f);
                evs.push(Ev::Enter(f, t));
            }
            2 => {
                if let Some(top) = stack.pop() {
                    evs.push(if f & 1 == 0 { Ev::Exit(top, t) } else { Ev::Raise(top, t) });
                    ended += 1;
                }
            }
            3 => {
                // An exception ends a call deeper in the stack: the original's log has only the outer exit.
                if stack.len() >= 2 {
                    let k = (f as usize) % stack.len();
                    let target = stack[k];
                    let pos = stack.iter().rposition(|&x| x == target).unwrap();
                    stack.truncate(pos);
                    evs.push(Ev::Exit(target, t));
                    ended += 1;
                }
            }
            4 => {
                if let Some(top) = stack.pop() {
                    evs.push(Ev::Suspend(top, t));
                    suspended.push(top);
                }
            }
            _ => {
                if let Some(g) = suspended.pop() {
                    stack.push(g);
                    evs.push(Ev::Resume(g, t));
                }
            }
        }
    }
    let unfinished = (stack.len() + suspended.len()) as u64;
    (evs, ended, unfinished)
}

pub const FUNCS: [(&str, &str); 6] = [("a", "m"), ("b", "m"), ("c", "m"), ("d", "n"), ("e", "n"), ("f", "n")];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sums_hits_and_chunking(
        t0 in prop::collection::vec((any::<u8>(), any::<u8>(), 0u16..500), 0..120),
        t1 in prop::collection::vec((any::<u8>(), any::<u8>(), 0u16..500), 0..120),
        per_block in 1usize..8,
    ) {
        let (e0, ended0, open0) = thread_events(&t0);
        let (e1, ended1, open1) = thread_events(&t1);
        let threads = vec![
            ThreadSpec { tid: 1, name: "MainThread", events: e0.clone() },
            ThreadSpec { tid: 2, name: "Thread-1", events: e1.clone() },
        ];
        let dir = tempfile::tempdir().unwrap();
        let fine = write_temp(dir.path(), "fine.pylu", &build_trace(7, &FUNCS, &threads, per_block));
        let coarse = write_temp(dir.path(), "coarse.pylu", &build_trace(7, &FUNCS, &threads, 1_000_000));
        let reference = analyze_files(std::slice::from_ref(&coarse), 1 << 30);
        assert_self_sums(&reference);
        let hits: u64 = reference.threads.iter().flat_map(|t| t.tree.nodes.iter()).map(|n| n.stats.hits).sum();
        prop_assert_eq!(hits, ended0 + ended1 + open0 + open1);
        prop_assert_eq!(reference.calls, ended0 + ended1);
        let unfinished: u64 =
            reference.threads.iter().flat_map(|t| t.tree.unfinished_nodes()).map(|(_, u)| u.calls).sum();
        prop_assert_eq!(unfinished, open0 + open1);
        prop_assert_eq!(reference.warnings.unfinished, open0 + open1);
        // Not counting them (`pylu-processlogs`, `diff`): the calls that ended only, the open ones cut.
        let ended_only = analyze_with(std::slice::from_ref(&coarse), &Options { unfinished: false, ..test_options(1 << 30) });
        assert_self_sums(&ended_only);
        let hits: u64 = ended_only.threads.iter().flat_map(|t| t.tree.nodes.iter()).map(|n| n.stats.hits).sum();
        prop_assert_eq!(hits, ended0 + ended1);
        prop_assert_eq!(ended_only.warnings.unfinished, 0);
        for chunk in [1usize, 200, 1 << 30] {
            let a = analyze_files(std::slice::from_ref(&fine), chunk);
            assert_self_sums(&a);
            prop_assert_eq!(folded(&a), folded(&reference));
            prop_assert_eq!(summary_json(&a), summary_json(&reference));
            prop_assert_eq!(a.warnings, reference.warnings);
        }
    }
}

/// A text log of the original's format from random calls on two interleaved threads: calls nest, some raise
/// (no `func_end`, so roots stay open), function 0 and 1 are often request roots.
fn text_log(ops: &[(u8, u8, u16)]) -> String {
    let mut out = String::new();
    let mut t = 0u64;
    let mut stacks: [Vec<(u32, u64)>; 2] = [Vec::new(), Vec::new()];
    for &(op, f, dt) in ops {
        t += dt as u64 + 1;
        let th = (op >> 7) as usize;
        let f = (f % 6) as u32;
        let (name, tid) = [("MainThread", 1001), ("Thread-1", 1002)][th];
        let (q, m) = FUNCS[f as usize];
        let epoch = |t: u64| format!("{}.{:06}", 1_589_113_696 + t / 1_000_000, t % 1_000_000);
        let line = |q: &str, m: &str, msg: String| {
            format!("2020-05-10 12:28:16,000; MainProcess; 4510; {name}; {tid}; /srv/{m}.py; 1; {m}; {q}; {msg}\n")
        };
        match op % 4 {
            0 | 1 => {
                stacks[th].push((f, t));
                out += &line(q, m, format!("func_begin; {}", epoch(t)));
            }
            2 => {
                if let Some((g, t0)) = stacks[th].pop() {
                    let (q, m) = FUNCS[g as usize];
                    out += &line(q, m, format!("func_end; {:.4}; {}", (t - t0) as f64 / 1000.0, epoch(t)));
                }
            }
            _ => {
                // Raises: the frame goes without a line.
                stacks[th].pop();
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Text logs are replayed in order per thread, so the rule for unclosed frames gives the same result
    /// whatever the chunk size.
    #[test]
    fn text_log_chunking(ops in prop::collection::vec((any::<u8>(), any::<u8>(), 0u16..500), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let p = write_temp(dir.path(), "x.log", text_log(&ops).as_bytes());
        // Whatever the read-ahead, too (a short one changes results, never their independence of chunking).
        for read_ahead in [0usize, 2, 7, 1 << 14] {
            let reference = analyze_files_reading_ahead(std::slice::from_ref(&p), 1 << 30, read_ahead);
            assert_self_sums(&reference);
            for chunk in [1usize, 300, 5000] {
                let a = analyze_files_reading_ahead(std::slice::from_ref(&p), chunk, read_ahead);
                assert_self_sums(&a);
                prop_assert_eq!(folded(&a), folded(&reference));
                prop_assert_eq!(summary_json(&a), summary_json(&reference));
                prop_assert_eq!(a.warnings, reference.warnings);
            }
        }
    }

    /// A text log in which every call ends (two functions, so calls of one another and of themselves, at the
    /// root and inside, are common) nests exactly as the original's rule alone: the read-ahead sees every open
    /// call end, so no entry point entered again cuts anything.
    #[test]
    fn text_log_whose_calls_all_end_nests_like_the_original(ops in prop::collection::vec((any::<bool>(), any::<bool>()), 0..200)) {
        let (log, expected, calls) = well_formed_text_log(&ops);
        let dir = tempfile::tempdir().unwrap();
        let p = write_temp(dir.path(), "x.log", log.as_bytes());
        let a = analyze_files(std::slice::from_ref(&p), 1 << 30);
        prop_assert_eq!(a.warnings, pylu_analyzer::Warnings::default());
        prop_assert_eq!(a.calls, calls);
        let mut got = std::collections::BTreeMap::new();
        for t in &a.threads {
            for (i, n) in t.tree.nodes.iter().enumerate().skip(1) {
                let mut path = vec![a.func_name(n.func).to_owned()];
                let mut at = n.parent;
                while at != 0 {
                    path.push(a.func_name(t.tree.nodes[at as usize].func).to_owned());
                    at = t.tree.nodes[at as usize].parent;
                }
                path.reverse();
                prop_assert!(n.stats.hits > 0, "node {} ({:?}) has no hit", i, path);
                got.insert(path.join(";"), n.stats.hits);
            }
        }
        prop_assert_eq!(got, expected);
    }
}

/// One thread's text log from `(enter, which)` steps: `enter` starts a call of `m.a` or `m.b` (`which`), else
/// the innermost call ends; calls still open at the end then end. Returns the log, the hits per stack
/// (`m.a;m.b;…`) and the number of calls.
fn well_formed_text_log(ops: &[(bool, bool)]) -> (String, std::collections::BTreeMap<String, u64>, u64) {
    let mut out = String::new();
    let mut stack: Vec<(&str, u64)> = Vec::new();
    let mut hits = std::collections::BTreeMap::new();
    let mut t = 0u64;
    let line = |q: &str, msg: String| {
        format!("2020-05-10 12:28:16,000; MainProcess; 4510; MainThread; 1001; /srv/m.py; 1; m; {q}; {msg}\n")
    };
    let epoch = |t: u64| format!("{}.{:06}", 1_589_113_696 + t / 1_000_000, t % 1_000_000);
    let mut end = |stack: &mut Vec<(&str, u64)>, out: &mut String, t: u64| {
        let path: Vec<String> = stack.iter().map(|(q, _)| format!("m.{q}")).collect();
        *hits.entry(path.join(";")).or_insert(0u64) += 1;
        let (q, t0) = stack.pop().unwrap();
        *out += &line(q, format!("func_end; {:.4}; {}", (t - t0) as f64 / 1000.0, epoch(t)));
    };
    let mut calls = 0;
    for &(enter, which) in ops {
        t += 10;
        if enter || stack.is_empty() {
            let q = if which { "a" } else { "b" };
            stack.push((q, t));
            out += &line(q, format!("func_begin; {}", epoch(t)));
        } else {
            end(&mut stack, &mut out, t);
            calls += 1;
        }
    }
    while !stack.is_empty() {
        t += 10;
        end(&mut stack, &mut out, t);
        calls += 1;
    }
    (out, hits, calls)
}
