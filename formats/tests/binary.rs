//! Trace format v1: write → read round trips, damage handling, forward compatibility.

use proptest::prelude::*;
use pylu_formats::binary::block::MAX_REPR_BYTES;
use pylu_formats::{
    BlockEncoder, BlockErrorKind, ClockAnchor, DebugKind, EventKind, FileHeader, FuncDef, FuncRef, Trace, TraceWriter,
    UpdateAction, WRITE_ALIGN,
};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// What a test asks the encoder to write, and expects back.
#[derive(Debug, Clone, PartialEq)]
enum Rec {
    Def(u32, String),
    Name(String),
    Ident(u64, u64),
    Enter(u32, u64),
    Exit(u32, u64, bool),
    Suspend(u32, u64),
    Resume(u32, u64),
    Line(u32, u32, u64, u64),
    Debug(u32, u32, DebugKind, String, String, u64),
    Update(u32, UpdateAction, String, u64),
}

fn write_rec(enc: &mut BlockEncoder, r: &Rec) {
    match r {
        Rec::Def(id, name) => {
            enc.func_def(&FuncDef { id: *id, qualname: name, module: "m", file: "/f.py", first_line: 7 })
        }
        Rec::Name(n) => enc.thread_name(n),
        Rec::Ident(i, n) => enc.thread_ident(*i, *n),
        Rec::Enter(f, t) => enc.enter(*f, *t),
        Rec::Exit(f, t, raised) => enc.exit(*f, *t, *raised),
        Rec::Suspend(f, t) => enc.suspend(*f, *t),
        Rec::Resume(f, t) => enc.resume(*f, *t),
        Rec::Line(f, l, d, t) => enc.line(*f, *l, *d, *t),
        Rec::Debug(f, l, k, n, v, t) => enc.debug(*f, *l, *k, n, v, *t),
        Rec::Update(id, a, d, t) => enc.update(*id, *a, d, *t),
    }
}

fn id(f: &FuncRef) -> u32 {
    match f {
        FuncRef::Id(i) => *i,
        FuncRef::Named { .. } => panic!("binary traces name functions by id"),
    }
}

fn read_rec(kind: &EventKind, t: u64) -> Rec {
    match *kind {
        EventKind::FuncDef(d) => {
            assert_eq!((d.module, d.file, d.first_line), ("m", "/f.py", 7));
            Rec::Def(d.id, d.qualname.to_owned())
        }
        EventKind::ThreadName(n) => Rec::Name(n.to_owned()),
        EventKind::ThreadIdent { ident, native_id } => Rec::Ident(ident, native_id),
        EventKind::Enter(f) => Rec::Enter(id(&f), t),
        EventKind::Exit { func, exception, duration_ns } => {
            assert_eq!(duration_ns, None);
            Rec::Exit(id(&func), t, exception)
        }
        EventKind::Suspend(f) => Rec::Suspend(id(&f), t),
        EventKind::Resume(f) => Rec::Resume(id(&f), t),
        EventKind::Line { func, line, duration_ns } => Rec::Line(id(&func), line, duration_ns, t),
        EventKind::Debug { func, line, kind, name, value, truncated } => {
            assert!(!truncated || value.len() <= MAX_REPR_BYTES);
            Rec::Debug(id(&func), line, kind, name.to_owned(), value.to_owned(), t)
        }
        EventKind::Update { id, action, description } => Rec::Update(id, action, description.to_owned(), t),
    }
}

fn header() -> FileHeader {
    FileHeader::new(
        4510,
        4000,
        "web-1",
        "3.11.7",
        &["manage.py".into(), "runserver".into()],
        ClockAnchor { monotonic_ns: 1_000, wall_ns: 1_589_113_696_000_000_000 },
    )
}

/// Writes `threads` (tid, records, flush every n records) into a trace, interleaving the threads' blocks.
fn write_trace(threads: &[(u64, Vec<Rec>)], flush_every: usize) -> Vec<u8> {
    write_trace_with(threads, flush_every, 1 << 16)
}

/// [`write_trace`] with blocks of `capacity` bytes.
fn write_trace_with(threads: &[(u64, Vec<Rec>)], flush_every: usize, capacity: usize) -> Vec<u8> {
    let writer = TraceWriter::new(Vec::new(), &header()).unwrap();
    let mut encs: Vec<BlockEncoder> = threads.iter().map(|(tid, _)| BlockEncoder::new(*tid, capacity)).collect();
    let longest = threads.iter().map(|(_, r)| r.len()).max().unwrap_or(0);
    for i in 0..longest {
        for (k, (_, recs)) in threads.iter().enumerate() {
            if let Some(r) = recs.get(i) {
                write_rec(&mut encs[k], r);
                if (i + 1) % flush_every == 0 || encs[k].is_full() {
                    writer.flush_encoder(&mut encs[k]).unwrap();
                }
            }
        }
    }
    for e in &mut encs {
        writer.flush_encoder(e).unwrap();
    }
    writer.into_inner().unwrap()
}

/// Decodes every thread's records (in block order), checking sequence numbers and CRCs.
fn read_trace(bytes: &[u8]) -> Vec<(u64, Vec<Rec>)> {
    let trace = Trace::parse(bytes).unwrap();
    let mut out: Vec<(u64, Vec<Rec>, u32)> = Vec::new();
    for block in trace.blocks() {
        let block = block.unwrap();
        block.verify().unwrap();
        let slot = match out.iter().position(|(t, _, _)| *t == block.thread_id) {
            Some(i) => {
                assert_eq!(out[i].2 + 1, block.seq, "per-thread sequence numbers count up");
                out[i].2 = block.seq;
                i
            }
            None => {
                assert_eq!(block.seq, 0);
                out.push((block.thread_id, Vec::new(), 0));
                out.len() - 1
            }
        };
        let mut n = 0;
        for rec in block.records() {
            let rec = rec.unwrap();
            out[slot].1.push(read_rec(&rec.kind, rec.time_ns));
            n += 1;
        }
        // Extension records count in the header but are skipped by this reader.
        assert!(n <= block.record_count);
    }
    let mut out: Vec<(u64, Vec<Rec>)> = out.into_iter().map(|(t, r, _)| (t, r)).collect();
    out.sort_by_key(|(t, _)| *t);
    out
}

#[test]
fn every_record_kind_round_trips() {
    let recs = vec![
        Rec::Name("MainThread".into()),
        Rec::Ident(0x7f3a_1c2d_e700, 4_194_305),
        Rec::Def(0, "handler".into()),
        Rec::Def(70_000, "IndexView.get".into()),
        Rec::Enter(0, 5_000),
        Rec::Enter(70_000, 5_100),
        Rec::Debug(70_000, 12, DebugKind::Parameters, "request".into(), "<Req; 'a'>".into(), 5_150),
        Rec::Line(70_000, 13, 40, 5_200),
        Rec::Exit(70_000, 9_000_000_000, true),
        Rec::Suspend(0, 9_000_000_100),
        Rec::Resume(0, 9_000_000_900),
        Rec::Update(3, UpdateAction::Applied, "FP.profile('app.**')".into(), 9_000_001_000),
        Rec::Exit(0, 9_000_002_000, false),
        Rec::Update(3, UpdateAction::Reverted, "".into(), 9_000_003_000),
    ];
    let bytes = write_trace(&[(77, recs.clone())], usize::MAX);
    let trace = Trace::parse(&bytes).unwrap();
    assert_eq!(trace.header.pid, 4510);
    assert_eq!(trace.header.argv, ["manage.py", "runserver"]);
    let back = read_trace(&bytes);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].0, 77);
    assert_eq!(back[0].1, recs);
    // Wall-clock conversion goes through the header's anchor.
    let block = trace.blocks().next().unwrap().unwrap();
    let first_timed = block.records().map(Result::unwrap).find(|r| r.kind.is_timed()).unwrap();
    assert_eq!(trace.event(&block, first_timed).time_ns, 1_589_113_696_000_000_000 + 4_000);
}

#[test]
fn long_debug_values_are_cut_at_a_char_boundary_and_flagged() {
    let mut enc = BlockEncoder::new(1, 1 << 16);
    let value = "é".repeat(MAX_REPR_BYTES); // 2 bytes each: the cut falls inside a character half the time
    enc.debug(1, 2, DebugKind::Variable, "x", &value, 10);
    let writer = TraceWriter::new(Vec::new(), &header()).unwrap();
    writer.flush_encoder(&mut enc).unwrap();
    let bytes = writer.into_inner().unwrap();
    let trace = Trace::parse(&bytes).unwrap();
    let block = trace.blocks().next().unwrap().unwrap();
    match block.records().next().unwrap().unwrap().kind {
        EventKind::Debug { value: got, truncated, .. } => {
            assert!(truncated);
            assert_eq!(got.len(), MAX_REPR_BYTES);
            assert!(value.starts_with(got));
        }
        other => panic!("expected a debug record, got {other:?}"),
    }
}

/// Three threads, small blocks: the file used by the damage tests. Returns the bytes and the blocks' extents.
fn three_thread_trace() -> (Vec<u8>, Vec<(usize, usize)>) {
    let threads: Vec<(u64, Vec<Rec>)> = (0..3u64)
        .map(|tid| {
            let mut recs = vec![Rec::Name(format!("Thread-{tid}"))];
            for i in 0..30u64 {
                recs.push(Rec::Enter(i as u32 % 5, 1_000 * i));
                recs.push(Rec::Exit(i as u32 % 5, 1_000 * i + 500, i % 7 == 0));
            }
            (tid + 100, recs)
        })
        .collect();
    let bytes = write_trace(&threads, 8);
    let trace = Trace::parse(&bytes).unwrap();
    let extents =
        trace.blocks().map(|b| b.unwrap()).map(|b| (b.offset as usize, b.offset as usize + b.len_in_file())).collect();
    (bytes, extents)
}

/// Every record `data` holds, in file order: whole blocks' and, for a torn block, its records before the cut.
/// Also how many torn blocks came (as cut blocks, or as damage where the cut is in a block header).
fn records_in_file_order(data: &[u8]) -> (Vec<(u64, Rec)>, usize) {
    let trace = Trace::parse(data).unwrap();
    let (mut out, mut torn) = (Vec::new(), 0);
    for b in trace.blocks() {
        match b {
            Ok(block) => {
                match (block.cut, block.verify()) {
                    (None, verified) => verified.unwrap(),
                    (Some(_), Err(e)) => {
                        assert!(matches!(e.kind, BlockErrorKind::Truncated { .. }), "{e}");
                        torn += 1;
                    }
                    (Some(_), Ok(())) => panic!("a cut block cannot be verified"),
                }
                for r in block.records() {
                    match r {
                        Ok(r) => out.push((block.thread_id, read_rec(&r.kind, r.time_ns))),
                        Err(e) => {
                            assert!(block.cut.is_some(), "only a cut block ends in a torn record: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                assert!(matches!(e.kind, BlockErrorKind::Truncated { .. }), "{e}");
                torn += 1;
            }
        }
    }
    (out, torn)
}

#[test]
fn truncation_at_every_offset_keeps_every_record_before_the_cut() {
    let (bytes, extents) = three_thread_trace();
    assert!(extents.len() >= 10, "the file should have many blocks, has {}", extents.len());
    let header_len = extents[0].0;
    let (all, _) = records_in_file_order(&bytes);
    let per_block: Vec<usize> = Trace::parse(&bytes).unwrap().blocks().map(|b| b.unwrap().records().count()).collect();
    let mut some_read_from_a_cut_block = false;
    for cut in 0..=bytes.len() {
        let data = &bytes[..cut];
        if Trace::parse(data).is_err() {
            assert!(cut < header_len, "a whole header must parse (cut at {cut})");
            continue;
        }
        let (read, torn) = records_in_file_order(data);
        assert_eq!(read[..], all[..read.len()], "cut at {cut}: the records read are a prefix of the file's");
        let in_whole_blocks: usize =
            extents.iter().zip(&per_block).filter(|((_, end), _)| *end <= cut).map(|(_, n)| n).sum();
        assert!(read.len() >= in_whole_blocks, "cut at {cut}: every whole block counts");
        some_read_from_a_cut_block |= read.len() > in_whole_blocks;
        let is_torn = extents.iter().any(|(start, end)| *start < cut && cut < *end);
        assert_eq!(torn, is_torn as usize, "cut at {cut}");
    }
    assert!(some_read_from_a_cut_block, "records before a cut are read");
}

#[test]
fn a_cut_blocks_trailing_zeros_are_not_read_as_calls() {
    let (bytes, extents) = three_thread_trace();
    let (start, end) = extents[extents.len() - 1];
    // The last block's second half zeroed, as a crash can leave an unwritten tail, then the file cut.
    let mid = start + 40 + (end - start - 40) / 2;
    let mut data = bytes[..end - 1].to_vec();
    data[mid..].fill(0);
    let (all, _) = records_in_file_order(&bytes);
    let (read, torn) = records_in_file_order(&data);
    assert_eq!(torn, 1);
    assert_eq!(read[..], all[..read.len()], "no call of function 0 out of the zeros");
}

#[test]
fn a_corrupt_block_in_the_middle_is_skipped_and_counted() {
    let (clean, extents) = three_thread_trace();
    let mid = extents.len() / 2;
    let (start, end) = extents[mid];
    for (what, at) in [("payload", start + 45), ("header length", start + 5), ("sync word", start)] {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x5a;
        let trace = Trace::parse(&bytes).unwrap();
        let mut good = Vec::new();
        let mut errors = Vec::new();
        for b in trace.blocks() {
            match b.and_then(|b| b.verify().map(|_| b)) {
                Ok(block) => good.push(block.offset as usize),
                Err(e) => errors.push(e),
            }
        }
        assert_eq!(errors.len(), 1, "{what}: {errors:?}");
        assert_eq!(errors[0].offset as usize, start, "{what}: the error names the damaged block's offset");
        let expect: Vec<usize> = extents.iter().map(|e| e.0).filter(|&s| s != start).collect();
        assert_eq!(good, expect, "{what}: every other block still reads");
        if what != "payload" {
            assert_eq!(errors[0].skipped as usize, end - start, "{what}: resynchronised at the next block");
        }
        assert!(errors[0].to_string().starts_with(&format!("offset {start}: ")), "{}", errors[0]);
    }
}

#[test]
fn garbage_between_blocks_is_skipped() {
    let (clean, extents) = three_thread_trace();
    let (_, end) = extents[2];
    let mut bytes = clean[..end].to_vec();
    bytes.extend_from_slice(b"PYBK this is not a block PYBK");
    bytes.extend_from_slice(&clean[end..]);
    let trace = Trace::parse(&bytes).unwrap();
    let results: Vec<_> = trace.blocks().collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), extents.len());
    let errs: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].offset as usize, end);
    assert_eq!(errs[0].skipped, 29);
}

#[test]
fn unknown_extension_records_are_skipped_and_reserved_kinds_rejected() {
    let mut enc = BlockEncoder::new(5, 1 << 16);
    enc.enter(1, 10);
    enc.extension(40, b"from a later minor version");
    enc.exit(1, 20, false);
    let writer = TraceWriter::new(Vec::new(), &header()).unwrap();
    writer.flush_encoder(&mut enc).unwrap();
    let bytes = writer.into_inner().unwrap();
    let back = read_trace(&bytes);
    assert_eq!(back[0].1, vec![Rec::Enter(1, 10), Rec::Exit(1, 20, false)]);
    let trace = Trace::parse(&bytes).unwrap();
    assert_eq!(trace.blocks().next().unwrap().unwrap().record_count, 3);

    // A reserved kind (7) where a record starts: the records before it count, then one error.
    let mut enc = BlockEncoder::new(5, 1 << 16);
    enc.enter(1, 10);
    let mut block = Vec::new();
    enc.seal_into(&mut block);
    let trace_bytes = {
        let mut payload = block[40..].to_vec();
        payload.push((7 << 2) | 3);
        let mut enc2 = BlockEncoder::new(5, 1 << 16);
        enc2.enter(1, 10);
        let mut b = Vec::new();
        enc2.seal_into(&mut b);
        // Rebuild the block by hand with the extra byte and correct checksums.
        let mut h = b[..40].to_vec();
        h[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        h[8..12].copy_from_slice(&2u32.to_le_bytes());
        h[32..36].copy_from_slice(&pylu_formats::crc::crc32c(&payload).to_le_bytes());
        let c = pylu_formats::crc::crc32c(&h[..36]);
        h[36..40].copy_from_slice(&c.to_le_bytes());
        let mut all = header().encode();
        all.extend_from_slice(&h);
        all.extend_from_slice(&payload);
        all
    };
    let trace = Trace::parse(&trace_bytes).unwrap();
    let block = trace.blocks().next().unwrap().unwrap();
    block.verify().unwrap();
    let recs: Vec<_> = block.records().collect();
    assert_eq!(recs.len(), 2);
    assert!(recs[0].is_ok());
    let err = recs[1].as_ref().unwrap_err();
    assert_eq!(err.what, "reserved record kind");
    assert_eq!(err.offset as usize, trace.header.header_len + 40 + 2);
}

fn arb_rec() -> impl Strategy<Value = Rec> {
    let f = 0u32..100_000;
    let s = "[a-zA-Z0-9_;' <>é]{0,40}";
    prop_oneof![
        8 => (f.clone(), any::<u16>()).prop_map(|(f, dt)| Rec::Enter(f, dt as u64)),
        8 => (f.clone(), any::<u32>(), any::<bool>()).prop_map(|(f, dt, r)| Rec::Exit(f, dt as u64, r)),
        1 => (f.clone(), 0u64..1 << 40).prop_map(|(f, dt)| Rec::Suspend(f, dt)),
        1 => (f.clone(), 0u64..10).prop_map(|(f, dt)| Rec::Resume(f, dt)),
        1 => (f.clone(), any::<u32>(), any::<u64>(), 0u64..1000).prop_map(|(f, l, d, dt)| Rec::Line(f, l, d, dt)),
        1 => (f.clone(), any::<u32>(), 0u8..5, s, s, 0u64..1000)
            .prop_map(|(f, l, k, n, v, dt)| Rec::Debug(f, l, DebugKind::from_u8(k).unwrap(), n, v, dt)),
        1 => (any::<u32>(), any::<bool>(), s, 0u64..1000).prop_map(|(i, r, d, dt)| Rec::Update(
            i, if r { UpdateAction::Reverted } else { UpdateAction::Applied }, d, dt)),
        1 => (f, s).prop_map(|(f, n)| Rec::Def(f, n)),
        1 => s.prop_map(Rec::Name),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(i, n)| Rec::Ident(i, n)),
    ]
}

/// Turns generated time deltas (stored in the time slots) into absolute, non-decreasing times.
fn absolutize(recs: Vec<Rec>) -> Vec<Rec> {
    let mut t = 1_000_000u64;
    recs.into_iter()
        .map(|r| {
            let mut bump = |dt: u64| {
                t += dt;
                t
            };
            match r {
                Rec::Enter(f, dt) => Rec::Enter(f, bump(dt)),
                Rec::Exit(f, dt, x) => Rec::Exit(f, bump(dt), x),
                Rec::Suspend(f, dt) => Rec::Suspend(f, bump(dt)),
                Rec::Resume(f, dt) => Rec::Resume(f, bump(dt)),
                Rec::Line(f, l, d, dt) => Rec::Line(f, l, d, bump(dt)),
                Rec::Debug(f, l, k, n, v, dt) => Rec::Debug(f, l, k, n, v, bump(dt)),
                Rec::Update(i, a, d, dt) => Rec::Update(i, a, d, bump(dt)),
                other => other,
            }
        })
        .collect()
}

/// A file that remembers each `write` the trace writer made: the bytes and where each write ended.
#[derive(Clone, Default)]
struct WriteLog(Rc<RefCell<Written>>);

#[derive(Default)]
struct Written {
    bytes: Vec<u8>,
    write_ends: Vec<u64>,
}

impl WriteLog {
    fn len(&self) -> u64 {
        self.0.borrow().bytes.len() as u64
    }
    fn bytes(&self) -> Vec<u8> {
        self.0.borrow().bytes.clone()
    }
    fn write_ends(&self) -> Vec<u64> {
        self.0.borrow().write_ends.clone()
    }
}

impl Write for WriteLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut log = self.0.borrow_mut();
        log.bytes.extend_from_slice(buf);
        let end = log.bytes.len() as u64;
        log.write_ends.push(end);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Seals a block of up to `calls` enter/exit pairs (fewer if it fills) and hands it to `writer`; returns the
/// bytes appended.
fn append_calls(writer: &TraceWriter<WriteLog>, enc: &mut BlockEncoder, calls: usize) -> u64 {
    for i in 0..calls as u64 {
        enc.enter(1, i * 10);
        enc.exit(1, i * 10 + 5, false);
        if enc.is_full() {
            break;
        }
    }
    writer.flush_encoder(enc).unwrap() as u64
}

#[test]
fn dropping_the_writer_writes_what_it_held_back() {
    let log = WriteLog::default();
    let writer = TraceWriter::new(log.clone(), &header()).unwrap();
    let mut enc = BlockEncoder::new(7, 1 << 16);
    let header_len = log.len();
    let appended = append_calls(&writer, &mut enc, 100);
    assert_eq!(log.len(), header_len, "a small block is held back");
    drop(writer);
    assert_eq!(log.len(), header_len + appended);
    let bytes = log.bytes();
    let verified: Vec<bool> = Trace::parse(&bytes).unwrap().blocks().map(|b| b.unwrap().verify().is_ok()).collect();
    assert_eq!(verified, [true]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The writer hands bytes to the file in pieces that end on `WRITE_ALIGN` boundaries, or all it holds at a
    /// `flush`; it never holds back a whole boundary's worth, and the file ends up with every block, whole.
    #[test]
    fn writes_end_on_write_boundaries_or_at_flushes(
        ops in prop::collection::vec(prop_oneof![4 => (1usize..12_000).prop_map(Some), 1 => Just(None)], 1..60),
    ) {
        let log = WriteLog::default();
        let writer = TraceWriter::new(log.clone(), &header()).unwrap();
        let mut encs = [BlockEncoder::new(1, 1 << 16), BlockEncoder::new(2, 1 << 16)];
        let mut offset = log.len();
        let mut blocks = 0;
        for (i, op) in ops.iter().enumerate() {
            let (file_before, writes_before) = (log.len(), log.write_ends().len());
            match *op {
                Some(calls) => {
                    offset += append_calls(&writer, &mut encs[i % 2], calls);
                    blocks += 1;
                    for end in &log.write_ends()[writes_before..] {
                        prop_assert_eq!(end % WRITE_ALIGN, 0, "a write ended at {}", end);
                    }
                    let last_boundary = offset - offset % WRITE_ALIGN;
                    prop_assert_eq!(log.len(), file_before.max(last_boundary));
                }
                None => {
                    writer.flush().unwrap();
                    prop_assert!(log.write_ends().len() <= writes_before + 1);
                    prop_assert_eq!(log.len(), offset);
                }
            }
        }
        writer.into_inner().unwrap();
        prop_assert_eq!(log.len(), offset);
        let bytes = log.bytes();
        let read: Vec<_> = Trace::parse(&bytes).unwrap().blocks().map(|b| b.unwrap().verify().is_ok()).collect();
        prop_assert_eq!(read, vec![true; blocks]);
    }

    #[test]
    fn random_streams_round_trip(
        threads in prop::collection::vec(prop::collection::vec(arb_rec(), 0..300), 1..5),
        flush_every in 1usize..100,
        // Small capacities make blocks fill up and be sealed in the middle of a thread's records.
        capacity in prop_oneof![256usize..3000, Just(1 << 16)],
    ) {
        let threads: Vec<(u64, Vec<Rec>)> = threads.into_iter().enumerate()
            .map(|(i, r)| (i as u64 * 0x1_0000_0001, absolutize(r))).collect();
        let bytes = write_trace_with(&threads, flush_every, capacity);
        let back = read_trace(&bytes);
        let expect: Vec<(u64, Vec<Rec>)> = threads.into_iter().filter(|(_, r)| !r.is_empty()).collect();
        // (generated tids ascend, as read_trace sorts them)
        prop_assert_eq!(back.len(), expect.len());
        for ((tid, recs), (btid, brecs)) in expect.iter().zip(&back) {
            prop_assert_eq!(tid, btid);
            prop_assert_eq!(recs, brecs);
        }
    }

    /// Whatever the records and wherever the file is cut, the records read are a prefix of the whole file's.
    #[test]
    fn a_cut_file_reads_a_prefix_of_its_records(
        threads in prop::collection::vec(prop::collection::vec(arb_rec(), 1..60), 1..4),
        flush_every in 1usize..20,
        cut in any::<prop::sample::Index>(),
    ) {
        let threads: Vec<(u64, Vec<Rec>)> =
            threads.into_iter().enumerate().map(|(i, r)| (i as u64 + 1, absolutize(r))).collect();
        let bytes = write_trace_with(&threads, flush_every, 256);
        let header_len = Trace::parse(&bytes).unwrap().header.header_len;
        let cut = header_len + cut.index(bytes.len() - header_len + 1);
        let (all, _) = records_in_file_order(&bytes);
        let (read, _) = records_in_file_order(&bytes[..cut]);
        prop_assert_eq!(&read[..], &all[..read.len()]);
    }

    #[test]
    /// Joined traces, damaged anywhere: every trace's walk accounts for each of its bytes (blocks, cut blocks and
    /// skipped stretches), and the walks together for the whole file.
    #[test]
    fn joined_damaged_traces_account_for_every_byte(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        copies in 1usize..4,
    ) {
        let (one, _) = three_thread_trace();
        let mut bytes: Vec<u8> = one.repeat(copies);
        let len = bytes.len();
        bytes.truncate(one.len() + cut.index(len - one.len() + 1));
        let header_len = Trace::parse(&one).unwrap().header.header_len;
        for (at, x) in flips {
            // The first header stays whole (a file whose header is unusable is not walked at all).
            let i = header_len + at.index(bytes.len() - header_len);
            bytes[i] ^= x;
        }
        let mut next = Some(Trace::parse(&bytes).unwrap());
        let mut covered = 0u64;
        while let Some(trace) = next.take() {
            covered += trace.header.header_len as u64;
            for b in trace.blocks() {
                match b {
                    Ok(b) => {
                        covered += b.len_in_file() as u64;
                        let _ = b.verify();
                        let _ = b.cut_damage();
                        for r in b.records() { let _ = r; }
                    }
                    Err(e) if e.kind == BlockErrorKind::AnotherTrace => {
                        next = Some(Trace::parse_at(&bytes, e.offset as usize).unwrap());
                    }
                    Err(e) => covered += e.skipped,
                }
            }
        }
        prop_assert_eq!(covered, bytes.len() as u64);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut bytes = header().encode();
        bytes.extend_from_slice(&body);
        let trace = Trace::parse(&bytes).unwrap();
        for b in trace.blocks().flatten() {
            let _ = b.verify();
            for r in b.records() { let _ = r; }
        }
    }
}

/// Every record of each trace in `data` (traces joined with `cat` read one after the other), with its pid, and the
/// damage met.
fn records_of_joined_traces(data: &[u8]) -> (Vec<(u32, u64, Rec)>, Vec<BlockErrorKind>) {
    let (mut out, mut damage) = (Vec::new(), Vec::new());
    let mut next = Some(Trace::parse(data).unwrap());
    while let Some(trace) = next.take() {
        for b in trace.blocks() {
            match b {
                Err(e) if e.kind == BlockErrorKind::AnotherTrace => {
                    next = Some(Trace::parse_at(data, e.offset as usize).unwrap())
                }
                Err(e) => damage.push(e.kind),
                Ok(b) => {
                    if let Err(e) = b.verify() {
                        damage.push(e.kind);
                    }
                    for r in b.records().map_while(Result::ok) {
                        out.push((trace.header.pid, b.thread_id, read_rec(&r.kind, r.time_ns)));
                    }
                }
            }
        }
    }
    (out, damage)
}

fn with_pid(bytes: &[u8], pid: u32) -> Vec<(u32, u64, Rec)> {
    records_of_joined_traces(bytes).0.into_iter().map(|(_, t, r)| (pid, t, r)).collect()
}

#[test]
fn joined_traces_are_read_each_with_its_own_header() {
    let (a, _) = three_thread_trace();
    let b_threads = vec![(
        7u64,
        vec![Rec::Name("other".into()), Rec::Def(1, "g".into()), Rec::Enter(1, 5), Rec::Exit(1, 9, false)],
    )];
    let mut other = header();
    other.pid = 4527;
    let b = {
        let w = TraceWriter::new(Vec::new(), &other).unwrap();
        for (tid, recs) in &b_threads {
            let mut enc = BlockEncoder::new(*tid, 1 << 16);
            recs.iter().for_each(|r| write_rec(&mut enc, r));
            w.flush_encoder(&mut enc).unwrap();
        }
        w.into_inner().unwrap()
    };
    let pid_a = Trace::parse(&a).unwrap().header.pid;
    let joined = [a.clone(), b.clone()].concat();
    let (read, damage) = records_of_joined_traces(&joined);
    assert_eq!(damage, vec![], "a second header is where the next trace starts, not damage");
    assert_eq!(read, [with_pid(&a, pid_a), with_pid(&b, 4527)].concat());
    let ends = Trace::parse(&joined).unwrap().blocks().last().unwrap().unwrap_err();
    assert_eq!((ends.offset, ends.kind.clone()), (a.len() as u64, BlockErrorKind::AnotherTrace));
    assert_eq!(ends.to_string(), format!("offset {}: another trace's header (concatenated files?)", a.len()));

    // The first one torn (in a payload, in a block header) before they were joined: its records before the cut
    // still count, and the second trace reads whole.
    let last_block = Trace::parse(&a).unwrap().blocks().last().unwrap().unwrap().offset as usize;
    for cut in [a.len() - 3, last_block + 45, last_block + 20] {
        let joined = [&a[..cut], &b[..]].concat();
        let (read, damage) = records_of_joined_traces(&joined);
        assert!(
            matches!(damage[..], [BlockErrorKind::Truncated { .. }] | [BlockErrorKind::HeaderChecksum]),
            "{damage:?}"
        );
        let (first, _) = records_of_joined_traces(&a[..cut]);
        assert_eq!(read, [first, with_pid(&b, 4527)].concat(), "cut at {cut}");
    }

    // A second header that does not decode: its blocks, which it alone could name, are skipped.
    let mut bad = joined.clone();
    bad[a.len() + 16] ^= 1;
    let (read, damage) = records_of_joined_traces(&bad);
    assert!(matches!(damage[..], [BlockErrorKind::DamagedTraceHeader(_)]), "{damage:?}");
    assert_eq!(read, with_pid(&a, pid_a));
}

#[test]
fn function_id_0xffffffff_is_reserved() {
    let mut enc = BlockEncoder::new(5, 1 << 16);
    enc.enter(1, 10);
    enc.exit(1, 20, false);
    let before = enc.payload_len();
    // What a writer never writes: enter of 0xFFFFFFFF, then a call that still decodes.
    let mut block = enc.clone();
    block.enter(2, 30);
    let mut bytes = header().encode();
    let mut sealed = {
        let mut raw = Vec::new();
        block.seal_into(&mut raw);
        raw
    };
    let mut payload = sealed.split_off(40);
    let reserved: Vec<u8> = {
        let mut v = Vec::new();
        pylu_formats::varint::put(&mut v, (u32::MAX as u64) << 2);
        v.push(0);
        v
    };
    payload.splice(before..before, reserved);
    bytes.extend(reseal(&sealed, &payload));
    let trace = Trace::parse(&bytes).unwrap();
    let b = trace.blocks().next().unwrap().unwrap();
    b.verify().unwrap();
    let recs: Vec<_> = b.records().collect();
    assert_eq!(recs.len(), 3, "{recs:?}");
    let err = recs[2].clone().unwrap_err();
    assert_eq!(err.what, "function id 0xFFFFFFFF is reserved");
    let mut sink_err = None;
    let _ = b.records().try_for_each_record(|_| {}).map_err(|e| sink_err = Some(e));
    assert_eq!(sink_err.unwrap(), err, "the fast loops agree");
}

/// `header` (40 bytes, as sealed) over `payload`: lengths and checksums redone.
fn reseal(header: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut h = header.to_vec();
    h[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let count = u32::from_le_bytes(h[8..12].try_into().unwrap()) + 1;
    h[8..12].copy_from_slice(&count.to_le_bytes());
    h[32..36].copy_from_slice(&pylu_formats::crc::crc32c(payload).to_le_bytes());
    let crc = pylu_formats::crc::crc32c(&h[..36]);
    h[36..40].copy_from_slice(&crc.to_le_bytes());
    [h, payload.to_vec()].concat()
}
