//! A function redefined while profiled (the stub's `patch('fix.py')`, `Redefine`): the trace has a second
//! definition of the same name from another file, and line records of both. Calls stay under the one name; line
//! timings are kept per definition, with each definition's source text read from its own file.

use std::path::{Path, PathBuf};
use std::process::Command;

use pylu_analyzer::report::lines::{line_rows, LineRow};
use pylu_analyzer::{Analysis, Selection};
use pylu_formats::{BlockEncoder, ClockAnchor, FileHeader, FuncDef, TraceWriter};
use serde_json::Value;

use crate::common::*;

fn analyze_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pylu-analyze"))
}

/// The original module: `handler` at line 1, its body at lines 2 and 3.
const APP: &str = "def handler(x):\n    y = x + 1\n    return y\n";
/// The patch: `handler` at line 2, its body at lines 3 to 6 (line 3 is `return y` in `APP`; 4 to 6 are past
/// its end).
const FIX: &str =
    "# the fix, loaded by patch()\ndef handler(x):\n    y = x * 100\n    z = y - 1\n    if z > 0:\n        return z\n";

/// Both modules written into `dir`: (app.py, fix.py).
fn sources(dir: &Path) -> (String, String) {
    let app = write_temp(dir, "app.py", APP.as_bytes());
    let fix = write_temp(dir, "fix.py", FIX.as_bytes());
    (app.to_str().unwrap().to_owned(), fix.to_str().unwrap().to_owned())
}

/// The old definition's lines (line, ns per execution), run twice; the new one's, run three times.
const OLD_LINES: [(u32, u64); 2] = [(2, 1_000_000), (3, 500_000)];
const NEW_LINES: [(u32, u64); 4] = [(3, 2_000_000), (4, 300_000), (5, 100_000), (6, 50_000)];

/// A binary trace of thread `tid` (pid 4510): `app.handler` defined by id `old` in `app` at line 1 and by id
/// `new` in `fix` at line 2 (the ids say which: a restarted writer numbers its functions again); two calls of
/// the old definition then three of the new, each with its lines.
fn patched_trace(app: &str, fix: &str, tid: u64, old: u32, new: u32) -> Vec<u8> {
    let header = FileHeader::new(4510, 1, "h", "3.11.7", &[], ClockAnchor { monotonic_ns: 0, wall_ns: WALL0 });
    let w = TraceWriter::new(Vec::new(), &header).unwrap();
    let mut enc = BlockEncoder::new(tid, 1 << 16);
    enc.thread_name("MainThread");
    enc.func_def(&FuncDef { id: old, qualname: "handler", module: "app", file: app, first_line: 1 });
    let mut t = 1_000;
    let mut calls = |enc: &mut BlockEncoder, id: u32, n: usize, lines: &[(u32, u64)]| {
        for _ in 0..n {
            enc.enter(id, t);
            for &(line, ns) in lines {
                t += ns;
                enc.line(id, line, ns, t);
            }
            t += 1_000;
            enc.exit(id, t, false);
        }
    };
    calls(&mut enc, old, 2, &OLD_LINES);
    // The patch: a new definition, as the stub writes it when `handler` is replaced.
    enc.func_def(&FuncDef { id: new, qualname: "handler", module: "app", file: fix, first_line: 2 });
    calls(&mut enc, new, 3, &NEW_LINES);
    w.flush_encoder(&mut enc).unwrap();
    w.into_inner().unwrap()
}

/// The same as a text log: each record names its file in the `pathname` column.
fn patched_log(app: &str, fix: &str) -> String {
    let mut log = String::new();
    let mut rec = |sec: u32, path: &str, lineno: u32, msg: &str| {
        log += &format!(
            "2024-03-01 09:00:{sec:02},000; MainProcess; 4510; MainThread; 1001; {path}; {lineno}; app; handler; {msg}\n"
        );
    };
    let mut calls = |sec: u32, path: &str, first: u32, n: usize, lines: &[(u32, u64)]| {
        for _ in 0..n {
            rec(sec, path, first, &format!("func_begin; {}.0", 1_709_283_600 + sec));
            for &(line, ns) in lines {
                rec(sec, path, line, &format!("{:.4} ms", ns as f64 / 1e6));
            }
            rec(sec, path, first, &format!("func_end; 4.0; {}.004", 1_709_283_600 + sec));
        }
    };
    calls(0, app, 1, 2, &OLD_LINES);
    calls(1, fix, 2, 3, &NEW_LINES);
    log
}

/// (file, first line, line, hits, total ns, source) per row, in the report's order.
fn rows_of(a: &Analysis, selection: &Selection) -> Vec<(String, u32, u32, u64, f64, Option<String>)> {
    let rows: Vec<LineRow> = line_rows(a, &selection.views(a));
    assert!(rows.iter().all(|r| r.function == "app.handler"), "{rows:?}");
    rows.into_iter().map(|r| (r.file, r.first_line, r.line, r.hits, r.total_us, r.source)).collect()
}

/// What every input below reports: the old definition's two lines from app.py, the new one's four from fix.py
/// (line 3 of each timed apart), `scale` times the hits of one trace; `first` the definitions' first lines.
fn expected(app: &str, fix: &str, first: [u32; 2], scale: u64) -> Vec<(String, u32, u32, u64, f64, Option<String>)> {
    let row = |file: &str, first: u32, (line, ns): (u32, u64), hits: u64, src: &str| {
        (file.to_owned(), first, line, hits * scale, (hits * scale * ns) as f64 / 1000.0, Some(src.to_owned()))
    };
    vec![
        row(app, first[0], OLD_LINES[0], 2, "y = x + 1"),
        row(app, first[0], OLD_LINES[1], 2, "return y"),
        row(fix, first[1], NEW_LINES[0], 3, "y = x * 100"),
        row(fix, first[1], NEW_LINES[1], 3, "z = y - 1"),
        row(fix, first[1], NEW_LINES[2], 3, "if z > 0:"),
        row(fix, first[1], NEW_LINES[3], 3, "return z"),
    ]
}

/// Calls are still one function: five calls of `app.handler`, under one name in the call tree.
fn assert_calls_merged(a: &Analysis, calls: u64) {
    let f: Vec<_> = a.functions.iter().filter(|f| f.name == "app.handler").collect();
    assert_eq!(f.len(), 1, "{:?}", a.functions);
    let summary: Value = serde_json::from_str(&summary_json(a)).unwrap();
    let handler = summary["functions"].as_array().unwrap().iter().find(|r| r["function"] == "app.handler").unwrap();
    assert_eq!(handler["hits"], calls, "{handler}");
}

#[test]
fn binary_lines_of_two_definitions_are_apart_with_their_own_source() {
    let dir = tempfile::tempdir().unwrap();
    let (app, fix) = sources(dir.path());
    let p = write_temp(dir.path(), "t.pylu", &patched_trace(&app, &fix, 1, 0, 1));
    let a = analyze_files(std::slice::from_ref(&p), 1 << 20);
    assert_eq!(a.damage_count, 0);
    assert_eq!(rows_of(&a, &Selection::default()), expected(&app, &fix, [1, 2], 1));
    assert_calls_merged(&a, 5);
}

#[test]
fn text_log_lines_of_two_definitions_are_apart_with_their_own_source() {
    let dir = tempfile::tempdir().unwrap();
    let (app, fix) = sources(dir.path());
    let log = patched_log(&app, &fix);
    let p = write_temp(dir.path(), "t.log", log.as_bytes());
    // In one unit, and cut into many (each interns the definitions it sees).
    for chunk in [1 << 20, 300] {
        let a = analyze_files(std::slice::from_ref(&p), chunk);
        assert_eq!(a.damage_count, 0);
        assert_eq!(rows_of(&a, &Selection::default()), expected(&app, &fix, [0, 0], 1), "chunk {chunk}");
        assert_calls_merged(&a, 5);
    }
}

/// Threads and files merged (`--merge-threads`, the same thread in a restarted writer's second file whose ids
/// are the other way round) sum each definition's lines with the same definition's, never with the other's.
#[test]
fn merged_threads_and_files_keep_definitions_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (app, fix) = sources(dir.path());
    let first = write_temp(dir.path(), "a.pylu", &patched_trace(&app, &fix, 1, 0, 1));
    let restarted = write_temp(dir.path(), "b.pylu", &patched_trace(&app, &fix, 1, 1, 0));
    let other_thread = write_temp(dir.path(), "c.pylu", &patched_trace(&app, &fix, 2, 5, 9));
    let a = analyze_files(&[first, restarted, other_thread], 1 << 20);
    assert_eq!(a.damage_count, 0);
    assert_eq!(a.threads.len(), 2);
    assert_eq!(rows_of(&a, &Selection::default()), expected(&app, &fix, [1, 2], 3));
    let merged = Selection { merge_threads: true, ..Selection::default() };
    assert_eq!(rows_of(&a, &merged), expected(&app, &fix, [1, 2], 3));
    let views = merged.views(&a);
    assert_eq!(views.len(), 1);
    // One stat per (definition, line) in the merged root: 2 lines of the old, 4 of the new.
    assert_eq!(views[0].lines.len(), 6, "{:?}", views[0].lines);
    assert_calls_merged(&a, 15);
}

/// The commands: the table names each row's definition (`defined at`), JSON its `file` and `first_line`.
#[test]
fn lines_command_shows_each_definition() {
    let dir = tempfile::tempdir().unwrap();
    let (app, fix) = sources(dir.path());
    let trace = write_temp(dir.path(), "t.pylu", &patched_trace(&app, &fix, 1, 0, 1));
    let log = write_temp(dir.path(), "t.log", patched_log(&app, &fix).as_bytes());
    for (input, app_at, fix_at) in [(&trace, format!("{app}:1"), format!("{fix}:2")), (&log, app.clone(), fix.clone())]
    {
        let out = analyze_cmd().args(["lines", "-q"]).arg(input).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let cells: Vec<Vec<&str>> =
            text.lines().map(|l| l.split('|').map(str::trim).filter(|c| !c.is_empty()).collect()).collect();
        assert_eq!(cells[0][..3], ["function", "defined at", "line"], "{text}");
        let rows: Vec<(&str, &str, &str, &str)> = cells[2..].iter().map(|c| (c[1], c[2], c[3], c[9])).collect();
        assert_eq!(
            rows,
            [
                (app_at.as_str(), "2", "2", "y = x + 1"),
                (&app_at, "3", "2", "return y"),
                (&fix_at, "3", "3", "y = x * 100"),
                (&fix_at, "4", "3", "z = y - 1"),
                (&fix_at, "5", "3", "if z > 0:"),
                (&fix_at, "6", "3", "return z"),
            ],
            "{text}"
        );
        let out = analyze_cmd().args(["lines", "-q", "--format", "json"]).arg(input).output().unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        let first = json.as_array().unwrap().iter().map(|r| (r["file"].clone(), r["first_line"].clone()));
        let first: Vec<(Value, Value)> = first.collect();
        let lines = if input == &trace { [1, 2] } else { [0, 0] };
        assert_eq!(first[0], (Value::from(app.as_str()), Value::from(lines[0])));
        assert_eq!(first[5], (Value::from(fix.as_str()), Value::from(lines[1])));
    }
}

/// `lines.parquet` has each row's definition: its `file` and `first_line` columns.
#[cfg(feature = "parquet")]
#[test]
fn parquet_lines_name_each_rows_definition() {
    let dir = tempfile::tempdir().unwrap();
    let (app, fix) = sources(dir.path());
    let trace = write_temp(dir.path(), "t.pylu", &patched_trace(&app, &fix, 1, 0, 1));
    let out = dir.path().join("pq");
    let o = analyze_cmd()
        .args(["export", "parquet", "-q", "--compression", "none"])
        .arg(&trace)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let table = read_parquet(&out.join("lines.parquet"));
    let col = |name: &str| table.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1.clone();
    let rows: Vec<(Value, Value, Value, Value)> = (0..6)
        .map(|i| (col("file")[i].clone(), col("first_line")[i].clone(), col("line")[i].clone(), col("hits")[i].clone()))
        .collect();
    let row = |file: &str, first: u32, line: u32, hits: u64| {
        (Value::from(file), Value::from(first), Value::from(line), Value::from(hits))
    };
    assert_eq!(
        rows,
        [
            row(&app, 1, 2, 2),
            row(&app, 1, 3, 2),
            row(&fix, 2, 3, 3),
            row(&fix, 2, 4, 3),
            row(&fix, 2, 5, 3),
            row(&fix, 2, 6, 3)
        ]
    );
    assert_eq!(col("line").len(), 6);
}

/// A Parquet file's columns, each as JSON values (strings and integers: what the aggregate tables hold).
#[cfg(feature = "parquet")]
fn read_parquet(path: &PathBuf) -> Vec<(String, Vec<Value>)> {
    use polars_arrow::array::{BinaryViewArray, PrimitiveArray, Utf8ViewArray};
    use polars_parquet::read::{
        column_iter_to_arrays, get_page_iterator, infer_schema, read_metadata, BasicDecompressor,
    };
    let bytes = std::fs::read(path).unwrap();
    let meta = read_metadata(&mut std::io::Cursor::new(&bytes)).unwrap();
    let schema = infer_schema(&meta).unwrap();
    let mut cols: Vec<(String, Vec<Value>)> = schema.iter_values().map(|f| (f.name.to_string(), Vec::new())).collect();
    for rg in &meta.row_groups {
        for (k, field) in schema.iter_values().enumerate() {
            let chunk = rg.columns_under_root_iter(&field.name).unwrap().next().unwrap();
            let pages =
                get_page_iterator(chunk, std::io::Cursor::new(bytes.clone().into()), vec![], usize::MAX).unwrap();
            let ty = &chunk.descriptor().descriptor.primitive_type;
            let (arrays, _) =
                column_iter_to_arrays(vec![BasicDecompressor::new(pages, vec![])], vec![ty], field.clone(), None)
                    .unwrap();
            for array in arrays {
                let any = array.as_any();
                let values: Vec<Value> = if let Some(a) = any.downcast_ref::<Utf8ViewArray>() {
                    a.values_iter().map(Value::from).collect()
                } else if let Some(a) = any.downcast_ref::<BinaryViewArray>() {
                    a.values_iter().map(|b| Value::from(String::from_utf8_lossy(b).into_owned())).collect()
                } else if let Some(a) = any.downcast_ref::<PrimitiveArray<i64>>() {
                    a.values_iter().map(|&v| Value::from(v)).collect()
                } else if let Some(a) = any.downcast_ref::<PrimitiveArray<i32>>() {
                    a.values_iter().map(|&v| Value::from(v)).collect()
                } else {
                    panic!("column {}: {:?}", field.name, array.dtype());
                };
                cols[k].1.extend(values);
            }
        }
    }
    cols
}
