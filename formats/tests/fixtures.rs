//! Golden tests over fixtures/binary/: the writer must still produce the committed bytes, and the reader must
//! decode them into the committed, hand-checked events (`<name>.expected`, one `Event` per line, damage as `#`
//! lines). `PYLU_BLESS=1` rewrites both; a missing file fails instead of being created.

use std::path::PathBuf;

use pylu_formats::{BlockEncoder, ClockAnchor, DebugKind, FileHeader, FuncDef, Trace, TraceWriter, UpdateAction};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/binary")
}

/// Compares `actual` with the committed file, or rewrites it under `PYLU_BLESS=1`.
fn check_golden(name: &str, actual: &[u8]) {
    pylu_testkit::check_golden(&fixture_dir().join(name), actual);
}

const WALL_2020: u64 = 1_589_113_696_048_286_000;

fn header(pid: u32) -> FileHeader {
    FileHeader::new(
        pid,
        1,
        "web-1",
        "3.11.7",
        &["manage.py".into(), "runserver".into()],
        ClockAnchor { monotonic_ns: 5_000_000_000, wall_ns: WALL_2020 },
    )
}

fn def<'a>(id: u32, module: &'a str, qualname: &'a str, file: &'a str, first_line: u32) -> FuncDef<'a> {
    FuncDef { id, qualname, module, file, first_line }
}

/// docs/FORMAT.md's worked example: views.get (3) calls db.query (7) for 12 µs.
fn worked_example() -> Vec<u8> {
    let w = TraceWriter::new(Vec::new(), &header(4510)).unwrap();
    let mut t = BlockEncoder::new(140_000_000_451_001, 1 << 16);
    t.thread_name("Thread-4");
    t.func_def(&def(3, "views", "get", "/srv/app/views.py", 370));
    t.func_def(&def(7, "db", "query", "/srv/app/db.py", 12));
    let t0 = 5_000_100_000;
    t.enter(3, t0);
    t.enter(7, t0 + 850);
    t.exit(7, t0 + 12_850, false);
    t.exit(3, t0 + 13_250, false);
    w.flush_encoder(&mut t).unwrap();
    w.into_inner().unwrap()
}

/// Two threads in interleaved blocks: an exception unwinding two frames, a generator suspended and resumed,
/// line and debug records, and an update applied then reverted.
fn two_threads() -> Vec<u8> {
    let w = TraceWriter::new(Vec::new(), &header(4511)).unwrap();
    let mut main = BlockEncoder::new(1, 1 << 16);
    let mut worker = BlockEncoder::new(2, 1 << 16);
    main.thread_name("MainThread");
    main.func_def(&def(0, "app", "handle", "/srv/app/app.py", 10));
    main.func_def(&def(1, "app", "Repo.load", "/srv/app/app.py", 30));
    main.func_def(&def(2, "app", "rows", "/srv/app/app.py", 50));
    main.update(1, UpdateAction::Applied, "FP.profile('app.**')", 5_000_000_000);
    main.enter(0, 5_000_001_000);
    main.debug(0, 10, DebugKind::Parameters, "request", "<Request 'GET /a;b'>", 5_000_001_100);
    main.enter(1, 5_000_002_000);
    w.flush_encoder(&mut main).unwrap();

    worker.thread_name("Thread-1");
    worker.enter(2, 5_000_002_500); // the generator's first run
    worker.suspend(2, 5_000_003_000);
    w.flush_encoder(&mut worker).unwrap();

    main.line(1, 33, 700, 5_000_003_000);
    main.exit(1, 5_000_004_000, true); // load raised …
    main.exit(0, 5_000_004_100, true); // … and so did handle
    w.flush_encoder(&mut main).unwrap();

    worker.resume(2, 5_000_010_000);
    worker.debug(2, 52, DebugKind::Defined, "row", "(1, 'x')", 5_000_010_200);
    worker.exit(2, 5_000_011_000, false);
    worker.update(1, UpdateAction::Reverted, "FP.profile('app.**')", 5_000_020_000);
    w.flush_encoder(&mut worker).unwrap();
    w.into_inner().unwrap()
}

/// A file as pylu's writer wrote format 1.1 for a while (2026-11-26): blocks of 512 bytes at most, a full block
/// (64 bytes short of its capacity) padded with padding records (extension kind 16) to end on a 4 KiB boundary of
/// the file. MainThread's two full blocks end at 4096 and 8192, Thread-1's early flush between them is not padded;
/// the padding records decode to nothing. Today's writer does not pad (docs/FORMAT.md), so the padding is
/// written here by hand, as that writer did.
fn padded_blocks() -> Vec<u8> {
    const CAPACITY: usize = 512;
    let full = |enc: &BlockEncoder| 40 + enc.payload_len() + 64 >= CAPACITY;
    let w = TraceWriter::new(Vec::new(), &header(4512)).unwrap();
    let mut main = BlockEncoder::new(1, CAPACITY);
    let mut worker = BlockEncoder::new(2, CAPACITY);
    let mut offset = header(4512).encode().len() as u64;
    main.thread_name("MainThread");
    main.func_def(&def(0, "app", "handle", "/srv/app/app.py", 10));
    let mut t = 5_000_000_000;
    let mut k = 0;
    while !full(&main) {
        t += 1_000;
        k += 1;
        main.debug(0, 10 + k, DebugKind::Variable, "row", &format!("{k:02} {}", "x".repeat(48)), t);
    }
    pad_to_page(&mut main, offset);
    offset += w.flush_encoder(&mut main).unwrap() as u64;
    worker.thread_name("Thread-1");
    worker.enter(0, t + 500);
    worker.exit(0, t + 1_500, false);
    offset += w.flush_encoder(&mut worker).unwrap() as u64;
    while !full(&main) {
        t += 2_000;
        main.enter(0, t);
        main.exit(0, t + 1_000, false);
    }
    pad_to_page(&mut main, offset);
    w.flush_encoder(&mut main).unwrap();
    w.into_inner().unwrap()
}

/// Appends padding records (kind 16: a length, then that many zeros) so that `enc`'s block, written at
/// `offset`, ends on a 4 KiB boundary. The fixture needs one record of a 1-byte length, or one of a 2-byte
/// length.
fn pad_to_page(enc: &mut BlockEncoder, offset: u64) {
    let end = offset + 40 + enc.payload_len() as u64;
    let pad = ((4096 - end % 4096) % 4096) as usize;
    let body = if pad <= 129 { pad - 2 } else { pad - 3 };
    assert!(pad >= 2 && (pad <= 129 || pad >= 131), "the fixture's padding is {pad} bytes");
    enc.extension(16, &vec![0; body]);
}

/// Every event and every damage report of `bytes`, as `pylu-analyze dump` shows records.
fn render(bytes: &[u8]) -> String {
    let trace = Trace::parse(bytes).unwrap();
    let mut out = String::new();
    for block in trace.blocks() {
        match block.and_then(|b| b.verify().map(|()| b)) {
            Err(e) => out.push_str(&format!("# damaged {e} (skipped {} bytes)\n", e.skipped)),
            Ok(block) => {
                out.push_str(&format!("# block offset={} tid={} seq={}\n", block.offset, block.thread_id, block.seq));
                for r in block.records() {
                    match r {
                        Ok(r) => out.push_str(&format!("{}\n", trace.event(&block, r))),
                        Err(e) => out.push_str(&format!("# damaged {e}\n")),
                    }
                }
            }
        }
    }
    out
}

/// The committed trace still decodes to the committed events, and today's writer still writes those bytes.
fn check_fixture(name: &str, bytes: Vec<u8>) {
    check_golden(&format!("{name}.pylu"), &bytes);
    let committed = std::fs::read(fixture_dir().join(format!("{name}.pylu"))).unwrap();
    check_golden(&format!("{name}.expected"), render(&committed).as_bytes());
}

#[test]
fn worked_example_fixture() {
    let bytes = worked_example();
    let block = Trace::parse(&bytes).unwrap().blocks().next().unwrap().unwrap();
    // The four call records of the example are the last 11 payload bytes, as docs/FORMAT.md counts them.
    assert_eq!(
        &block.payload[block.payload.len() - 11..],
        &[0x0C, 0x00, 0x1C, 0xD2, 0x06, 0x1D, 0xE0, 0x5D, 0x0D, 0x90, 0x03]
    );
    check_fixture("worked_example", bytes);
}

#[test]
fn two_threads_fixture() {
    check_fixture("two_threads", two_threads());
}

#[test]
fn padded_blocks_fixture() {
    let bytes = padded_blocks();
    let trace = Trace::parse(&bytes).unwrap();
    let ends: Vec<(u64, u64)> =
        trace.blocks().map(|b| b.unwrap()).map(|b| (b.thread_id, b.offset + 40 + b.payload.len() as u64)).collect();
    assert_eq!(ends.len(), 3);
    assert_eq!(ends[0], (1, 4096), "the first full block ends on the first page boundary");
    assert_eq!(ends[1].0, 2);
    assert_ne!(ends[1].1 % 4096, 0, "an early flush is not padded");
    assert_eq!(ends[2], (1, 8192), "the next full block pads back to a boundary");
    assert_eq!(bytes.len(), 8192);
    check_fixture("padded_blocks", bytes);
}

/// The writer was killed while writing the last block: its first 20 bytes made it to disk.
#[test]
fn torn_last_block_fixture() {
    let mut bytes = two_threads();
    let last = Trace::parse(&bytes).unwrap().blocks().last().unwrap().unwrap().offset as usize;
    bytes.truncate(last + 20);
    check_fixture("torn_last_block", bytes);
}

/// One bit flipped in the payload of the second block: only that block is lost.
#[test]
fn corrupt_middle_block_fixture() {
    let mut bytes = two_threads();
    let second = Trace::parse(&bytes).unwrap().blocks().nth(1).unwrap().unwrap().offset as usize;
    bytes[second + 41] ^= 0x10;
    check_fixture("corrupt_middle_block", bytes);
}
