//! `export speedscope`: speedscope's file format (https://www.speedscope.app/file-format-schema.json), one
//! `evented` profile per thread: a frame is opened (`O`) and closed (`C`) at each stretch of a call on the
//! stack, in time order, frames shared by all profiles (`shared.frames`: name, file, line). Times are ns from
//! the earliest time exported.
//!
//! The JSON is written as it goes, keys in the order `serde_json` sorts them, as the chrome export does: built as
//! `serde_json::Value`s first, the events took ~3 KB each (2 GB for a 5 MB trace).

use std::io::{self, Write};

use super::replay::Func;
use super::timeline::ThreadLine;

pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

/// Writes `threads` (already [`ThreadLine::nest`]ed). Threads with nothing drawn get no profile.
pub fn write(threads: &[ThreadLine], funcs: &[Func], out: &mut dyn Write) -> io::Result<()> {
    let origin = threads.iter().filter_map(|t| t.first_time()).min().unwrap_or(0);
    let at = |t: i64| t.saturating_sub(origin).max(0);
    let q = |s: &str| serde_json::to_string(s).expect("strings serialize");
    // Frames numbered in order of first use, written after the profiles (`shared` sorts after `profiles`).
    let mut frame_of: Vec<Option<usize>> = vec![None; funcs.len()];
    let mut frames: Vec<u32> = Vec::new();
    write!(
        out,
        "{{\"$schema\":{},\"activeProfileIndex\":0,\"exporter\":{},\"name\":\"pylu trace\",\"profiles\":[",
        q(SCHEMA),
        q(&format!("pylu-analyze {}", env!("CARGO_PKG_VERSION")))
    )?;
    let mut first_profile = true;
    let mut open: Vec<(i64, usize)> = Vec::new();
    for t in threads {
        if t.spans.is_empty() {
            continue;
        }
        if !first_profile {
            out.write_all(b",")?;
        }
        first_profile = false;
        let start = t.spans.first().map_or(0, |s| at(s.start));
        let end = t.last_time().map_or(start, at);
        write!(out, "{{\"endValue\":{end},\"events\":[")?;
        let mut first = true;
        let mut event = |out: &mut dyn Write, kind: &str, frame: usize, time: i64| -> io::Result<()> {
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            write!(out, "{{\"at\":{},\"frame\":{frame},\"type\":\"{kind}\"}}", at(time))
        };
        open.clear();
        for s in &t.spans {
            while let Some(&(end, frame)) = open.last() {
                if end > s.start {
                    break;
                }
                event(out, "C", frame, end)?;
                open.pop();
            }
            let frame = *frame_of[s.func as usize].get_or_insert_with(|| {
                frames.push(s.func);
                frames.len() - 1
            });
            event(out, "O", frame, s.start)?;
            open.push((s.end, frame));
        }
        while let Some((end, frame)) = open.pop() {
            event(out, "C", frame, end)?;
        }
        let name = format!("{} {} (tid {})", t.meta.pid, t.display_name(), t.meta.tid);
        write!(out, "],\"name\":{},\"startValue\":{start},\"type\":\"evented\",\"unit\":\"nanoseconds\"}}", q(&name))?;
    }
    out.write_all(b"],\"shared\":{\"frames\":[")?;
    for (k, &f) in frames.iter().enumerate() {
        if k > 0 {
            out.write_all(b",")?;
        }
        let f = &funcs[f as usize];
        if f.file.is_empty() {
            write!(out, "{{\"name\":{}}}", q(&f.name))?;
        } else {
            write!(out, "{{\"file\":{},\"line\":{},\"name\":{}}}", q(&f.file), f.first_line, q(&f.name))?;
        }
    }
    out.write_all(b"]}}\n")
}
