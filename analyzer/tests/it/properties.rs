//! Properties over random call sequences: self times add up to each root's total, hits equal the calls that
//! ended, and neither block boundaries nor the size of parallel units change any output.

use proptest::prelude::*;

use crate::common::*;

/// A random thread: calls nest, some raise through their callers, generators suspend and resume (possibly
/// under another caller), and some calls are still open at the end.
fn thread_events(ops: &[(u8, u8, u16)]) -> (Vec<Ev>, u64) {
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
    (evs, ended)
}

const FUNCS: [(&str, &str); 6] = [("a", "m"), ("b", "m"), ("c", "m"), ("d", "n"), ("e", "n"), ("f", "n")];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sums_hits_and_chunking(
        t0 in prop::collection::vec((any::<u8>(), any::<u8>(), 0u16..500), 0..120),
        t1 in prop::collection::vec((any::<u8>(), any::<u8>(), 0u16..500), 0..120),
        per_block in 1usize..8,
    ) {
        let (e0, ended0) = thread_events(&t0);
        let (e1, ended1) = thread_events(&t1);
        let threads = vec![
            ThreadSpec { tid: 1, name: "MainThread", events: e0.clone() },
            ThreadSpec { tid: 2, name: "Thread-1", events: e1.clone() },
        ];
        let dir = tempfile::tempdir().unwrap();
        let fine = write_temp(dir.path(), "fine.pylu", &build_trace(7, &FUNCS, &threads, per_block));
        let coarse = write_temp(dir.path(), "coarse.pylu", &build_trace(7, &FUNCS, &threads, 1_000_000));
        let reference = analyze_files(&[coarse], 1 << 30);
        assert_self_sums(&reference);
        let hits: u64 = reference.threads.iter().flat_map(|t| t.tree.nodes.iter()).map(|n| n.stats.hits).sum();
        prop_assert_eq!(hits, ended0 + ended1);
        prop_assert_eq!(reference.calls, ended0 + ended1);
        for chunk in [1usize, 200, 1 << 30] {
            let a = analyze_files(std::slice::from_ref(&fine), chunk);
            assert_self_sums(&a);
            prop_assert_eq!(folded(&a), folded(&reference));
            prop_assert_eq!(summary_json(&a), summary_json(&reference));
            prop_assert_eq!(a.warnings, reference.warnings);
        }
    }
}
