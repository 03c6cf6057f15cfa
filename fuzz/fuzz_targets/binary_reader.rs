//! Any bytes through the whole binary read path: header, block walk, checksums, records, events. Nothing
//! may panic, loop forever or read out of bounds; damage must come back as errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pylu_formats::Trace;

fuzz_target!(|data: &[u8]| {
    let Ok(trace) = Trace::parse(data) else { return };
    let mut covered = trace.header.header_len as u64;
    for block in trace.blocks() {
        match block {
            Ok(block) => {
                covered += block.len_in_file() as u64;
                // Decode whether or not the checksum holds: the decoder must survive payloads no writer made.
                let _ = block.verify();
                for record in block.records() {
                    match record {
                        Ok(record) => {
                            let event = trace.event(&block, record);
                            std::hint::black_box(event.to_string());
                        }
                        Err(_) => break,
                    }
                }
            }
            Err(damage) => covered += damage.skipped,
        }
    }
    // Whole blocks and skipped stretches account for every byte after the header.
    assert_eq!(covered, data.len() as u64);
});
