//! Golden outputs of the fixtures: folded stacks, summary (JSON, CSV, text) and the SVG with deterministic
//! colours. `PYLU_BLESS=1` rewrites them; review the diff before committing.

use pylu_analyzer::report::{flamegraph, folded, lines, summary};
use pylu_analyzer::{Analysis, Selection};

use crate::common::*;
use crate::handchecked::worked_trace;

fn outputs(a: &Analysis, stem: &str) {
    let views = Selection::default().views(a);
    let mut out = Vec::new();
    folded::write_folded(a, &views, &mut out).unwrap();
    check_golden(&format!("{stem}.folded"), &out);
    let lines_f = folded::flame_lines(a, &views, flamegraph::DRAWN_WIDTH, 0.1);
    let mut svg = Vec::new();
    flamegraph::write_flamegraph(&lines_f, &Default::default(), &mut svg).unwrap();
    check_golden(&format!("{stem}.svg"), &svg);
    let mut out = Vec::new();
    summary::write_json(a, &views, &Default::default(), &mut out).unwrap();
    check_golden(&format!("{stem}.summary.json"), &out);
    let mut out = Vec::new();
    summary::write_csv(a, &views, &Default::default(), &mut out).unwrap();
    check_golden(&format!("{stem}.summary.csv"), &out);
    let mut out = Vec::new();
    summary::write_text(a, &views, &Default::default(), &mut out).unwrap();
    check_golden(&format!("{stem}.summary"), &out);
    let mut out = Vec::new();
    lines::write_json(a, &views, &mut out).unwrap();
    check_golden(&format!("{stem}.lines.json"), &out);
}

#[test]
fn legacy_two_threads() {
    let a = analyze_files(&[fixtures().join("two_threads.log")], 1 << 20);
    outputs(&a, "two_threads");
    let mut out = Vec::new();
    pylu_analyzer::report::events::write_json(&a, &Selection::default(), &[], &mut out).unwrap();
    check_golden("two_threads.events.json", &out);
}

#[test]
fn binary_worked_example() {
    let bytes = worked_trace(3);
    if blessing() {
        std::fs::write(fixtures().join("worked.pylu"), &bytes).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write_temp(dir.path(), "worked.pylu", &bytes);
    let a = analyze_files(&[p], 1 << 20);
    outputs(&a, "worked");
}

#[test]
fn the_svg_is_the_same_every_time() {
    let a = analyze_files(&[fixtures().join("two_threads.log")], 1 << 20);
    let views = Selection::default().views(&a);
    let lines_f = folded::folded_lines(&a, &views);
    let draw = || {
        let mut svg = Vec::new();
        flamegraph::write_flamegraph(&lines_f, &Default::default(), &mut svg).unwrap();
        svg
    };
    assert_eq!(draw(), draw());
}
