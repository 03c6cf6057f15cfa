//! Building small traces in code, running analyses, and comparing with golden files.

use std::path::{Path, PathBuf};

use pylu_analyzer::{analyze, report, Analysis, Input, Options, Selection};
use pylu_formats::{BlockEncoder, ClockAnchor, FileHeader, FuncDef, TraceWriter};

pub const WALL0: u64 = 1_589_113_696_000_000_000;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/analyzer")
}

/// One record of a thread, times in ns of the trace's monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ev {
    Enter(u32, u64),
    Exit(u32, u64),
    Raise(u32, u64),
    Suspend(u32, u64),
    Resume(u32, u64),
}

pub struct ThreadSpec<'a> {
    pub tid: u64,
    pub name: &'a str,
    pub events: Vec<Ev>,
}

/// A binary trace of process `pid`: function `i` of `funcs` (qualname, module) gets id `i`; each thread's
/// records are sealed into a block every `per_block` records, and blocks of the threads are interleaved in the
/// file (as a real writer's would be).
pub fn build_trace(pid: u32, funcs: &[(&str, &str)], threads: &[ThreadSpec<'_>], per_block: usize) -> Vec<u8> {
    let header = FileHeader::new(
        pid,
        1,
        "test-host",
        "3.11.7",
        &["app.py".into()],
        ClockAnchor { monotonic_ns: 0, wall_ns: WALL0 },
    );
    let w = TraceWriter::new(Vec::new(), &header).unwrap();
    let mut encs: Vec<(BlockEncoder, &ThreadSpec<'_>, usize)> =
        threads.iter().map(|t| (BlockEncoder::new(t.tid, 1 << 16), t, 0usize)).collect();
    for (i, (enc, t, _)) in encs.iter_mut().enumerate() {
        if i == 0 {
            for (id, (q, m)) in funcs.iter().enumerate() {
                enc.func_def(&FuncDef { id: id as u32, qualname: q, module: m, file: "/srv/app.py", first_line: 1 });
            }
        }
        enc.thread_name(t.name);
        w.flush_encoder(enc).unwrap();
    }
    loop {
        let mut progressed = false;
        for (enc, t, pos) in encs.iter_mut() {
            let end = (*pos + per_block.max(1)).min(t.events.len());
            for ev in &t.events[*pos..end] {
                match *ev {
                    Ev::Enter(f, ts) => enc.enter(f, ts),
                    Ev::Exit(f, ts) => enc.exit(f, ts, false),
                    Ev::Raise(f, ts) => enc.exit(f, ts, true),
                    Ev::Suspend(f, ts) => enc.suspend(f, ts),
                    Ev::Resume(f, ts) => enc.resume(f, ts),
                }
            }
            if end > *pos {
                progressed = true;
                *pos = end;
                w.flush_encoder(enc).unwrap();
            }
        }
        if !progressed {
            break;
        }
    }
    w.into_inner().unwrap()
}

pub fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

pub fn analyze_files(paths: &[PathBuf], chunk_bytes: usize) -> Analysis {
    analyze_files_reading_ahead(paths, chunk_bytes, Options::default().text_read_ahead)
}

/// [`analyze_files`] with text logs read exactly `text_read_ahead` events ahead of their replay (no retry
/// further ahead).
pub fn analyze_files_reading_ahead(paths: &[PathBuf], chunk_bytes: usize, text_read_ahead: usize) -> Analysis {
    analyze_with(paths, &Options { text_read_ahead, ..test_options(chunk_bytes) })
}

/// The options of [`analyze_files`]: units of `chunk_bytes` exactly, debugger records kept, no reading again.
pub fn test_options(chunk_bytes: usize) -> Options {
    Options {
        chunk_bytes,
        adaptive_units: false,
        collect_events: true,
        text_read_ahead_retry: false,
        ..Options::default()
    }
}

pub fn analyze_with(paths: &[PathBuf], opts: &Options) -> Analysis {
    let inputs: Vec<Input> = paths.iter().map(|p| Input::open(p).unwrap()).collect();
    analyze(&inputs, opts)
}

pub fn folded(a: &Analysis) -> String {
    let mut out = Vec::new();
    report::folded::write_folded(a, &Selection::default().views(a), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

pub fn summary_json(a: &Analysis) -> String {
    let mut out = Vec::new();
    report::summary::write_json(a, &Selection::default().views(a), &Default::default(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

pub use pylu_testkit::blessing;

/// Runs `cmd`, reads 16 bytes of its standard output and closes it, as `| head -c 16` would; its exit.
pub fn close_after_16_bytes(cmd: &mut std::process::Command) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut buf = [0u8; 16];
    child.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

/// Compares with `fixtures/analyzer/expected/<name>`; `PYLU_BLESS=1` rewrites it. A missing file fails.
#[track_caller]
pub fn check_golden(name: &str, actual: &[u8]) {
    pylu_testkit::check_golden(&fixtures().join("expected").join(name), actual);
}

/// Per root: the sum of self times equals the root's total.
pub fn assert_self_sums(a: &Analysis) {
    for t in &a.threads {
        let selfs: u64 = t.tree.self_times().iter().sum();
        assert_eq!(selfs, t.tree.nodes[0].stats.total_ns, "thread {}", t.root_name());
    }
}

/// The global allocator of the tests: the system's, counting the bytes each thread asks for, so that a test can
/// bound what a piece of code allocates (a count, not the process' memory, which other tests share).
struct Counting;

thread_local! {
    static ALLOCATED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static FREED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count(bytes: usize) {
    // At a thread's teardown the counter may be gone: those allocations are nobody's test.
    let _ = ALLOCATED.try_with(|a| a.set(a.get() + bytes as u64));
}

fn count_freed(bytes: usize) {
    let _ = FREED.try_with(|a| a.set(a.get() + bytes as u64));
}

// SAFETY: every call is passed on to the system allocator with the same arguments; counting allocates nothing.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        count_freed(layout.size());
        // SAFETY: `ptr` came from the system allocator, with `layout`.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        count_freed(layout.size());
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// What `f` returns, and the bytes it allocated on this thread (reallocations count their new size).
pub fn allocated_by<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCATED.with(|a| a.get());
    let r = f();
    (r, ALLOCATED.with(|a| a.get()) - before)
}

/// What `f` returns, and the bytes allocated on this thread while it ran less those freed on this thread: what it
/// kept (0 for code that frees all it allocates on the thread that allocated it).
pub fn kept_by<R>(f: impl FnOnce() -> R) -> (R, i64) {
    let before = ALLOCATED.with(|a| a.get()) as i64 - FREED.with(|a| a.get()) as i64;
    let r = f();
    (r, ALLOCATED.with(|a| a.get()) as i64 - FREED.with(|a| a.get()) as i64 - before)
}
