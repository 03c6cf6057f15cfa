//! The pipeline: map the inputs, cut them into units, decode units in parallel into partial call trees, and
//! stitch each thread's partials in order.
//!
//! One input through [`analyze`], top-down:
//! 1. `plan` cuts every input into units: a run of one thread's blocks of a binary trace (in file order), or a
//!    newline-aligned stretch of a text log (all its threads);
//! 2. `schedule` runs `decode` on the units in parallel, workers taking them in order and staying a few units
//!    ahead of the stitching, so memory holds a few partial results plus the final trees, whatever the size of
//!    the input;
//! 3. `stitch` joins their outputs onto each thread's state, in order as they arrive, on one thread (stitching
//!    costs the number of distinct stacks of a unit, not its events). Text-log units are parsed into per-thread
//!    event lists instead, replayed in order when stitching (`crate::machine::text_replay`: the rule for
//!    requests whose root raised needs the thread's history and reads some of its future); at the end it
//!    closes every thread and gives the [`Analysis`].
//!
//! [`Options`] says how to read; when text logs were read too short a way ahead, [`analyze`] reads them again.

mod decode;
mod options;
mod plan;
mod schedule;
mod stitch;

use std::path::PathBuf;

pub use options::{Options, DEFAULT_TEXT_READ_AHEAD, MAX_TEXT_READ_AHEAD};
pub use stitch::MAX_DAMAGE_KEPT;

use crate::error::AnalyzeError;
use crate::input::Input;
use crate::profile::Analysis;
use schedule::{in_order, AHEAD_PER_WORKER};
use stitch::Stitcher;

/// Events that a retry may read ahead over all threads (about 40 bytes each: 160 MiB).
const TEXT_READ_AHEAD_BUDGET: usize = 1 << 22;

/// The total size of `inputs` (for a progress bar).
pub fn total_bytes(inputs: &[Input]) -> u64 {
    inputs.iter().map(|i| i.bytes().len() as u64).sum()
}

/// Maps and analyzes `paths` (see [`crate::discover`]).
pub fn analyze_paths(paths: &[PathBuf], opts: &Options) -> Result<Analysis, AnalyzeError> {
    let inputs = paths.iter().map(|p| Input::open(p)).collect::<Result<Vec<_>, _>>()?;
    Ok(analyze(&inputs, opts))
}

/// Analyzes mapped inputs. Unreadable parts are reported in [`Analysis::damage`], never fatal.
pub fn analyze(inputs: &[Input], opts: &Options) -> Analysis {
    let mut a = analyze_once(inputs, opts);
    // A call the rule for raised requests cut ended after all: a recursive entry point whose calls span more
    // events than the read-ahead. Read again, further ahead, within a memory budget.
    while opts.text_read_ahead_retry && a.warnings.wrong_cuts > 0 {
        let budget = TEXT_READ_AHEAD_BUDGET / a.threads.len().max(1);
        let next = a.text_read_ahead.saturating_mul(64).min(MAX_TEXT_READ_AHEAD).min(budget);
        if next <= a.text_read_ahead {
            break;
        }
        a = analyze_once(inputs, &Options { text_read_ahead: next, progress: None, ..opts.clone() });
    }
    a
}

/// [`analyze`] with `opts.text_read_ahead` as it is.
fn analyze_once<'a>(inputs: &'a [Input], opts: &Options) -> Analysis {
    let plan = plan::plan(inputs, opts);
    let mut stitcher = Stitcher::new(inputs, opts);
    for d in plan.damage {
        stitcher.damage(d);
    }
    let run = |unit: &plan::Unit<'a>| -> decode::UnitOut<'a> {
        let out = decode::decode(inputs, unit, opts);
        if let Some(p) = &opts.progress {
            p(unit.bytes);
        }
        out
    };
    let ahead = AHEAD_PER_WORKER * rayon::current_num_threads().max(1);
    in_order(&plan.units, ahead, &run, &mut |out| stitcher.stitch(out));
    stitcher.finish()
}
