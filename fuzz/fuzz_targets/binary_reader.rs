//! Any bytes through the whole binary read path: header, block walk, checksums, records, events. Nothing
//! may panic, loop forever or read out of bounds; damage must come back as errors. The analyzer's fast decoder
//! (`Records::try_for_each`, with and without debug records, by each decoder the CPU can run) must see the very
//! records the iterator sees and stop at the same error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pylu_formats::{CallOp, DecodePath, EventKind, Record, RecordSink, Trace};

/// Call records as (op, function, time); other records as they come; debug records only if `debug`.
struct Collect<'a> {
    calls: Vec<(CallOp, u32, u64)>,
    others: Vec<Record<'a>>,
    debug: bool,
}

impl<'a> RecordSink<'a> for Collect<'a> {
    fn call(&mut self, op: CallOp, func: u32, time_ns: u64) {
        self.calls.push((op, func, time_ns));
    }
    fn other(&mut self, rec: Record<'a>) {
        self.others.push(rec);
    }
    fn wants_debug(&self) -> bool {
        self.debug
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(trace) = Trace::parse(data) else { return };
    let mut covered = trace.header.header_len as u64;
    for block in trace.blocks() {
        match block {
            Ok(block) => {
                covered += block.len_in_file() as u64;
                // Decode whether or not the checksum holds: the decoder must survive payloads no writer made.
                let _ = block.verify();
                let mut iterated = Vec::new();
                let mut iter_error = None;
                for record in block.records() {
                    match record {
                        Ok(record) => {
                            let event = trace.event(&block, record);
                            std::hint::black_box(event.to_string());
                            iterated.push(record);
                        }
                        Err(e) => {
                            iter_error = Some(e);
                            break;
                        }
                    }
                }
                let mut each = Vec::new();
                let each_error = block.records().try_for_each_record(|r| each.push(r)).err();
                assert_eq!(each, iterated);
                assert_eq!(each_error, iter_error);
                for debug in [true, false] {
                    let mut sink = Collect { calls: Vec::new(), others: Vec::new(), debug };
                    let error = block.records().try_for_each(&mut sink).err();
                    assert_eq!(error, iter_error);
                    // Every decoder this CPU can run sees what the one `try_for_each` chose sees.
                    for path in DecodePath::ALL {
                        let mut by_path = Collect { calls: Vec::new(), others: Vec::new(), debug };
                        if let Some(result) = block.records().try_for_each_by(path, &mut by_path) {
                            assert_eq!(result.err(), iter_error, "{path:?}");
                            assert_eq!(by_path.calls, sink.calls, "{path:?}");
                            assert_eq!(by_path.others, sink.others, "{path:?}");
                        }
                    }
                    let (mut calls, mut others) = (Vec::new(), Vec::new());
                    for r in &iterated {
                        match r.kind {
                            EventKind::Enter(f) => calls.push((CallOp::Enter, f, r.time_ns)),
                            EventKind::Exit { func, exception, duration_ns: None } => {
                                calls.push((if exception { CallOp::ExitRaised } else { CallOp::Exit }, func, r.time_ns))
                            }
                            EventKind::Debug { .. } if !debug => {}
                            _ => others.push(*r),
                        }
                    }
                    let calls: Vec<_> = calls
                        .into_iter()
                        .map(|(op, f, t)| match f {
                            pylu_formats::FuncRef::Id(id) => (op, id, t),
                            pylu_formats::FuncRef::Named { .. } => unreachable!("binary records name ids"),
                        })
                        .collect();
                    assert_eq!(sink.calls, calls);
                    assert_eq!(sink.others, others);
                }
            }
            Err(damage) => covered += damage.skipped,
        }
    }
    // Whole blocks and skipped stretches account for every byte after the header.
    assert_eq!(covered, data.len() as u64);
});
