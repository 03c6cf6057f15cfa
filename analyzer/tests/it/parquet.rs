//! `calls.parquet` read back (polars-parquet's own reader): a thread-per-request trace's small threads share
//! row groups, and the rows are those of a row group per thread.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars_arrow::array::{get_display, Utf8ViewArray};
use polars_parquet::arrow::read::{column_iter_to_arrays, infer_schema, read_metadata, BasicDecompressor, PageReader};
use pylu_analyzer::export::parquet::{export, table};
use pylu_analyzer::{Input, Options};

use crate::common::*;

/// A file's rows (each its columns' values as text) in file order, row group by row group, and the names
/// of its columns.
fn read_rows(path: &Path) -> (Vec<String>, Vec<Vec<Vec<String>>>) {
    let bytes = std::fs::read(path).unwrap();
    let meta = read_metadata(&mut Cursor::new(&bytes)).unwrap();
    let schema = infer_schema(&meta).unwrap();
    let names: Vec<String> = schema.iter_values().map(|f| f.name.to_string()).collect();
    let mut groups = Vec::new();
    for rg in &meta.row_groups {
        let mut cols: Vec<Vec<String>> = Vec::new();
        for field in schema.iter_values() {
            let col = rg.columns_under_root_iter(&field.name).unwrap().next().unwrap();
            let range = col.byte_range();
            let chunk = polars_buffer::Buffer::from(bytes[range.start as usize..range.end as usize].to_vec());
            let pages = PageReader::new(Cursor::new(chunk), col, Vec::new(), usize::MAX);
            let (arrays, _) = column_iter_to_arrays(
                vec![BasicDecompressor::new(pages, Vec::new())],
                vec![&col.descriptor().descriptor.primitive_type],
                field.clone(),
                None,
            )
            .unwrap();
            let mut values = Vec::new();
            for a in &arrays {
                // Strings as text (polars' display shows a view's bytes).
                if let Some(b) = a.as_any().downcast_ref::<Utf8ViewArray>() {
                    values.extend(b.iter().map(|v| v.unwrap_or("null").to_owned()));
                    continue;
                }
                let show = get_display::<String>(a.as_ref(), "null");
                for i in 0..a.len() {
                    let mut s = String::new();
                    show(&mut s, i).unwrap();
                    values.push(s);
                }
            }
            assert_eq!(values.len(), rg.num_rows(), "{}", field.name);
            cols.push(values);
        }
        groups.push((0..rg.num_rows()).map(|r| cols.iter().map(|c| c[r].clone()).collect()).collect());
    }
    (names, groups)
}

/// A thread-per-request process: `threads` threads of a request each (a call or two, some raising, some never
/// closed), and one long-lived thread of `busy` calls.
fn requests_trace(dir: &Path, pid: u32, threads: usize, busy: usize) -> PathBuf {
    let funcs = [("handle", "app"), ("query", "app.db"), ("render", "app.views"), ("stream", "app")];
    let names: Vec<String> = (0..threads).map(|i| format!("Thread-{i} (process_request_thread)")).collect();
    let mut specs: Vec<ThreadSpec<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let t = 1_000 * i as u64;
            let mut events = vec![Ev::Enter(0, t), Ev::Enter(1, t + 10), Ev::Exit(1, t + 20)];
            match i % 5 {
                0 => events.extend([Ev::Enter(2, t + 30), Ev::Raise(2, t + 40)]),
                1 => events.push(Ev::Enter(3, t + 30)),
                _ => {}
            }
            if i % 7 != 3 {
                events.push(Ev::Exit(0, t + 50));
            }
            ThreadSpec { tid: 10_000 + i as u64, name, events }
        })
        .collect();
    let mut events = Vec::new();
    for c in 0..busy as u64 {
        events.extend([
            Ev::Enter(0, 10 * c),
            Ev::Enter(1, 10 * c + 1),
            Ev::Exit(1, 10 * c + 2),
            Ev::Exit(0, 10 * c + 3),
        ]);
    }
    specs.push(ThreadSpec { tid: 1, name: "MainThread", events });
    write_temp(dir, &format!("p{pid}.pylu"), &build_trace(pid, &funcs, &specs, 64))
}

fn export_calls(inputs: &[PathBuf], dir: &Path, shared_rows: usize, partition: bool) {
    let inputs = Input::open_all(inputs).unwrap();
    let settings = table::WriteSettings {
        dir: dir.to_owned(),
        row_group_size: 1_000,
        compression: table::compression("zstd").unwrap(),
        partition,
        shared_rows,
    };
    let out = export(&inputs, &settings, &Options::default()).unwrap();
    assert!(out.replayed.calls > 0);
}

/// Every row of the tables under `dir` named `calls.parquet`, sorted, and their row groups.
fn calls_of(dir: &Path) -> (Vec<String>, Vec<Vec<String>>, usize) {
    let mut files: Vec<PathBuf> =
        glob::glob(&format!("{}/**/calls.parquet", dir.display())).unwrap().flatten().collect();
    files.sort();
    let (mut names, mut rows, mut groups) = (Vec::new(), Vec::new(), 0);
    for f in files {
        let (n, gs) = read_rows(&f);
        names = n;
        groups += gs.len();
        rows.extend(gs.into_iter().flatten());
    }
    rows.sort();
    (names, rows, groups)
}

#[test]
fn small_threads_share_row_groups_and_keep_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (threads_a, threads_b, busy) = (1_500, 400, 1_600);
    let inputs = [requests_trace(dir.path(), 4242, threads_a, busy), requests_trace(dir.path(), 4343, threads_b, 0)];
    let threads = threads_a + threads_b + 2;
    for partition in [false, true] {
        let shared = dir.path().join(format!("shared-{partition}"));
        let own = dir.path().join(format!("own-{partition}"));
        export_calls(&inputs, &shared, table::shared_rows(1_000), partition);
        export_calls(&inputs, &own, 0, partition);
        let (names, rows, groups) = calls_of(&shared);
        let (own_names, own_rows, own_groups) = calls_of(&own);
        // Each thread in its own row groups: at least a row group per thread.
        assert!(own_groups >= threads, "{own_groups} row groups of their own");
        // Shared: 2.4 calls per request thread on average (~5 row groups of 1,000), the busy thread's 3 of
        // its own.
        assert!(groups <= 16, "{groups} row groups for {threads} threads ({} rows)", rows.len());
        assert_eq!(names, own_names);
        assert_eq!(rows.len(), own_rows.len());
        assert!(rows == own_rows, "the shared row groups' rows differ from the threads' own");
        assert!(rows.len() > 2 * threads);
    }
    // In each row group, each thread's rows are together and in the order they began (call ids ascending),
    // whichever thread ids and names they share with other threads.
    let (names, groups) = read_rows(&dir.path().join("shared-false/calls.parquet"));
    let col = |name: &str| names.iter().position(|n| n == name).unwrap();
    let (pid, call_id, thread, tid) = (col("pid"), col("call_id"), col("thread"), col("tid"));
    let mut mixed = 0;
    for rows in &groups {
        let mut seen = std::collections::HashSet::new();
        let mut prev: Option<(String, u64)> = None;
        for r in rows {
            let id: u64 = r[call_id].parse().unwrap();
            let key = (r[pid].clone(), id >> 40);
            match &prev {
                Some((p, last)) if (p.clone(), last >> 40) == key => assert!(id > *last, "{r:?}"),
                _ => assert!(seen.insert(key.clone()), "thread {key:?} comes back in its row group"),
            }
            prev = Some((key.0, id));
            // A request thread's id and name are its own (thread `i` has id 10,000 + i), although the row group
            // holds many threads.
            if let Some(i) = r[thread].strip_prefix("Thread-").and_then(|t| t.split(' ').next()) {
                let i: u64 = i.parse().unwrap();
                assert_eq!(r[tid], (10_000 + i).to_string(), "{r:?}");
            } else {
                assert_eq!((r[thread].as_str(), r[tid].as_str()), ("MainThread", "1"));
            }
        }
        mixed += usize::from(seen.len() > 1);
    }
    assert!(mixed >= 2, "{mixed} row groups hold several threads");
}
