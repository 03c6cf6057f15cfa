//! `export speedscope`: speedscope's file format (https://www.speedscope.app/file-format-schema.json), one
//! `evented` profile per thread: a frame is opened (`O`) and closed (`C`) at each stretch of a call on the
//! stack, in time order, frames shared by all profiles (`shared.frames`: name, file, line). Times are ns from
//! the earliest time exported.

use std::io::{self, Write};

use serde_json::{json, Value};

use super::replay::Func;
use super::timeline::ThreadLine;

pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

/// Writes `threads` (already [`ThreadLine::nest`]ed). Threads with nothing drawn get no profile.
pub fn write(threads: &[ThreadLine], funcs: &[Func], out: &mut dyn Write) -> io::Result<()> {
    let origin = threads.iter().filter_map(|t| t.first_time()).min().unwrap_or(0);
    let at = |t: i64| t.saturating_sub(origin).max(0);
    // Frames in function order, only those used.
    let mut frame_of: Vec<Option<usize>> = vec![None; funcs.len()];
    let mut frames: Vec<Value> = Vec::new();
    let mut profiles: Vec<Value> = Vec::new();
    for t in threads {
        if t.spans.is_empty() {
            continue;
        }
        let mut events: Vec<Value> = Vec::with_capacity(t.spans.len() * 2);
        let mut open: Vec<(i64, usize)> = Vec::new();
        for s in &t.spans {
            while let Some(&(end, frame)) = open.last() {
                if end > s.start {
                    break;
                }
                events.push(json!({"type": "C", "frame": frame, "at": at(end)}));
                open.pop();
            }
            let frame = *frame_of[s.func as usize].get_or_insert_with(|| {
                let f = &funcs[s.func as usize];
                let mut v = json!({"name": f.name});
                if !f.file.is_empty() {
                    v["file"] = json!(f.file);
                    v["line"] = json!(f.first_line);
                }
                frames.push(v);
                frames.len() - 1
            });
            events.push(json!({"type": "O", "frame": frame, "at": at(s.start)}));
            open.push((s.end, frame));
        }
        while let Some((end, frame)) = open.pop() {
            events.push(json!({"type": "C", "frame": frame, "at": at(end)}));
        }
        let start = t.spans.first().map_or(0, |s| at(s.start));
        let end = t.last_time().map_or(start, at);
        profiles.push(json!({
            "type": "evented",
            "name": format!("{} {} (tid {})", t.meta.pid, t.display_name(), t.meta.tid),
            "unit": "nanoseconds",
            "startValue": start,
            "endValue": end,
            "events": events,
        }));
    }
    let doc = json!({
        "$schema": SCHEMA,
        "shared": {"frames": frames},
        "profiles": profiles,
        "name": "pylu trace",
        "activeProfileIndex": 0,
        "exporter": format!("pylu-analyze {}", env!("CARGO_PKG_VERSION")),
    });
    serde_json::to_writer(&mut *out, &doc)?;
    out.write_all(b"\n")
}
