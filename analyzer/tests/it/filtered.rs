//! Filtered views count what they show (`--func` context frames carry only the paths that lead to a match), and
//! what the summary and the flamegraph leave out, said in their text.

use std::process::Command;

use pylu_analyzer::report::{flamegraph, folded, summary};
use pylu_analyzer::{Analysis, Selection};

use crate::common::*;

pub const HANDLE: u32 = 0;
const ROUTE: u32 = 1;
const RAISE: u32 = 2;
pub const WORK: u32 = 3;
pub const FUNCS: &[(&str, &str)] = &[("handle", "app"), ("route", "app"), ("raise_exc", "app"), ("work", "app")];
pub const MS: u64 = 1_000_000;

/// Ten requests of 0.9 ms: the first and the sixth route and raise (the sixth twice, 0.1 and 0.05 ms), the
/// others work 0.5 ms.
fn requests() -> Vec<Ev> {
    let mut ev = Vec::new();
    for i in 0..10u64 {
        let t = i * MS;
        ev.push(Ev::Enter(HANDLE, t));
        if i % 5 == 0 {
            ev.push(Ev::Enter(ROUTE, t + 100_000));
            ev.push(Ev::Enter(RAISE, t + 200_000));
            ev.push(Ev::Exit(RAISE, t + 300_000));
            if i == 5 {
                ev.push(Ev::Enter(RAISE, t + 300_000));
                ev.push(Ev::Exit(RAISE, t + 350_000));
            }
            ev.push(Ev::Exit(ROUTE, t + 400_000));
        } else {
            ev.push(Ev::Enter(WORK, t + 100_000));
            ev.push(Ev::Exit(WORK, t + 600_000));
        }
        ev.push(Ev::Exit(HANDLE, t + 900_000));
    }
    ev
}

pub fn analysis(threads: &[ThreadSpec<'_>]) -> (tempfile::TempDir, std::path::PathBuf, Analysis) {
    let dir = tempfile::tempdir().unwrap();
    let p = write_temp(dir.path(), "t.pylu", &build_trace(4510, FUNCS, threads, 7));
    let a = analyze_files(std::slice::from_ref(&p), 1 << 20);
    (dir, p, a)
}

#[test]
fn a_func_filter_counts_only_the_paths_to_a_match() {
    let (_dir, _p, a) = analysis(&[ThreadSpec { tid: 7, name: "MainThread", events: requests() }]);
    let sel = Selection { func: Some(regex::Regex::new("raise_exc").unwrap()), ..Selection::default() };
    let views = sel.views(&a);
    let tree = &views[0].tree;
    let node = |path: &[u32]| {
        let mut n = 0u32;
        for &f in path {
            n = (1..tree.nodes.len() as u32)
                .find(|&c| {
                    tree.nodes[c as usize].parent == n
                        && a.functions[tree.nodes[c as usize].func as usize].name.ends_with(FUNCS[f as usize].0)
                })
                .unwrap_or_else(|| panic!("no node for {path:?}"));
        }
        tree.nodes[n as usize].stats
    };
    // Two of the ten requests led to the three matching calls, which took 0.25 ms in all.
    assert_eq!(node(&[HANDLE]).hits, 2);
    assert_eq!(node(&[HANDLE, ROUTE]).hits, 2);
    assert_eq!(node(&[HANDLE, ROUTE, RAISE]).hits, 3);
    assert_eq!(node(&[HANDLE]).total_ns, 250_000);
    assert_eq!(tree.nodes[0].stats.total_ns, 250_000);
    assert!(!tree.nodes.iter().any(|n| n.func == WORK), "work leads to no match");

    let mut text = Vec::new();
    summary::write_text(&a, &views, &Default::default(), &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.starts_with("4510-MainThread: 7 calls, 0.250 ms\n"), "{text}");
    check_golden("filtered_func.summary", text.as_bytes());
    let mut json = Vec::new();
    summary::write_json(&a, &views, &Default::default(), &mut json).unwrap();
    check_golden("filtered_func.summary.json", &json);
    let mut f = Vec::new();
    folded::write_folded(&a, &views, &mut f).unwrap();
    check_golden("filtered_func.folded", &f);
}

#[test]
fn what_is_hidden_is_said_with_how_to_show_it() {
    // One call of a second and, under it, one of 20 µs (0.002 %: under 0.1 % and under 0.1 px of 1,200).
    let ev = vec![Ev::Enter(HANDLE, 0), Ev::Enter(WORK, MS), Ev::Exit(WORK, MS + 20_000), Ev::Exit(HANDLE, 1000 * MS)];
    let (_dir, p, a) = analysis(&[ThreadSpec { tid: 7, name: "MainThread", events: ev }]);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pylu-analyze")).args(args).arg(&p).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let default = run(&["summary"]);
    assert!(!default.contains("    app.work"), "{default}");
    assert!(
        default.contains(
            "(1 call sites under 0.1% of the total not shown, with their callees; `summary --min-percent 0` shows all)"
        ),
        "{default}"
    );
    let all = run(&["summary", "--min-percent", "0"]);
    assert!(all.contains("    app.work"), "{all}");
    assert!(!all.contains("not shown"), "{all}");

    let views = Selection::default().views(&a);
    let (lines, hidden) = folded::flame_lines_counted(&a, &views, flamegraph::DRAWN_WIDTH, 0.1);
    assert_eq!(hidden, 1);
    assert!(!lines.iter().any(|l| l.contains("app.work")));
    let svg = run(&["flamegraph"]);
    assert!(svg.contains("1 call site narrower than 0.1 px not drawn, with their callees (--min-width 0 draws all)"));
    let svg = run(&["flamegraph", "--min-width", "0"]);
    assert!(!svg.contains("not drawn"));
    assert!(svg.contains("app.work"));
}

/// `--min-width` is in pixels of the drawn width (1,180 of 1,200), as in flamegraph.pl: a call of 0.6 px is
/// drawn (inferno takes a percentage; passing 0.1 to it hid every frame under 1.2 px), one of 0.06 px is not.
#[test]
fn min_width_is_in_pixels() {
    // A second; under it 500 µs (0.59 px) and, after it, 50 µs (0.059 px).
    let ev = vec![
        Ev::Enter(HANDLE, 0),
        Ev::Enter(ROUTE, MS),
        Ev::Exit(ROUTE, MS + 500_000),
        Ev::Enter(WORK, 2 * MS),
        Ev::Exit(WORK, 2 * MS + 50_000),
        Ev::Exit(HANDLE, 1000 * MS),
    ];
    let (_dir, p, _a) = analysis(&[ThreadSpec { tid: 7, name: "MainThread", events: ev }]);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pylu-analyze")).args(args).arg(&p).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let svg = run(&["flamegraph"]);
    assert!(svg.contains("<title>app.route (500 us, 0.05%)</title>"), "{svg}");
    assert!(!svg.contains("app.work"), "{svg}");
    assert!(svg.contains("1 call site narrower than 0.1 px not drawn"), "{svg}");
    // 0.7 px hides both.
    let svg = run(&["flamegraph", "--min-width", "0.7"]);
    assert!(!svg.contains("app.route") && !svg.contains("app.work"), "{svg}");
    assert!(svg.contains("2 call sites narrower than 0.7 px not drawn"), "{svg}");
}
