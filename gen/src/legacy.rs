//! The model rendered as the original pyliveupdate's text log: every process's threads interleaved line by
//! line in time order, as the original's log server received them.
//!
//! What the original could not record is left out, as it was: raised exits (its `func_end` hook ran on
//! return only, so the log shows a `func_begin` without `func_end`), generator suspends and resumes,
//! update markers, and the class part of qualified names (logging's `funcName` is the code name).

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

use crate::pyfloat::push_repr;
use crate::sim::{ProcessSim, SimEvent, SimKind};
use crate::{function_table, process_ids, GenOptions, GenStats};
use pylu_formats::event::DebugKind;

/// An original-format text log with all processes' threads interleaved line by line, ≈ `target_bytes`.
pub fn write_legacy<W: Write>(opts: &GenOptions, out: W) -> io::Result<GenStats> {
    let functions = function_table(opts);
    let mut sims: Vec<ProcessSim<'_>> = process_ids(opts)
        .into_iter()
        .enumerate()
        .map(|(index, pid)| ProcessSim::new(opts, &functions, index as u32, pid))
        .collect();
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let mut renderer = LineRenderer::default();
    let mut stats = GenStats::default();

    // Each process runs on its own clock; the log gets whichever process's next line is earliest.
    let mut pending: Vec<Option<SimEvent>> = sims.iter_mut().map(|s| s.next_event()).collect();
    let mut draining = false;
    loop {
        if !draining && stats.bytes >= opts.target_bytes {
            draining = true;
            sims.iter_mut().for_each(ProcessSim::drain);
        }
        let earliest =
            pending.iter().enumerate().filter_map(|(i, e)| e.as_ref().map(|e| (sims[i].wall_ns(e.time_ns), i))).min();
        let Some((_, process)) = earliest else { break };
        let Some(event) = pending[process].take() else { break };
        if let SimKind::Enter { .. } = event.kind {
            stats.calls += 1;
        }
        if let SimKind::Exit { raised: true, .. } = event.kind {
            stats.exceptions += 1;
        }
        if renderer.render(&sims[process], &event) {
            out.write_all(renderer.line.as_bytes())?;
            stats.bytes += renderer.line.len() as u64;
            stats.records += 1;
        }
        pending[process] = sims[process].next_event();
    }
    out.flush()?;
    Ok(stats)
}

#[derive(Default)]
struct LineRenderer {
    line: String,
    /// `asctime` up to the second, cached: consecutive lines mostly share it.
    cached_second: Option<(u64, String)>,
}

impl LineRenderer {
    /// Renders `event` into `self.line`; false when the original would have logged nothing for it.
    fn render(&mut self, sim: &ProcessSim<'_>, event: &SimEvent) -> bool {
        let (func, line_no) = match &event.kind {
            SimKind::Enter { func } | SimKind::Exit { func, raised: false, .. } => {
                (*func, sim.function(*func).first_line)
            }
            SimKind::Line { func, line, .. } | SimKind::Debug { func, line, .. } => (*func, *line),
            SimKind::Exit { raised: true, .. }
            | SimKind::Suspend { .. }
            | SimKind::Resume { .. }
            | SimKind::Update { .. } => return false,
        };
        let wall_ns = sim.wall_ns(event.time_ns);
        let thread = &sim.threads[event.thread];
        let f = sim.function(func);
        self.line.clear();
        self.push_asctime(wall_ns);
        let _ = write!(
            self.line,
            "; {}; {}; {}; {}; {}; {}; {}; {}; ",
            sim.process_name,
            sim.pid,
            thread.name,
            thread.tid,
            f.file,
            line_no,
            f.file_stem(),
            f.code_name()
        );
        match &event.kind {
            SimKind::Enter { .. } => {
                self.line.push_str("func_begin; ");
                push_repr(&mut self.line, epoch_seconds(wall_ns));
            }
            SimKind::Exit { enter_ns, .. } => {
                // As FuncProfiler computed it: (end - start) * 1000 on time.time() floats.
                let start = epoch_seconds(sim.wall_ns(*enter_ns));
                let end = epoch_seconds(wall_ns);
                self.line.push_str("func_end; ");
                push_repr(&mut self.line, (end - start) * 1000.0);
                self.line.push_str("; ");
                push_repr(&mut self.line, end);
            }
            SimKind::Line { duration_ns, .. } => {
                let _ = write!(self.line, "{:.4} ms", *duration_ns as f64 / 1e6);
            }
            SimKind::Debug { kind, value, .. } => {
                let label = match kind {
                    DebugKind::Parameters => "parameters",
                    DebugKind::ReturnValue => "returnvalues",
                    DebugKind::Used => "usevalues",
                    DebugKind::Defined | DebugKind::Variable => "defvalues",
                };
                let _ = write!(self.line, "{label}: {value}");
            }
            SimKind::Suspend { .. } | SimKind::Resume { .. } | SimKind::Update { .. } => {}
        }
        self.line.push('\n');
        true
    }

    /// logging's default asctime, `2024-03-01 09:00:00,123`, in UTC (the log carries no zone).
    fn push_asctime(&mut self, wall_ns: u64) {
        let second = wall_ns / 1_000_000_000;
        let millis = wall_ns / 1_000_000 % 1000;
        if self.cached_second.as_ref().map(|(s, _)| *s) != Some(second) {
            let (y, m, d) = pylu_formats::timefmt::civil_from_days((second / 86_400) as i64);
            let of_day = second % 86_400;
            let text =
                format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", of_day / 3600, of_day % 3600 / 60, of_day % 60);
            self.cached_second = Some((second, text));
        }
        if let Some((_, text)) = &self.cached_second {
            self.line.push_str(text);
        }
        let _ = write!(self.line, ",{millis:03}");
    }
}

/// `time.time()` as Python would have returned it: the nearest double.
fn epoch_seconds(wall_ns: u64) -> f64 {
    (wall_ns / 1_000) as f64 / 1e6
}
