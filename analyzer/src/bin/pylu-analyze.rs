//! `pylu-analyze`: flamegraphs, folded stacks, summaries, line timings and debugger values from pylu traces
//! and pyliveupdate logs. Exit codes: 0 ok, 1 finished with damaged input skipped, 2 error.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use pylu_analyzer::cli::{OpenInputs, TextReadAhead};
use pylu_analyzer::progress::{self, EXIT_DAMAGED, EXIT_ERROR, EXIT_OK};
use pylu_analyzer::report::flamegraph::{Colors, FlameOptions};
use pylu_analyzer::report::summary::{SortBy, SummaryOptions};
use pylu_analyzer::timeparse::parse_time;
use pylu_analyzer::{events, flamegraph, folded, lines, summary, Analysis, Input, Options, Selection};

#[derive(Parser)]
#[command(name = "pylu-analyze", version, about = "Analyze pylu traces and pyliveupdate logs")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Per-thread call trees and a table of functions (hits, total, self, p50/p90/p99).
    Summary {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
        format: SummaryFormat,
        #[arg(long, value_enum, default_value_t = Sort::SelfTime)]
        sort: Sort,
        /// Rows of the function table (default: 30 for table, all for json/csv).
        #[arg(long)]
        top: Option<usize>,
    },
    /// Folded stacks with self time in microseconds (input for any flamegraph tool).
    Folded {
        #[command(flatten)]
        common: Common,
        /// Write here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// A flamegraph SVG.
    Flamegraph {
        #[command(flatten)]
        common: Common,
        /// Write here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, default_value = "pylu flamegraph")]
        title: String,
        #[arg(long, default_value = "us")]
        count_name: String,
        /// Callers above callees.
        #[arg(long)]
        reverse: bool,
        /// Roots at the top.
        #[arg(long)]
        icicle: bool,
        /// inferno palette (python, hot, mem, io, java, js, perl, rust, …).
        #[arg(long, default_value = "python")]
        palette: String,
        #[arg(long, value_enum, default_value_t = ColorArg::Deterministic)]
        colors: ColorArg,
        /// Leave out frames narrower than this many pixels.
        #[arg(long, default_value_t = 0.1)]
        min_width: f64,
    },
    /// LineProfiler timings per line (like line_profiler).
    Lines {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value_t = TableOrJson::Table)]
        format: TableOrJson,
    },
    /// Debugger records (parameters, return values, variables) in time order.
    Events {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value_t = TableOrJson::Table)]
        format: TableOrJson,
    },
    /// Parquet for notebooks and query engines, Chrome/Perfetto or speedscope timelines, pstats.
    Export(pylu_analyzer::export::ExportArgs),
    /// Every record of each file as a line of text.
    Dump {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Each file's header, threads, time span, record counts and damage.
    Info {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct Common {
    /// Files, directories or globs; binary traces and text logs can be mixed (rotated logs are included).
    /// Default: /tmp/pyliveupdate/ and /tmp/pyliveupdate.log.
    inputs: Vec<PathBuf>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Only these processes (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pid: Vec<u32>,
    /// Only these threads, by name or id (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    thread: Vec<String>,
    /// Only stacks with a function matching this regex.
    #[arg(long)]
    func: Option<String>,
    /// Only events at or after this time (epoch seconds or YYYY-MM-DD HH:MM:SS[.fff], UTC).
    #[arg(long)]
    since: Option<String>,
    /// Only events at or before this time.
    #[arg(long)]
    until: Option<String>,
    /// One root per process instead of per thread.
    #[arg(long)]
    merge_threads: bool,
    /// One root for everything.
    #[arg(long)]
    merge_processes: bool,
    /// Bytes per unit of parallel work, in MiB.
    #[arg(long, default_value_t = 8, hide = true)]
    chunk_mib: usize,
    #[command(flatten)]
    read_ahead: TextReadAhead,
}

/// `summary --format`.
#[derive(Clone, Copy, ValueEnum)]
enum SummaryFormat {
    Table,
    Json,
    Csv,
}

/// `--format` of `lines` and `events`.
#[derive(Clone, Copy, ValueEnum)]
enum TableOrJson {
    Table,
    Json,
}

/// What a report needs kept besides the call trees (not keeping them saves time).
#[derive(Clone, Copy)]
struct Keep {
    /// Debugger records (`events`).
    debug_events: bool,
    /// Per-line timings (`lines`).
    line_timings: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Sort {
    #[value(name = "self")]
    SelfTime,
    Total,
    Hits,
    P99,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorArg {
    Deterministic,
    Hash,
    Random,
}

impl Common {
    fn selection(&self) -> Result<Selection> {
        let func = match &self.func {
            None => None,
            Some(re) => Some(regex::Regex::new(re).with_context(|| format!("bad --func regex {re:?}"))?),
        };
        Ok(Selection {
            pids: self.pid.clone(),
            threads: self.thread.clone(),
            func,
            merge_threads: self.merge_threads,
            merge_processes: self.merge_processes,
        })
    }

    /// Reads the inputs, keeping what `keep` asks for; damage goes to stderr.
    fn analyze(&self, keep: Keep) -> Result<Analysis> {
        let inputs = OpenInputs::open(&self.inputs)?;
        let opts = Options {
            chunk_bytes: self.chunk_mib.max(1) << 20,
            since_ns: self.since.as_deref().map(parse_time).transpose()?,
            until_ns: self.until.as_deref().map(parse_time).transpose()?,
            pids: self.pid.clone(),
            collect_events: keep.debug_events,
            collect_lines: keep.line_timings,
            progress: None,
            adaptive_units: true,
            text_read_ahead: self.read_ahead.text_read_ahead,
            text_read_ahead_retry: true,
        };
        Ok(inputs.analyze("pylu-analyze", self.quiet, opts))
    }
}

fn output(path: &Option<PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match path {
        None => Box::new(io::stdout().lock()),
        Some(p) => Box::new(File::create(p).with_context(|| format!("{}: cannot create", p.display()))?),
    })
}

fn code(a: &Analysis) -> u8 {
    if a.damaged() {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    }
}

fn run(cli: Cli) -> Result<u8> {
    let mut stdout = io::stdout().lock();
    match cli.cmd {
        Cmd::Summary { common, format, sort, top } => {
            let sel = common.selection()?;
            let a = common.analyze(Keep { debug_events: false, line_timings: false })?;
            let views = sel.views(&a);
            let sort = match sort {
                Sort::SelfTime => SortBy::SelfTime,
                Sort::Total => SortBy::Total,
                Sort::Hits => SortBy::Hits,
                Sort::P99 => SortBy::P99,
            };
            match format {
                SummaryFormat::Table => summary::write_text(
                    &a,
                    &views,
                    &SummaryOptions { sort, top: Some(top.unwrap_or(30)), ..Default::default() },
                    &mut stdout,
                )?,
                SummaryFormat::Json => {
                    summary::write_json(&a, &views, &SummaryOptions { sort, top, ..Default::default() }, &mut stdout)?
                }
                SummaryFormat::Csv => {
                    summary::write_csv(&a, &views, &SummaryOptions { sort, top, ..Default::default() }, &mut stdout)?
                }
            }
            Ok(code(&a))
        }
        Cmd::Folded { common, output: out } => {
            let sel = common.selection()?;
            let a = common.analyze(Keep { debug_events: false, line_timings: false })?;
            folded::write_folded(&a, &sel.views(&a), &mut *output(&out)?)?;
            Ok(code(&a))
        }
        Cmd::Flamegraph { common, output: out, title, count_name, reverse, icicle, palette, colors, min_width } => {
            let sel = common.selection()?;
            let a = common.analyze(Keep { debug_events: false, line_timings: false })?;
            let lines = folded::flame_lines(&a, &sel.views(&a), flamegraph::IMAGE_WIDTH, min_width);
            let o = FlameOptions {
                title,
                count_name,
                reverse,
                icicle,
                colors: match colors {
                    ColorArg::Deterministic => Colors::Deterministic,
                    ColorArg::Hash => Colors::Hash,
                    ColorArg::Random => Colors::Random,
                },
                palette,
                min_width,
            };
            flamegraph::write_flamegraph(&lines, &o, &mut *output(&out)?)?;
            Ok(code(&a))
        }
        Cmd::Lines { common, format } => {
            let sel = common.selection()?;
            let a = common.analyze(Keep { debug_events: false, line_timings: true })?;
            let views = sel.views(&a);
            match format {
                TableOrJson::Table => lines::write_text(&a, &views, &mut stdout)?,
                TableOrJson::Json => lines::write_json(&a, &views, &mut stdout)?,
            }
            Ok(code(&a))
        }
        Cmd::Events { common, format } => {
            let sel = common.selection()?;
            let a = common.analyze(Keep { debug_events: true, line_timings: true })?;
            match format {
                TableOrJson::Table => events::write_text(&a, &sel, &mut stdout)?,
                TableOrJson::Json => events::write_json(&a, &sel, &mut stdout)?,
            }
            Ok(code(&a))
        }
        Cmd::Export(args) => Ok(pylu_analyzer::export::run(&args)?),
        Cmd::Dump { files } => inspect(&files, |p, d, o| pylu_analyzer::dump::dump(p, d, o).map(|s| s.damaged())),
        Cmd::Info { files } => inspect(&files, |p, d, o| pylu_analyzer::info::info(p, d, o).map(|s| s.damaged())),
    }
}

/// Runs `f` on each mapped file, with a `==> path <==` header when there are several.
fn inspect(
    files: &[PathBuf],
    f: impl Fn(&std::path::Path, &[u8], &mut dyn Write) -> Result<bool, pylu_analyzer::InspectError>,
) -> Result<u8> {
    let mut stdout = io::stdout().lock();
    let mut damaged = false;
    let mut failed = false;
    for (i, path) in files.iter().enumerate() {
        if files.len() > 1 {
            if i > 0 {
                writeln!(stdout)?;
            }
            writeln!(stdout, "==> {} <==", path.display())?;
        }
        let input = Input::open(path)?;
        match f(path, input.bytes(), &mut stdout) {
            Ok(d) => damaged |= d,
            Err(pylu_analyzer::InspectError::Output(e)) => return Err(e.into()),
            Err(e) => {
                eprintln!("pylu-analyze: error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        EXIT_ERROR
    } else if damaged {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    })
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => ExitCode::from(progress::exit_code_for("pylu-analyze", e.as_ref())),
    }
}
