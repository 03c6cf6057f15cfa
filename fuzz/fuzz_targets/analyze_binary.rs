//! Random call sequences on two threads as a binary trace — calls that end or raise, generators suspended and
//! resumed, line and debugger records, update markers — sometimes damaged at one byte, through the whole
//! analyzer: analyzed whole and in units of a block or a few, every report, and the Chrome, speedscope and
//! pstats exports (Parquet one run in eight). Nothing may panic; per thread the self times add up to the root's
//! total; an undamaged trace's folded stacks, summary JSON and warnings do not depend on the units.
//!
//! Each input byte after the first is one step on one of two threads (bit 0): enter one of four functions,
//! end or raise the innermost call, suspend it (a generator) or resume the last suspended one, or a line,
//! debugger or update record. The first byte picks the records per block, the unit size, whether a byte of the
//! trace is flipped (the last two input bytes say where and how) and whether Parquet is written.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use pylu_analyzer::export::{self, ExportArgs, ExportFormat};
use pylu_analyzer::report::flamegraph::{self, FlameOptions};
use pylu_analyzer::{analyze, report, Analysis, Input, Options, Selection};
use pylu_formats::{BlockEncoder, ClockAnchor, DebugKind, FileHeader, FuncDef, TraceWriter, UpdateAction};

const FUNCS: [&str; 4] = ["handle", "query", "walk", "fetch"];

/// The trace the steps describe, each thread's records sealed into a block every `per_block` steps.
fn trace(steps: &[u8], per_block: usize) -> Vec<u8> {
    let header = FileHeader::new(
        4510,
        1,
        "fuzz-host",
        "3.11.7",
        &["app.py".into()],
        ClockAnchor { monotonic_ns: 0, wall_ns: 1_589_113_696_000_000_000 },
    );
    let w = TraceWriter::new(Vec::new(), &header).unwrap();
    let mut encs = [BlockEncoder::new(1001, 1 << 16), BlockEncoder::new(1002, 1 << 16)];
    for (id, name) in FUNCS.iter().enumerate() {
        encs[0].func_def(&FuncDef { id: id as u32, qualname: name, module: "m", file: "/srv/m.py", first_line: 1 });
    }
    encs[0].thread_name("MainThread");
    encs[1].thread_name("Thread-1");
    let mut stacks: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    let mut suspended: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    let mut pending = [0usize; 2];
    let mut updates = 0u32;
    let mut t = 1_000u64;
    for &b in steps {
        t += 1_000 * (1 + u64::from(b >> 5));
        let th = usize::from(b & 1);
        let (enc, stack, gens) = (&mut encs[th], &mut stacks[th], &mut suspended[th]);
        let f = u32::from((b >> 4) & 3);
        match (b >> 1) & 7 {
            0..=2 => {
                stack.push(f);
                enc.enter(f, t);
            }
            3 | 4 => {
                if let Some(top) = stack.pop() {
                    enc.exit(top, t, (b >> 1) & 7 == 4);
                }
            }
            5 => {
                if let Some(top) = stack.pop() {
                    gens.push(top);
                    enc.suspend(top, t);
                }
            }
            6 => {
                if let Some(g) = gens.pop() {
                    stack.push(g);
                    enc.resume(g, t);
                }
            }
            _ => {
                let at = stack.last().copied().unwrap_or(f);
                match f {
                    0 | 1 => enc.line(at, 2 + f, 1 + u64::from(b >> 5) * 300, t),
                    2 => enc.debug(at, 3, DebugKind::Used, "x", &format!("{b}"), t),
                    _ => {
                        let action =
                            if updates.is_multiple_of(2) { UpdateAction::Applied } else { UpdateAction::Reverted };
                        enc.update(updates / 2, action, "patch('p.py')", t);
                        updates += 1;
                    }
                }
            }
        }
        pending[th] += 1;
        if pending[th] >= per_block {
            w.flush_encoder(&mut encs[th]).unwrap();
            pending[th] = 0;
        }
    }
    for enc in &mut encs {
        w.flush_encoder(enc).unwrap();
    }
    w.into_inner().unwrap()
}

/// Every report of `path` analyzed in units of `chunk_bytes`: the folded stacks and summary JSON (compared
/// between unit sizes) and the analysis; the other reports are only made.
fn run(path: &Path, chunk_bytes: usize) -> (String, Analysis) {
    let inputs = vec![Input::open(path).expect("the trace just written")];
    let opts =
        Options { chunk_bytes, adaptive_units: false, collect_events: true, collect_lines: true, ..Options::default() };
    let a = analyze(&inputs, &opts);
    let sel = Selection::default();
    let views = sel.views(&a);
    let mut folded = Vec::new();
    report::folded::write_folded(&a, &views, &mut folded).unwrap();
    let mut json = Vec::new();
    report::summary::write_json(&a, &views, &Default::default(), &mut json).unwrap();
    let mut sink = Vec::new();
    report::summary::write_text(&a, &views, &Default::default(), &mut sink).unwrap();
    report::summary::write_csv(&a, &views, &Default::default(), &mut sink).unwrap();
    report::lines::write_text(&a, &views, &mut sink).unwrap();
    report::lines::write_json(&a, &views, &mut sink).unwrap();
    report::events::write_text(&a, &sel, &[], &mut sink).unwrap();
    report::events::write_json(&a, &sel, &[], &mut sink).unwrap();
    let lines = report::folded::flame_lines(&a, &views, flamegraph::DRAWN_WIDTH, FlameOptions::default().min_width);
    flamegraph::write_flamegraph(&lines, &FlameOptions::default(), &mut sink).unwrap();
    let merged = Selection { merge_threads: true, ..Selection::default() };
    report::folded::write_folded(&a, &merged.views(&a), &mut sink).unwrap();
    folded.extend(json);
    (String::from_utf8(folded).unwrap(), a)
}

/// `export FORMAT path -o out`: an error is an answer, a panic is not.
fn export_to(format: ExportFormat, path: &Path, out: PathBuf) {
    let args = ExportArgs {
        format,
        inputs: vec![path.to_owned()],
        output: out,
        quiet: true,
        row_group_size: 7,
        compression: "zstd".into(),
        partition: false,
        from: None,
        to: None,
        min_dur: None,
    };
    let _ = export::run(&args);
}

static RUN: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let Some((&first, steps)) = data.split_first() else { return };
    let per_block = 1 + usize::from(first & 7);
    let mut bytes = trace(steps, per_block);
    let damaged = first & 0x80 != 0 && steps.len() >= 2;
    if damaged {
        let (at, xor) = (
            usize::from(steps[steps.len() - 2]) << 4 | usize::from(steps[steps.len() - 1] >> 4),
            steps[steps.len() - 1] | 1,
        );
        let at = at % bytes.len();
        bytes[at] ^= xor;
    }
    let dir = std::env::temp_dir().join(format!(
        "pylu-fuzz-bin-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.pylu");
    std::fs::write(&path, &bytes).unwrap();

    let (whole, a) = run(&path, 1 << 30);
    for t in &a.threads {
        let selfs: u64 = t.tree.self_times().iter().sum();
        assert_eq!(selfs, t.tree.nodes[0].stats.total_ns, "thread {}", t.root_name());
    }
    let unit = 1 + usize::from((first >> 3) & 7) * 60;
    let (chunked, b) = run(&path, unit);
    if !damaged {
        assert_eq!(chunked, whole, "units of {unit} bytes, {per_block} records a block");
        assert_eq!(a.warnings, b.warnings);
    }
    export_to(ExportFormat::Chrome, &path, dir.join("trace.json"));
    export_to(ExportFormat::Speedscope, &path, dir.join("profile.speedscope.json"));
    export_to(ExportFormat::Pstats, &path, dir.join("out.prof"));
    if first & 0x40 != 0 && first & 0x20 != 0 && first & 0x10 != 0 {
        export_to(ExportFormat::Parquet, &path, dir.join("parquet"));
    }
    std::fs::remove_dir_all(&dir).ok();
});
