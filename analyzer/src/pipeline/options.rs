//! How to read the inputs: [`Options`], the knobs an analysis takes (unit size, time window, processes, what
//! to keep beyond the call trees, the text logs' read-ahead, a progress callback).

/// [`Options::text_read_ahead`]'s default: 16,384 events per thread (40 bytes each).
pub const DEFAULT_TEXT_READ_AHEAD: usize = 1 << 14;

/// The longest read-ahead per text-log thread that a retry uses ([`Options::text_read_ahead_retry`]).
pub const MAX_TEXT_READ_AHEAD: usize = 1 << 20;

/// How to read the inputs.
#[derive(Clone)]
pub struct Options {
    /// Bytes per unit of parallel work (about). Bigger units merge fewer partial trees; smaller ones spread
    /// better over cores. Results do not depend on it, except where the input itself is inconsistent (an exit
    /// of a call that was never entered, see docs/ANALYZER.md).
    pub chunk_bytes: usize,
    /// Binary traces: grow units to a quarter of the input per core (at least `chunk_bytes`), so that most
    /// threads are one unit whose tree is kept as it is. Off, units are `chunk_bytes` (tests of stitching).
    pub adaptive_units: bool,
    /// Only events at or after this wall-clock time (ns since the epoch).
    pub since_ns: Option<i64>,
    /// Only events at or before this wall-clock time.
    pub until_ns: Option<i64>,
    /// Only these processes (empty: all).
    pub pids: Vec<u32>,
    /// Keep debugger records (for `events`); off, they are only counted.
    pub collect_events: bool,
    /// Keep per-line timings (for `lines`); off, only which functions have line records is kept (so that the
    /// functions table is the same either way), which saves a hash-map update per line record.
    pub collect_lines: bool,
    /// Text logs: how many events of a thread are read ahead of replaying them, to see which calls end (the
    /// rule for requests whose root raised cuts only calls that do not; docs/ANALYZER.md). About 40 bytes per
    /// event and thread. 0 takes every open call for dead, as before the read-ahead.
    pub text_read_ahead: usize,
    /// When a call the rule cut ends after all (its end lay beyond the read-ahead: a recursive entry point),
    /// analyze again with 64 times the read-ahead, up to [`MAX_TEXT_READ_AHEAD`] events per thread and 4 Mi
    /// events over all threads ([`crate::Analysis::text_read_ahead`] tells the one used). Progress is reported
    /// for the first pass only.
    pub text_read_ahead_retry: bool,
    /// Calls still open (or suspended) at the end of their thread's records count as hits, *unfinished*, their
    /// time running to the thread's last event (within the time window). Off, they are cut like calls whose
    /// exit is missing (no hit, their callees' time passed down): what the original's `processfunclogs` did,
    /// and what `diff` compares (a killed run's hung call is no regression).
    pub unfinished: bool,
    /// Called with the bytes of each finished unit (a progress bar).
    pub progress: Option<std::sync::Arc<dyn Fn(u64) + Send + Sync>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chunk_bytes: 8 << 20,
            adaptive_units: true,
            since_ns: None,
            until_ns: None,
            pids: Vec::new(),
            collect_events: false,
            collect_lines: true,
            text_read_ahead: DEFAULT_TEXT_READ_AHEAD,
            text_read_ahead_retry: true,
            unfinished: true,
            progress: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("chunk_bytes", &self.chunk_bytes)
            .field("adaptive_units", &self.adaptive_units)
            .field("since_ns", &self.since_ns)
            .field("until_ns", &self.until_ns)
            .field("pids", &self.pids)
            .field("collect_events", &self.collect_events)
            .field("collect_lines", &self.collect_lines)
            .field("text_read_ahead", &self.text_read_ahead)
            .field("text_read_ahead_retry", &self.text_read_ahead_retry)
            .field("unfinished", &self.unfinished)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}
