//! Throughput on a trace whose stacks repeat, as a real service's do (the generator's nest randomly: nearly
//! every call there is a new stack). Not a timed test: `#[ignore]`d, run by benches/analyzer.sh with
//! `cargo test --release -p pylu-analyzer --test it -- --ignored --nocapture`.

use std::time::Instant;

use pylu_analyzer::{analyze, Input, Options};
use pylu_formats::{BlockEncoder, ClockAnchor, FileHeader, FuncDef, TraceWriter, DEFAULT_BLOCK_CAPACITY};

/// One request: handler → 3 × (query → execute), render → 5 × template (13 calls).
fn request(enc: &mut BlockEncoder, t: &mut u64) -> u64 {
    let mut tick = |enc: &mut BlockEncoder, f: u32, enter: bool| {
        *t += 1_000 + (*t % 7) * 300;
        if enter {
            enc.enter(f, *t)
        } else {
            enc.exit(f, *t, false)
        }
    };
    tick(enc, 0, true);
    for _ in 0..3 {
        tick(enc, 1, true);
        tick(enc, 2, true);
        tick(enc, 2, false);
        tick(enc, 1, false);
    }
    tick(enc, 3, true);
    for _ in 0..5 {
        tick(enc, 4, true);
        tick(enc, 4, false);
    }
    tick(enc, 3, false);
    tick(enc, 0, false);
    13
}

#[test]
#[ignore]
fn bench_repetitive_stacks() {
    let bytes_target: usize = std::env::var("PYLU_BENCH_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(256 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repetitive.pylu");
    let header = FileHeader::new(1, 0, "bench", "3.11", &[], ClockAnchor::default());
    let w = TraceWriter::new(std::fs::File::create(&path).unwrap(), &header).unwrap();
    let names = [
        ("handle", "app.views"),
        ("query", "app.db"),
        ("execute", "db.cursor"),
        ("render", "app.views"),
        ("template", "jinja"),
    ];
    let mut calls = 0u64;
    let mut written = 0usize;
    let threads = 8u64;
    let mut encs: Vec<BlockEncoder> =
        (0..threads).map(|t| BlockEncoder::new(100 + t, DEFAULT_BLOCK_CAPACITY)).collect();
    for (i, (q, m)) in names.iter().enumerate() {
        encs[0].func_def(&FuncDef { id: i as u32, qualname: q, module: m, file: "/app.py", first_line: 1 });
    }
    let mut times = vec![0u64; threads as usize];
    while written < bytes_target {
        for (k, enc) in encs.iter_mut().enumerate() {
            while !enc.is_full() {
                calls += request(enc, &mut times[k]);
            }
            written += enc.payload_len() + 40;
            w.flush_encoder(enc).unwrap();
        }
    }
    w.into_inner().unwrap();
    let input = Input::open(&path).unwrap();
    for round in 0..2 {
        let start = Instant::now();
        let a = analyze(std::slice::from_ref(&input), &Options::default());
        let s = start.elapsed().as_secs_f64();
        assert_eq!(a.calls, calls);
        println!(
            "repetitive stacks, round {round}: {} MB, {:.1} M calls in {:.2} s: {:.0} MB/s, {:.1} M calls/s ({} threads, {} rayon workers)",
            written / 1_000_000,
            calls as f64 / 1e6,
            s,
            written as f64 / s / 1e6,
            calls as f64 / s / 1e6,
            threads,
            rayon::current_num_threads()
        );
    }
}
