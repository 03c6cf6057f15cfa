//! Planning: every input cut into *units* of parallel work, in the order they are stitched.
//!
//! A unit is a run of one thread's blocks of a binary trace (in file order), or a newline-aligned stretch of a
//! text log (all its threads). Units are ordered by file, then by their ordinal within their thread, so each
//! thread's units are stitched in sequence while threads interleave.

use std::collections::BTreeMap;
use std::ops::Range;

use pylu_formats::{legacy, BlockErrorKind, BlockRef, Format, Trace};
use rayon::prelude::*;

use super::{total_bytes, Options};
use crate::input::Input;
use crate::profile::{Damage, Location};

/// One unit of parallel work.
#[derive(Debug)]
pub(super) struct Unit<'a> {
    /// The input's index.
    pub file: u32,
    /// Which trace of the input (binary traces joined with `cat` are read one after the other, each with its own
    /// header and function ids); 0 for a text log.
    pub trace: u32,
    /// Its size in the input (for progress).
    pub bytes: u64,
    pub kind: UnitKind<'a>,
}

#[derive(Debug)]
pub(super) enum UnitKind<'a> {
    Binary { trace: Trace<'a>, thread: u64, blocks: Vec<BlockRef<'a>> },
    Legacy { range: Range<usize> },
}

/// Every input's units, in the order they are stitched, and what could not be read.
pub(super) struct Plan<'a> {
    pub units: Vec<Unit<'a>>,
    pub damage: Vec<Damage>,
}

/// A unit's place among its file's units: its ordinal within its thread in the high half, then (binary) the
/// offset of its first block in MiB, so that threads interleave.
type UnitOrder = u64;

/// One file's units (each with its place) and what could not be read.
#[derive(Default)]
struct FilePlan<'a> {
    units: Vec<(UnitOrder, Unit<'a>)>,
    damage: Vec<Damage>,
}

/// Cuts every input into units, in an order that keeps each thread's units in sequence.
pub(super) fn plan<'a>(inputs: &'a [Input], opts: &Options) -> Plan<'a> {
    let target = if opts.adaptive_units {
        opts.chunk_bytes.max((total_bytes(inputs) / (4 * rayon::current_num_threads().max(1)) as u64) as usize)
    } else {
        opts.chunk_bytes
    };
    let planned: Vec<FilePlan<'a>> =
        inputs.par_iter().enumerate().map(|(i, input)| plan_file(i as u32, input, opts, target)).collect();
    let mut units = Vec::new();
    let mut damage = Vec::new();
    for file in planned {
        units.extend(file.units);
        damage.extend(file.damage);
    }
    units.sort_by_key(|(order, u)| (u.file, u.trace, *order));
    Plan { units: units.into_iter().map(|(_, u)| u).collect(), damage }
}

fn plan_file<'a>(file: u32, input: &'a Input, opts: &Options, target: usize) -> FilePlan<'a> {
    let data = input.bytes();
    let mut plan = FilePlan::default();
    let damage = |what: String| Damage { path: input.path.clone(), at: None, what };
    match input.format() {
        None => plan.damage.push(damage(crate::input::unreadable_reason(data).into())),
        Some(Format::Legacy) => {
            // Text units shrink towards the end of the log (to an eighth of `chunk_bytes`), so the cores finish
            // together; `adaptive_units` off (tests of stitching), they are all `chunk_bytes`.
            let ranges = if opts.adaptive_units {
                let workers = rayon::current_num_threads().max(1);
                legacy::split_chunks_tapering(data, opts.chunk_bytes, opts.chunk_bytes / 8, workers)
            } else {
                legacy::split_chunks(data, opts.chunk_bytes)
            };
            for (k, range) in ranges.into_iter().enumerate() {
                let bytes = range.len() as u64;
                plan.units.push(((k as u64) << 32, Unit { file, trace: 0, bytes, kind: UnitKind::Legacy { range } }));
            }
        }
        Some(Format::Binary) => match Trace::parse(data) {
            Err(e) => plan.damage.push(damage(e.to_string())),
            Ok(trace) => {
                let mut next = Some(trace);
                for index in 0u32.. {
                    let Some(trace) = next.take() else { break };
                    next = plan_binary(file, index, input, trace, opts, target, &mut plan);
                }
            }
        },
    }
    plan
}

/// A binary trace's units (the `index`th trace of the input): each thread's blocks in file order, cut every
/// `target` bytes. Returns the trace joined after it, if any.
fn plan_binary<'a>(
    file: u32,
    index: u32,
    input: &'a Input,
    trace: Trace<'a>,
    opts: &Options,
    target: usize,
    plan: &mut FilePlan<'a>,
) -> Option<Trace<'a>> {
    let wanted = opts.pids.is_empty() || opts.pids.contains(&trace.header.pid);
    let mut per_thread: BTreeMap<u64, Vec<BlockRef<'a>>> = BTreeMap::new();
    let mut next = None;
    let mut damage = Vec::new();
    for b in trace.blocks() {
        match b {
            Ok(b) => per_thread.entry(b.thread_id).or_default().push(b),
            // Where another trace starts, it reads with its own header (`Blocks` checked that it decodes).
            Err(e) if e.kind == BlockErrorKind::AnotherTrace => match Trace::parse_at(trace.bytes(), e.offset as usize)
            {
                Ok(t) => next = Some(t),
                Err(err) => damage.push(Damage {
                    path: input.path.clone(),
                    at: Some(Location::Offset(e.offset)),
                    what: err.to_string(),
                }),
            },
            Err(e) => damage.push(Damage {
                path: input.path.clone(),
                at: Some(Location::Offset(e.offset)),
                what: e.kind.to_string(),
            }),
        }
    }
    if !wanted {
        return next;
    }
    plan.damage.extend(damage);
    // Binary units are as big as parallelism allows: a thread's first unit becomes its tree as it is
    // (`ThreadAgg::stitch_owned`), later ones are copied into it.
    for (thread, mut blocks) in per_thread {
        // File order is each thread's order (one writer appends a thread's blocks as it seals them); seq restarts
        // when the OS gives a finished thread's id to a new thread, so it cannot order them.
        blocks.sort_by_key(|b| b.offset);
        let mut ordinal = 0u64;
        let mut cur: Vec<BlockRef<'a>> = Vec::new();
        let mut cur_bytes = 0usize;
        let mut flush = |cur: &mut Vec<BlockRef<'a>>, cur_bytes: &mut usize, ordinal: &mut u64| {
            if cur.is_empty() {
                return;
            }
            let first = cur[0].offset;
            plan.units.push((
                (*ordinal << 32) | (first >> 20).min(u32::MAX as u64),
                Unit {
                    file,
                    trace: index,
                    bytes: *cur_bytes as u64,
                    kind: UnitKind::Binary { trace: trace.clone(), thread, blocks: std::mem::take(cur) },
                },
            ));
            *ordinal += 1;
            *cur_bytes = 0;
        };
        for b in blocks {
            cur_bytes += b.len_in_file();
            cur.push(b);
            if cur_bytes >= target {
                flush(&mut cur, &mut cur_bytes, &mut ordinal);
            }
        }
        flush(&mut cur, &mut cur_bytes, &mut ordinal);
    }
    next
}
