//! The model rendered as binary traces (format v1), one file per process, written with the same
//! [`BlockEncoder`] and [`TraceWriter`] the stub uses.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use crate::sim::{ProcessSim, SimEvent, SimKind};
use crate::{function_table, process_ids, GenOptions, GenStats};
use pylu_formats::binary::block::{BlockEncoder, DEFAULT_BLOCK_CAPACITY};
use pylu_formats::binary::header::{ClockAnchor, FileHeader};
use pylu_formats::binary::writer::TraceWriter;
use pylu_formats::event::FuncDef;

/// One binary trace file per process in `dir` (`trace-<pid>.pylu`), their total ≈ `target_bytes`.
/// Processes are independent, so they are generated on parallel threads; the output does not depend on it.
pub fn write_binary_dir(opts: &GenOptions, dir: &Path) -> io::Result<GenStats> {
    std::fs::create_dir_all(dir)?;
    let pids = process_ids(opts);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(pids.len());
    let results: Vec<io::Result<GenStats>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let pids = &pids;
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for (index, &pid) in pids.iter().enumerate().skip(worker).step_by(workers) {
                        let path = dir.join(format!("trace-{pid}.pylu"));
                        let result = File::create(&path).and_then(|file| {
                            let mut stats = write_process(opts, index as u32, pid, file)?;
                            stats.files.push(path);
                            Ok(stats)
                        });
                        mine.push((index, result));
                    }
                    mine
                })
            })
            .collect();
        let mut all: Vec<(usize, io::Result<GenStats>)> = Vec::new();
        for handle in handles {
            match handle.join() {
                Ok(mine) => all.extend(mine),
                Err(_) => all.push((usize::MAX, Err(io::Error::other("generator thread panicked")))),
            }
        }
        all.sort_by_key(|(index, _)| *index);
        all.into_iter().map(|(_, result)| result).collect()
    });
    let mut total = GenStats::default();
    for result in results {
        total.add(result?);
    }
    Ok(total)
}

/// One binary trace for process `pid` into `out`: that process's share of the target
/// (`target_bytes / processes`). A pid of [`process_ids`] gives the same bytes as the file
/// [`write_binary_dir`] writes for it.
pub fn write_binary<W: Write>(opts: &GenOptions, pid: u32, out: W) -> io::Result<GenStats> {
    let index = process_ids(opts).iter().position(|&p| p == pid).unwrap_or(0) as u32;
    write_process(opts, index, pid, out)
}

fn write_process<W: Write>(opts: &GenOptions, index: u32, pid: u32, out: W) -> io::Result<GenStats> {
    let functions = function_table(opts);
    let mut sim = ProcessSim::new(opts, &functions, index, pid);
    let header = FileHeader::new(
        pid,
        1,
        "web-1",
        "3.11.7",
        &["gunicorn".to_owned(), "app.wsgi:application".to_owned(), "--workers".to_owned(), opts.processes.to_string()],
        ClockAnchor { monotonic_ns: sim.monotonic_anchor_ns, wall_ns: sim.wall_anchor_ns },
    );
    let share = opts.target_bytes / u64::from(opts.processes.max(1));
    let writer = TraceWriter::new(out, &header)?;
    let mut sink = BinarySink {
        writer,
        encoders: sim.threads.iter().map(|t| BlockEncoder::new(t.tid, DEFAULT_BLOCK_CAPACITY)).collect(),
        thread_named: vec![false; sim.threads.len()],
        ids: vec![None; functions.len()],
        next_id: 0,
        held: 0,
        stats: GenStats { bytes: header.encode().len() as u64, ..GenStats::default() },
    };
    // Blocks not sealed yet count too: with many threads, each holding up to a block, they are most of the output.
    while sink.stats.bytes + sink.held < share {
        let Some(event) = sim.next_event() else { break };
        sink.record(&sim, event)?;
    }
    sim.drain();
    while let Some(event) = sim.next_event() {
        sink.record(&sim, event)?;
    }
    sink.finish()
}

struct BinarySink<W: Write> {
    writer: TraceWriter<W>,
    encoders: Vec<BlockEncoder>,
    thread_named: Vec<bool>,
    /// Function number → id in this file, interned on first use like the stub does (so the hottest functions
    /// tend to get the small ids).
    ids: Vec<Option<u32>>,
    next_id: u32,
    /// Bytes of the blocks the encoders hold, not written yet.
    held: u64,
    stats: GenStats,
}

/// Bytes `enc`'s block would take if sealed now.
fn held_by(enc: &BlockEncoder) -> u64 {
    if enc.is_empty() {
        0
    } else {
        (pylu_formats::binary::block::BLOCK_HEADER_LEN + enc.payload_len()) as u64
    }
}

impl<W: Write> BinarySink<W> {
    fn record(&mut self, sim: &ProcessSim<'_>, event: SimEvent) -> io::Result<()> {
        let thread = event.thread;
        self.held -= held_by(&self.encoders[thread]);
        if !self.thread_named[thread] {
            self.thread_named[thread] = true;
            self.encoders[thread].thread_name(&sim.threads[thread].name);
            self.stats.records += 1;
        }
        let t = event.time_ns;
        match event.kind {
            SimKind::Enter { func } => {
                let id = self.intern(sim, thread, func);
                self.encoders[thread].enter(id, t);
                self.stats.calls += 1;
            }
            SimKind::Exit { func, raised, .. } => {
                let id = self.intern(sim, thread, func);
                self.encoders[thread].exit(id, t, raised);
                self.stats.exceptions += u64::from(raised);
            }
            SimKind::Suspend { func } => {
                let id = self.intern(sim, thread, func);
                self.encoders[thread].suspend(id, t);
            }
            SimKind::Resume { func } => {
                let id = self.intern(sim, thread, func);
                self.encoders[thread].resume(id, t);
            }
            SimKind::Line { func, line, duration_ns } => {
                let id = self.intern(sim, thread, func);
                self.encoders[thread].line(id, line, duration_ns, t);
            }
            SimKind::Debug { func, line, kind, name, value } => {
                let id = self.intern(sim, thread, func);
                self.encoders[thread].debug(id, line, kind, name, &value, t);
            }
            SimKind::Update { id, action, description } => {
                self.encoders[thread].update(id, action, &description, t);
            }
        }
        self.stats.records += 1;
        self.held += held_by(&self.encoders[thread]);
        if self.encoders[thread].is_full() {
            self.seal(thread)?;
        }
        Ok(())
    }

    fn intern(&mut self, sim: &ProcessSim<'_>, thread: usize, func: u32) -> u32 {
        if let Some(id) = self.ids[func as usize] {
            return id;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.ids[func as usize] = Some(id);
        let f = sim.function(func);
        self.encoders[thread].func_def(&FuncDef {
            id,
            qualname: &f.qualname,
            module: &f.module,
            file: &f.file,
            first_line: f.first_line,
        });
        self.stats.records += 1;
        id
    }

    fn seal(&mut self, thread: usize) -> io::Result<()> {
        self.held -= held_by(&self.encoders[thread]);
        self.stats.bytes += self.writer.flush_encoder(&mut self.encoders[thread])? as u64;
        Ok(())
    }

    fn finish(mut self) -> io::Result<GenStats> {
        for thread in 0..self.encoders.len() {
            self.seal(thread)?;
        }
        self.writer.flush()?;
        Ok(self.stats)
    }
}
