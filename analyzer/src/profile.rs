//! What an analysis produces: per-thread call trees over one table of functions, line timings, debugger
//! values, and what was wrong with the input. Every report (folded, flamegraph, summary, lines, events) is
//! made from an [`Analysis`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use pylu_formats::DebugKind;

use crate::hist::{FuncHists, LatencyHist};
use crate::machine::Warnings;
use crate::tree::Tree;

/// A function, under the name reports show (`module.qualname`, e.g. `polls.views.IndexView.get`): every
/// definition of the name is one function for calls (a patched function's calls stay in its call tree, its
/// summary row and its flamegraph frame); `file` and `first_line` are its first definition's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub file: String,
    pub first_line: u32,
}

/// One definition of a function: a function redefined while it is profiled (a patch, `Redefine`) has one per
/// version, each from its own file or first line. Line timings are kept per definition, since their line
/// numbers are lines of that definition's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Index into [`Analysis::functions`].
    pub func: u32,
    /// The source file as the trace names it (a text log's `pathname` column).
    pub file: String,
    /// The definition's first line; 0 where the input does not say (text logs).
    pub first_line: u32,
}

/// One thread's calls.
#[derive(Debug, Clone)]
pub struct ThreadProfile {
    pub pid: u32,
    pub tid: u64,
    /// The thread's name as recorded (`MainThread`, `Thread-5`), or its id when it was never named.
    pub thread: String,
    /// Function labels are indices into [`Analysis::functions`]; node 0 is the thread (its total is the
    /// thread's profiled time).
    pub tree: Tree,
    /// Whole call durations per function (labels as in `tree`).
    pub hists: FuncHists,
    /// LineProfiler timings, by (function, definition, line).
    pub lines: Vec<LineStat>,
}

impl ThreadProfile {
    /// The root's name in stacks and tables, like the original: `4510-Thread-5`.
    pub fn root_name(&self) -> String {
        format!("{}-{}", self.pid, self.thread)
    }

    /// Adds `other` into this profile (the same thread, or threads merged into one root): trees grafted at the
    /// root, histograms merged, line timings summed.
    pub(crate) fn merge(&mut self, other: ThreadProfile) {
        self.tree.graft(&other.tree, 0, |f| f);
        self.hists.merge(&other.hists, |f| f);
        let mut lines: BTreeMap<(u32, u32, u32), LineStat> = BTreeMap::new();
        for l in self.lines.drain(..).chain(other.lines) {
            match lines.entry((l.func, l.def, l.line)) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(l);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    let e = o.get_mut();
                    e.hits += l.hits;
                    e.total_ns += l.total_ns;
                    e.hist.add(&l.hist);
                }
            }
        }
        self.lines = lines.into_values().collect();
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineStat {
    pub func: u32,
    /// Which definition of `func` the line is of: an index into [`Analysis::definitions`].
    pub def: u32,
    /// A line of the definition's file.
    pub line: u32,
    pub hits: u64,
    pub total_ns: u64,
    /// The executions' durations, for quantiles.
    pub hist: LatencyHist,
}

/// A debugger record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugEvent {
    /// Wall-clock ns since the epoch.
    pub time_ns: i64,
    pub pid: u32,
    pub tid: u64,
    pub thread: String,
    pub func: u32,
    pub line: u32,
    pub kind: DebugKind,
    pub name: String,
    pub value: String,
    pub truncated: bool,
}

/// Input that was skipped (a damaged block, a line that does not parse, a file of unknown format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub path: PathBuf,
    /// Byte offset (binary) or 1-based line number (text log) where it is, when known.
    pub at: Option<Location>,
    pub what: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Offset(u64),
    Line(u64),
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some(Location::Offset(o)) => write!(f, "{}: offset {}: {}", self.path.display(), o, self.what),
            Some(Location::Line(l)) => write!(f, "{}: line {}: {}", self.path.display(), l, self.what),
            None => write!(f, "{}: {}", self.path.display(), self.what),
        }
    }
}

/// Everything read from the inputs.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub functions: Vec<Function>,
    /// The definitions line timings name ([`LineStat::def`]).
    pub definitions: Vec<Definition>,
    /// Sorted by (pid, thread name, tid).
    pub threads: Vec<ThreadProfile>,
    /// Debugger records by time (only when [`crate::Options::collect_events`]).
    pub events: Vec<DebugEvent>,
    pub warnings: Warnings,
    /// The first [`crate::pipeline::MAX_DAMAGE_KEPT`] damage reports; `damage_count` counts them all.
    pub damage: Vec<Damage>,
    pub damage_count: u64,
    /// Input read as it is that is worth a line but is not damage (at most [`crate::pipeline::MAX_DAMAGE_KEPT`]): a
    /// trace whose last block is cut at the end of the file — a writer still running, or killed.
    pub notes: Vec<Damage>,
    pub files: usize,
    pub bytes: u64,
    /// Calls that ended (enter/exit pairs), over all threads.
    pub calls: u64,
    /// Text logs: the events of each thread read ahead of its replay (`Options::text_read_ahead`, or more
    /// after a retry: `Options::text_read_ahead_retry`).
    pub text_read_ahead: usize,
}

impl Analysis {
    pub fn func_name(&self, id: u32) -> &str {
        &self.functions[id as usize].name
    }

    /// Whether some input was skipped (exit code 1).
    pub fn damaged(&self) -> bool {
        self.damage_count > 0
    }
}
