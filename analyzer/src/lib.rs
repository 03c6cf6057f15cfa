//! pylu's analyzer: reads what live Python processes recorded — pylu binary traces and the original
//! pyliveupdate's text log, gigabytes of them — and turns it into call trees, folded stacks, flamegraphs,
//! summaries, line timings and debugger values.
//!
//! The pipeline ([`analyze`]): [`discover`] the inputs (files, directories, globs, rotated logs, the defaults),
//! map them ([`Input`]), cut them into units (runs of one thread's blocks, or newline-aligned stretches of a
//! log), decode units in parallel into partial call trees, and stitch each thread's partials in order
//! ([`machine`] explains how a chunk is rebuilt without knowing the stack it starts in). The result is an
//! [`Analysis`]: one [`ThreadProfile`] per process and thread, whose [`Tree`] has a node per distinct stack
//! (hits, inclusive and self time, min, max; latency histograms per thread and function), over one table of
//! [`Function`]s.
//!
//! Reports are made from an `Analysis` through a [`Selection`] (the `--pid`, `--thread`, `--func` filters and
//! the merging of threads or processes): [`folded`], [`flamegraph`], [`summary`] (text, JSON, CSV), [`lines`]
//! and [`events`]. [`dump`] and [`info`] show a file's records and shape.
//!
//! [`cli`] is what the two binaries share: one analysis run as a command makes it, and their common options;
//! [`malloc_tuning`] runs them again with glibc's malloc on huge pages when the inputs are large.
//!
//! Errors are typed ([`AnalyzeError`] for what stops an analysis; damage inside an input is reported in
//! [`Analysis::damage`] and skipped).

/// `eprintln!` that cannot panic: a line for a closed stderr (`2>&1 | head -1`) is dropped, where `eprintln!`
/// panics ("failed printing to stderr") and the program would end with a panic's exit code instead of its own.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

pub mod cli;
pub mod diff;
pub mod dump;
pub mod error;
pub mod export;
pub mod hist;
pub mod info;
pub mod input;
pub mod machine;
pub mod malloc_tuning;
pub mod pipeline;
pub mod profile;
pub mod progress;
pub mod report;
pub mod select;
#[cfg(unix)]
mod sigbus;
pub mod timeparse;
pub mod tree;

pub use dump::InspectError;
pub use error::AnalyzeError;
pub use hist::LatencyHist;
pub use input::{discover, Input};
pub use machine::Warnings;
pub use pipeline::{analyze, analyze_paths, Options};
pub use profile::{Analysis, Damage, DebugEvent, Definition, Function, LineStat, ThreadProfile};
pub use report::{events, flamegraph, folded, lines, summary};
pub use select::Selection;
pub use tree::{Stats, Tree, Unfinished};
