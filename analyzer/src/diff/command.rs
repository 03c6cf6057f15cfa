//! `pylu-analyze diff` as a command: its options, the reading of both sides run by run, the table, the
//! flamegraph and the gate's exit code (0 no regression, 1 a rule broken, 2 an input error).

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use super::gate::{self, Rule, RuleError};
use super::render::{self, Format};
use super::{diff, DiffError, DiffOptions, Side};
use crate::cli::{check_output, open_output, OpenInputs, TextReadAhead};
use crate::error::AnalyzeError;
use crate::input::{discover, is_stdin};
use crate::pipeline::Options;
use crate::profile::Analysis;
use crate::report::folded;
use crate::select::Selection;

/// `diff --format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Json,
    Markdown,
    Csv,
}

/// `pylu-analyze diff BEFORE… -- AFTER…`, or `diff BEFORE AFTER`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The before side: traces or logs (files or directories), each argument one run; then `--` and the after
    /// side. With exactly two arguments and no `--`: before and after.
    #[arg(required = true, value_name = "BEFORE")]
    pub before: Vec<PathBuf>,
    #[arg(last = true, value_name = "AFTER")]
    pub after: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
    /// Write the report (as --format asks) to this file; `-` or none: stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A differential flamegraph SVG here (red: slower after).
    #[arg(long, value_name = "SVG")]
    pub flamegraph: Option<PathBuf>,
    /// Only functions whose name matches this regex.
    #[arg(long)]
    pub func: Option<String>,
    /// Leave out functions with fewer calls than this on either side.
    #[arg(long, default_value_t = 1)]
    pub min_hits: u64,
    /// Rows of the table (default: all).
    #[arg(long)]
    pub top: Option<usize>,
    /// Exit 1 when a function's METRIC grows by more than N%, significantly: METRIC:+N% with METRIC one of
    /// hits, mean, p50, p90, p95, p99, total, self (repeat for several rules).
    #[arg(long, value_name = "METRIC:+N%")]
    pub fail_on: Vec<String>,
    /// Also exit 1 when a metric of a --fail-on rule shrinks by more than its N% (a stale baseline).
    #[arg(long)]
    pub fail_on_improvement: bool,
    /// False-alarm rate over all functions compared (a p-value must be under it divided by their number).
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Compare the calls of one trace before and after update ID (as `LU.ls()` numbers them) was applied.
    #[arg(long, value_name = "ID")]
    pub split_at_update: Option<u32>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub read_ahead: TextReadAhead,
}

/// What stops a diff (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum DiffCommandError {
    #[error("give the two sides as BEFORE AFTER, or BEFORE… -- AFTER…")]
    Sides,
    #[error("--alpha {0}: must be between 0 and 1")]
    Alpha(f64),
    #[error("{0}")]
    Func(String),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Input(#[from] AnalyzeError),
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error(transparent)]
    Split(#[from] super::split::SplitError),
    #[error("--split-at-update takes one trace (one process's), not two sides")]
    SplitSides,
    #[error("{0}: cannot write")]
    Output(String, #[source] io::Error),
    #[error("-o {0}: -o receives the --format report; the differential flamegraph is `--flamegraph {0}`")]
    SvgOutput(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The exit code when a rule is broken.
pub const EXIT_REGRESSION: u8 = 1;

/// Runs the command, the report going to `-o` (or standard output); `Ok` holds the exit code (0, or
/// [`EXIT_REGRESSION`]). Both outputs are checked before anything is read (`cli::check_output`).
pub fn run(args: &DiffArgs) -> Result<u8, DiffCommandError> {
    if let Some(o) = args.output.as_deref().filter(|o| o.extension().is_some_and(|e| e == "svg")) {
        // `-o diff.svg` drew the flamegraph before `-o` took the report: say so rather than put a table there.
        return Err(DiffCommandError::SvgOutput(o.display().to_string()));
    }
    let inputs = discover(&[args.before.as_slice(), args.after.as_slice()].concat())?;
    for o in [&args.output, &args.flamegraph].into_iter().flatten().filter(|o| !is_stdin(o)) {
        check_output(o, &inputs)?;
    }
    let mut out = open_output(args.output.as_deref(), &inputs)?;
    let code = run_into(args, &mut *out)?;
    out.flush()?;
    Ok(code)
}

fn run_into(args: &DiffArgs, out: &mut dyn Write) -> Result<u8, DiffCommandError> {
    // The time window of each side (since, until), wall-clock ns.
    let mut windows = [(None, None), (None, None)];
    let (before, after) = match (args.split_at_update, args.before.len(), args.after.is_empty()) {
        (Some(id), 1, true) => {
            let at = super::split::update_time(&args.before, id)?;
            windows = [(None, Some(at)), (Some(at), None)];
            (args.before.clone(), args.before.clone())
        }
        (Some(_), _, _) => return Err(DiffCommandError::SplitSides),
        (None, _, false) => (args.before.clone(), args.after.clone()),
        (None, 2, true) => (vec![args.before[0].clone()], vec![args.before[1].clone()]),
        _ => return Err(DiffCommandError::Sides),
    };
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        return Err(DiffCommandError::Alpha(args.alpha));
    }
    let rules: Vec<Rule> = args.fail_on.iter().map(|r| r.trim().parse()).collect::<Result<_, _>>()?;
    let func = match &args.func {
        None => None,
        Some(re) => Some(crate::select::func_regex(re).map_err(DiffCommandError::Func)?),
    };
    let flame = args.flamegraph.is_some();
    let (mut b, b_folded) = read_side(&before, args, flame, windows[0])?;
    let (mut a, a_folded) = read_side(&after, args, flame, windows[1])?;
    if let Some(id) = args.split_at_update {
        b.label = format!("{} before update {id}", b.label);
        a.label = format!("{} after update {id}", a.label);
    }
    let d = diff(&b, &a, &DiffOptions { alpha: args.alpha, min_hits: args.min_hits, func })?;
    let violations = (!rules.is_empty()).then(|| gate::check(&d, &rules, args.fail_on_improvement));
    let format = match args.format {
        DiffFormat::Table => Format::Table,
        DiffFormat::Json => Format::Json,
        DiffFormat::Markdown => Format::Markdown,
        DiffFormat::Csv => Format::Csv,
    };
    render::write(&d, format, args.top, violations.as_deref(), out)?;
    if let Some(path) = &args.flamegraph {
        let title = format!("pylu diff: {} → {}", b.label, a.label);
        let cannot = |e| DiffCommandError::Output(path.display().to_string(), e);
        let mut f = File::create(path).map_err(cannot)?;
        super::flame::write_diff_flamegraph(&b_folded, &a_folded, &title, b.runs != a.runs, &mut f).map_err(cannot)?;
    }
    let broken = violations.unwrap_or_default();
    for v in &broken {
        crate::say!("pylu-analyze: {v}");
    }
    Ok(if broken.is_empty() { 0 } else { EXIT_REGRESSION })
}

/// `a, b, c` (the first three and a count past them).
fn label(paths: &[PathBuf]) -> String {
    let mut s: Vec<String> = paths.iter().take(3).map(|p| p.display().to_string()).collect();
    if paths.len() > 3 {
        s.push(format!("… ({} in all)", paths.len()));
    }
    s.join(", ")
}

/// Reads one side, run by run; with `folded`, also its folded stacks without the thread roots (stacks are
/// matched by function names, not by pid and thread).
fn read_side(
    paths: &[PathBuf],
    args: &DiffArgs,
    folded: bool,
    (since_ns, until_ns): (Option<i64>, Option<i64>),
) -> Result<(Side, Vec<String>), DiffCommandError> {
    let mut side = Side::new(label(paths));
    let mut lines = Vec::new();
    for p in paths {
        let inputs = OpenInputs::open(std::slice::from_ref(p))?;
        let opts = Options {
            collect_lines: false,
            since_ns,
            until_ns,
            text_read_ahead: args.read_ahead.text_read_ahead,
            // Calls a killed run left open are not compared (docs/DIFF.md).
            unfinished: false,
            ..Options::default()
        };
        let a: Analysis = inputs.analyze("pylu-analyze", args.quiet, opts);
        side.add_run(&a);
        if folded {
            let views = Selection::default().views(&a);
            lines.extend(
                folded::folded_lines(&a, &views)
                    .into_iter()
                    .filter_map(|l| l.split_once(';').map(|(_, stack)| stack.to_owned())),
            );
        }
    }
    Ok((side, lines))
}
