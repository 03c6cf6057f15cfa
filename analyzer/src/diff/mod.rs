//! `pylu-analyze diff`: the functions of two sides (each any set of runs — traces or logs) matched by name,
//! their hits, mean, p50/p95/p99 per call, total and self time before → after, each change with its
//! significance ([`stats`]), checked against the CI gate's rules ([`gate`]), rendered as a table ([`render`])
//! or a differential flamegraph ([`flame`]).
//!
//! A side's runs are analyzed one at a time (a run is one input argument: a file, or a directory of one
//! program's traces): per run, each function's hits, total and self time are kept (to measure the run-to-run
//! spread) and its latency histogram is added to the side's. Only the per-function rows stay in memory, not
//! the runs' call trees.

pub mod command;
pub mod flame;
pub mod gate;
pub mod render;
pub mod split;
pub mod stats;

use std::collections::BTreeMap;

use regex::Regex;

use crate::hist::LatencyHist;
use crate::profile::Analysis;
use crate::report::summary::{function_stats, SortBy};
use crate::select::Selection;

/// What a change is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Hits,
    Mean,
    P50,
    P90,
    P95,
    P99,
    Total,
    SelfTime,
}

impl Metric {
    /// Every metric, in declaration order (so `m as usize` is its index here).
    pub const ALL: [Metric; 8] = [
        Metric::Hits,
        Metric::Mean,
        Metric::P50,
        Metric::P90,
        Metric::P95,
        Metric::P99,
        Metric::Total,
        Metric::SelfTime,
    ];

    /// Its name in `--fail-on`, JSON and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Hits => "hits",
            Metric::Mean => "mean",
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::Total => "total",
            Metric::SelfTime => "self",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Its index in [`QUANTILES`], for the quantile metrics.
    fn quantile(self) -> Option<usize> {
        match self {
            Metric::P50 => Some(0),
            Metric::P90 => Some(1),
            Metric::P95 => Some(2),
            Metric::P99 => Some(3),
            _ => None,
        }
    }
}

/// The quantiles of the p50, p90, p95, p99 metrics, taken together in one pass over a histogram's buckets.
const QUANTILES: [f64; 4] = [0.5, 0.9, 0.95, 0.99];

/// One function in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunFunc {
    pub hits: u64,
    pub sum_ns: u64,
    pub total_ns: u64,
    pub self_ns: u64,
    /// p50, p90, p95, p99 of this run's calls (ns).
    pub quantiles: [u64; 4],
}

/// One function on one side: its runs (absent from a run: zeros) and its calls' durations over all of them.
#[derive(Debug, Clone, Default)]
pub struct SideFunc {
    pub runs: Vec<RunFunc>,
    pub hist: LatencyHist,
    pub min_ns: u64,
    pub max_ns: u64,
}

impl SideFunc {
    fn hits(&self) -> u64 {
        self.runs.iter().map(|r| r.hits).sum()
    }

    /// The metric over the whole side: counts and times per run (averaged over the runs), durations per call
    /// over every call.
    pub fn value(&self, m: Metric) -> f64 {
        self.values()[m as usize]
    }

    /// [`SideFunc::value`] of every metric, in [`Metric::ALL`] order (the quantiles in one pass).
    fn values(&self) -> [f64; Metric::ALL.len()] {
        let runs = self.runs.len().max(1) as f64;
        let sum = |f: fn(&RunFunc) -> u64| self.runs.iter().map(f).sum::<u64>() as f64;
        let quantiles =
            self.hist.quantiles(QUANTILES).map(|q| q.map_or(0.0, |v| v.clamp(self.min_ns, self.max_ns) as f64));
        Metric::ALL.map(|m| match m {
            Metric::Hits => sum(|r| r.hits) / runs,
            Metric::Mean => sum(|r| r.sum_ns) / (self.hits().max(1) as f64),
            Metric::Total => sum(|r| r.total_ns) / runs,
            Metric::SelfTime => sum(|r| r.self_ns) / runs,
            q => quantiles[q.quantile().unwrap_or(0)],
        })
    }

    /// The metric in each run where the function was called.
    fn per_run(&self, m: Metric) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|r| match m {
                Metric::Hits => Some(r.hits as f64),
                Metric::Mean => (r.hits > 0).then(|| r.sum_ns as f64 / r.hits as f64),
                Metric::Total => Some(r.total_ns as f64),
                Metric::SelfTime => Some(r.self_ns as f64),
                Metric::P50 => (r.hits > 0).then_some(r.quantiles[0] as f64),
                Metric::P90 => (r.hits > 0).then_some(r.quantiles[1] as f64),
                Metric::P95 => (r.hits > 0).then_some(r.quantiles[2] as f64),
                Metric::P99 => (r.hits > 0).then_some(r.quantiles[3] as f64),
            })
            .collect()
    }
}

/// Every function of one side, by name.
#[derive(Debug, Clone, Default)]
pub struct Side {
    /// What the side was made from (for titles).
    pub label: String,
    pub runs: usize,
    pub funcs: BTreeMap<String, SideFunc>,
}

impl Side {
    pub fn new(label: String) -> Side {
        Side { label, runs: 0, funcs: BTreeMap::new() }
    }

    /// Adds one run's functions (every thread and process of it).
    pub fn add_run(&mut self, a: &Analysis) {
        let views = Selection::default().views(a);
        let run = self.runs;
        for mut f in function_stats(a, &views, SortBy::SelfTime) {
            let (min, max) = (f.stats.min_ns, f.stats.max_ns);
            // As `FuncStat::quantile_ns` (kept within what was seen), the four in one pass.
            let quantiles = match &f.hist {
                Some(h) if f.stats.hits > 0 => h.quantiles(QUANTILES).map(|q| q.map_or(min, |v| v.clamp(min, max))),
                _ => [min; 4],
            };
            let e = self.funcs.entry(f.name).or_insert_with(|| SideFunc { min_ns: u64::MAX, ..Default::default() });
            e.runs.resize(run, RunFunc::default());
            e.runs.push(RunFunc {
                hits: f.stats.hits,
                sum_ns: f.sum_ns,
                total_ns: f.total_ns,
                self_ns: f.self_ns,
                quantiles,
            });
            // The run's histogram (every thread's merged) is the side's when it is the first: moved, not added.
            match f.hist.take() {
                Some(h) if e.hist.is_empty() => e.hist = h,
                Some(h) => e.hist.add(&h),
                None => {}
            }
            if f.stats.hits > 0 {
                e.min_ns = e.min_ns.min(f.stats.min_ns);
                e.max_ns = e.max_ns.max(f.stats.max_ns);
            }
        }
        self.runs += 1;
        for e in self.funcs.values_mut() {
            e.runs.resize(self.runs, RunFunc::default());
        }
    }
}

/// How a diff decides what is significant, and which rows it keeps.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Family-wise false-alarm rate: a change is significant at p < `alpha` / the number of functions compared
    /// (Bonferroni: with 300 functions, one false alarm in 100 diffs of the same program, not 3 per diff).
    pub alpha: f64,
    /// Functions with fewer calls than this on either side are left out.
    pub min_hits: u64,
    /// Only functions whose name matches.
    pub func: Option<Regex>,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions { alpha: 0.01, min_hits: 1, func: None }
    }
}

/// One metric of one function, before → after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub before: f64,
    pub after: f64,
    /// (after − before) / before in %; `None` when before is 0.
    pub percent: Option<f64>,
    /// The change is more than noise: the test passed at the corrected threshold, and with several runs it is
    /// larger than the spread between the runs of either side.
    pub significant: bool,
}

/// One function present on both sides.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    /// Per metric, in [`Metric::ALL`] order.
    pub changes: Vec<(Metric, Change)>,
    /// Mann–Whitney over the calls' durations.
    pub test: Option<stats::UTest>,
    /// The Poisson test of the hits.
    pub hits_p: f64,
}

impl Row {
    pub fn change(&self, m: Metric) -> Change {
        self.changes.iter().find(|(x, _)| *x == m).map(|c| c.1).expect("every metric is computed")
    }

    /// The durations changed significantly.
    pub fn significant(&self) -> bool {
        self.change(Metric::Mean).significant
            || self.change(Metric::P50).significant
            || self.change(Metric::Total).significant
    }
}

/// The result of comparing two sides.
#[derive(Debug, Clone)]
pub struct Diff {
    pub before_label: String,
    pub after_label: String,
    pub before_runs: usize,
    pub after_runs: usize,
    /// The threshold each p-value was compared with (alpha over the functions compared).
    pub threshold: f64,
    /// Significant changes first, then by the largest change of total time.
    pub rows: Vec<Row>,
    /// Functions (passing `--func`) seen on one side only.
    pub only_before: Vec<String>,
    pub only_after: Vec<String>,
}

/// Why a diff cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiffError {
    #[error("the {0} side has no profiled calls")]
    EmptySide(&'static str),
    #[error("no function in common between the two sides (with at least {0} calls on each{1})")]
    NothingInCommon(u64, String),
}

/// Compares the sides.
pub fn diff(before: &Side, after: &Side, o: &DiffOptions) -> Result<Diff, DiffError> {
    if before.funcs.values().all(|f| f.hits() == 0) {
        return Err(DiffError::EmptySide("before"));
    }
    if after.funcs.values().all(|f| f.hits() == 0) {
        return Err(DiffError::EmptySide("after"));
    }
    let wanted = |name: &str| o.func.as_ref().is_none_or(|r| r.is_match(name));
    let mut pairs = Vec::new();
    for (name, b) in &before.funcs {
        if let Some(a) = after.funcs.get(name) {
            if wanted(name) && b.hits() >= o.min_hits && a.hits() >= o.min_hits {
                pairs.push((name, b, a));
            }
        }
    }
    let only = |x: &Side, y: &Side| -> Vec<String> {
        x.funcs.keys().filter(|n| wanted(n) && !y.funcs.contains_key(*n)).cloned().collect()
    };
    if pairs.is_empty() {
        let func = o.func.as_ref().map_or(String::new(), |r| format!(" matching {:?}", r.as_str()));
        return Err(DiffError::NothingInCommon(o.min_hits, func));
    }
    let threshold = o.alpha / pairs.len() as f64;
    let mut rows: Vec<Row> = pairs.into_iter().map(|(name, b, a)| row(name, b, a, threshold)).collect();
    let total_change = |r: &Row| {
        let c = r.change(Metric::Total);
        (c.after - c.before).abs()
    };
    rows.sort_by(|x, y| {
        y.significant()
            .cmp(&x.significant())
            .then(total_change(y).total_cmp(&total_change(x)))
            .then_with(|| x.name.cmp(&y.name))
    });
    Ok(Diff {
        before_label: before.label.clone(),
        after_label: after.label.clone(),
        before_runs: before.runs,
        after_runs: after.runs,
        threshold,
        rows,
        only_before: only(before, after),
        only_after: only(after, before),
    })
}

fn row(name: &str, b: &SideFunc, a: &SideFunc, threshold: f64) -> Row {
    let test = stats::mann_whitney(&b.hist, &a.hist);
    let (bv, av) = (b.values(), a.values());
    let hits_p = stats::poisson_p(bv[Metric::Hits as usize], av[Metric::Hits as usize]);
    let changes = Metric::ALL
        .into_iter()
        .zip(bv.into_iter().zip(av))
        .map(|(m, (before, after))| {
            let tested = match m {
                Metric::Hits => hits_p < threshold,
                // Total and self time are hits × time per call: significant when either part is.
                Metric::Total | Metric::SelfTime => hits_p < threshold || test.is_some_and(|t| t.p_value < threshold),
                _ => test.is_some_and(|t| t.p_value < threshold),
            };
            // With several runs, a change must exceed how much the runs of one side differ among themselves.
            let spread = stats::spread(&b.per_run(m)).max(stats::spread(&a.per_run(m)));
            let beyond_spread = (after - before).abs() > spread;
            let percent = (before > 0.0).then(|| (after - before) / before * 100.0);
            (m, Change { before, after, percent, significant: tested && beyond_spread && after != before })
        })
        .collect();
    Row { name: name.to_owned(), changes, test, hits_p }
}
