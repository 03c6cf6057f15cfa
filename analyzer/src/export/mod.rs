//! `pylu-analyze export`: a trace handed to the tools people already use — Parquet for notebooks and query
//! engines ([`parquet`], behind the `parquet` cargo feature), Chrome/Perfetto and speedscope timelines
//! ([`chrome`], [`speedscope`]), and cProfile's stats file for pstats, snakeviz and gprof2dot ([`pstats`]).
//!
//! Per-call output comes from [`replay`], which replays each thread's events in order; the Parquet
//! aggregates come from the same analysis as `summary`. [`ExportArgs`] is the subcommand's arguments and
//! [`run`] carries it out, so the binary only dispatches.

pub mod chrome;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod pstats;
pub mod replay;
pub mod speedscope;
pub mod timeline;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use crate::cli::{check_not_input, check_output, open_output};
use crate::error::AnalyzeError;
use crate::input::{discover, is_stdin, Input};
use crate::progress::{EXIT_DAMAGED, EXIT_OK};
use crate::timeparse::parse_time;
use replay::{replay, Funcs, ReplayOptions, Replayed};
use timeline::{ThreadLine, Window};

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    /// Writing the export failed; the error names the file (or standard output).
    #[error("{0}")]
    Write(std::io::Error),
    #[error("{path}: cannot write Parquet: {what}")]
    Parquet { path: PathBuf, what: String },
    #[error("this pylu-analyze was built without Parquet support (cargo feature `parquet`)")]
    NoParquet,
    #[error("{0}")]
    BadArgument(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// A directory of Parquet files: calls, functions, stacks, lines, events, updates (docs/PARQUET.md).
    Parquet,
    /// Chrome trace event JSON for ui.perfetto.dev and chrome://tracing.
    Chrome,
    /// speedscope's JSON format (evented profiles per thread).
    Speedscope,
    /// cProfile's stats file, for pstats, snakeviz, tuna and gprof2dot.
    Pstats,
}

/// `pylu-analyze export FORMAT IN… -o OUT`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[arg(value_enum)]
    pub format: ExportFormat,
    /// Files, directories or globs; binary traces and text logs can be mixed (rotated logs are included).
    /// Default: /tmp/pyliveupdate/<uid>/ and /tmp/pyliveupdate.log, whichever exist.
    pub inputs: Vec<PathBuf>,
    /// Where to write: a directory for parquet, a file for the others (`-`: standard output).
    #[arg(short, long)]
    pub output: PathBuf,
    /// No summary line on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// parquet: rows per row group (what a writer holds per open file before writing).
    #[arg(long, default_value_t = 262_144)]
    pub row_group_size: usize,
    /// parquet: zstd (level 1), zstd:LEVEL (1-22), snappy or none.
    #[arg(long, default_value = "zstd")]
    pub compression: String,
    /// parquet: hive-style directories `host=…/pid=…/TABLE.parquet` (host and pid then come from the path).
    #[arg(long)]
    pub partition: bool,
    /// chrome, speedscope: only what happens at or after this time (epoch seconds or YYYY-MM-DD HH:MM:SS[.fff],
    /// UTC); spans are cut at the window's edges.
    #[arg(long)]
    pub from: Option<String>,
    /// chrome, speedscope: only what happens at or before this time.
    #[arg(long)]
    pub to: Option<String>,
    /// chrome, speedscope: leave out stretches shorter than this (`250us`, `1ms`, `2s`, `500ns`; a bare number
    /// is µs).
    #[arg(long)]
    pub min_dur: Option<String>,
}

/// A duration with a unit (ns, us, µs, ms, s; µs when bare), in ns.
pub fn parse_duration(text: &str) -> Result<u64, ExportError> {
    let bad = || ExportError::BadArgument(format!("bad duration {text:?}: expected e.g. 500ns, 250us, 1ms, 2s"));
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ns" => 1.0,
        "" | "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return Err(bad()),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok((v * scale).round() as u64),
        _ => Err(bad()),
    }
}

/// Carries out `args`; returns the exit code (0, or 1 when damaged input was skipped). One line on stderr
/// says what was written, unless `quiet`.
pub fn run(args: &ExportArgs) -> Result<u8, ExportError> {
    let paths = discover(&args.inputs)?;
    if args.format == ExportFormat::Parquet {
        if is_stdin(&args.output) {
            return Err(ExportError::BadArgument(
                "-o -: parquet writes a directory of files, which standard output cannot hold; name a directory".into(),
            ));
        }
        check_not_input(&args.output, &paths)?;
    } else if !is_stdin(&args.output) {
        check_output(&args.output, &paths)?;
    }
    let inputs = Input::open_all(&paths)?;
    crate::cli::check_readable("pylu-analyze", &inputs)?;
    let code = match args.format {
        ExportFormat::Parquet => run_parquet(args, &inputs)?,
        ExportFormat::Chrome | ExportFormat::Speedscope => run_timeline(args, &inputs)?,
        ExportFormat::Pstats => run_pstats(args, &inputs)?,
    };
    Input::release_in_background(inputs);
    Ok(code)
}

fn report(args: &ExportArgs, r: &Replayed, what: &str) -> u8 {
    for d in r.damage.iter().take(20) {
        crate::say!("pylu-analyze: skipped: {d}");
    }
    for n in r.notes.iter().take(20) {
        crate::say!("pylu-analyze: note: {n}");
    }
    if !args.quiet {
        crate::say!(
            "pylu-analyze: {} calls ({} never closed, {} exits without a call) -> {}: {what}",
            r.calls,
            r.unclosed,
            r.unmatched,
            args.output.display()
        );
    }
    if r.damage.is_empty() {
        EXIT_OK
    } else {
        EXIT_DAMAGED
    }
}

/// The export's file, or standard output for `-o -` (the inputs were checked against it before reading).
fn create(path: &Path) -> Result<Box<dyn Write>, ExportError> {
    Ok(open_output(Some(path), &[])?)
}

fn finish(mut w: Box<dyn Write>) -> Result<(), ExportError> {
    w.flush().map_err(ExportError::Write)
}

fn no_parquet_options(args: &ExportArgs) -> Result<(), ExportError> {
    if args.partition {
        return Err(ExportError::BadArgument("--partition is for `export parquet`".into()));
    }
    Ok(())
}

fn no_window_options(args: &ExportArgs) -> Result<(), ExportError> {
    if args.from.is_some() || args.to.is_some() || args.min_dur.is_some() {
        return Err(ExportError::BadArgument("--from, --to and --min-dur are for chrome and speedscope".into()));
    }
    Ok(())
}

fn run_timeline(args: &ExportArgs, inputs: &[Input]) -> Result<u8, ExportError> {
    no_parquet_options(args)?;
    let win = Window {
        from: args.from.as_deref().map(parse_time).transpose()?.unwrap_or(i64::MIN),
        to: args.to.as_deref().map(parse_time).transpose()?.unwrap_or(i64::MAX),
        min_dur: args.min_dur.as_deref().map(parse_duration).transpose()?.unwrap_or(0),
    };
    if win.from > win.to {
        return Err(ExportError::BadArgument("--from is after --to".into()));
    }
    let funcs = RwLock::new(Funcs::default());
    let threads: Mutex<Vec<ThreadLine>> = Mutex::new(Vec::new());
    let replayed = replay(
        inputs,
        ReplayOptions { recursion: false, args: true, segments: true },
        &funcs,
        |meta| ThreadLine::new(meta.clone(), win),
        |_, t| threads.lock().expect("not poisoned").push(t),
    );
    let funcs = funcs.into_inner().expect("not poisoned");
    let mut threads = threads.into_inner().expect("not poisoned");
    for t in &mut threads {
        t.nest();
    }
    threads.sort_by_key(|t| (t.meta.pid, t.display_name(), t.meta.tid));
    let mut w = create(&args.output)?;
    let io = ExportError::Write;
    let spans: usize = threads.iter().map(|t| t.spans.len()).sum();
    if args.format == ExportFormat::Chrome {
        chrome::write(&threads, &funcs.list, &mut w).map_err(io)?;
    } else {
        speedscope::write(&threads, &funcs.list, &mut w).map_err(io)?;
    }
    finish(w)?;
    Ok(report(args, &replayed, &format!("{spans} spans")))
}

fn run_pstats(args: &ExportArgs, inputs: &[Input]) -> Result<u8, ExportError> {
    no_parquet_options(args)?;
    no_window_options(args)?;
    let funcs = RwLock::new(Funcs::default());
    let total = Mutex::new(pstats::PstatsSink::default());
    let replayed = replay(
        inputs,
        ReplayOptions { recursion: true, ..Default::default() },
        &funcs,
        |_| pstats::PstatsSink::default(),
        |_, s| total.lock().expect("not poisoned").merge(s),
    );
    let funcs = funcs.into_inner().expect("not poisoned");
    let total = total.into_inner().expect("not poisoned");
    let mut w = create(&args.output)?;
    pstats::write(&total, &funcs.list, &mut w).map_err(ExportError::Write)?;
    finish(w)?;
    Ok(report(args, &replayed, &format!("{} functions", total.funcs.len())))
}

#[cfg(feature = "parquet")]
fn run_parquet(args: &ExportArgs, inputs: &[Input]) -> Result<u8, ExportError> {
    no_window_options(args)?;
    let compression = parquet::table::compression(&args.compression).ok_or_else(|| {
        ExportError::BadArgument(format!(
            "unknown --compression {:?}: zstd, zstd:LEVEL (1-22), snappy or none",
            args.compression
        ))
    })?;
    if args.row_group_size == 0 {
        return Err(ExportError::BadArgument("--row-group-size must be at least 1".into()));
    }
    let settings = parquet::table::WriteSettings {
        dir: args.output.clone(),
        row_group_size: args.row_group_size,
        compression,
        partition: args.partition,
        shared_rows: parquet::table::shared_rows(args.row_group_size),
    };
    let out = parquet::export(inputs, &settings, &crate::pipeline::Options::default())?;
    let rows: u64 = out.files.iter().filter(|f| f.path.ends_with("calls.parquet")).map(|f| f.rows).sum();
    let code = report(args, &out.replayed, &format!("{} files, {rows} call rows", out.files.len()));
    Ok(code)
}

#[cfg(not(feature = "parquet"))]
fn run_parquet(_args: &ExportArgs, _inputs: &[Input]) -> Result<u8, ExportError> {
    Err(ExportError::NoParquet)
}
