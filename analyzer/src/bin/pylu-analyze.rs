//! `pylu-analyze`: flamegraphs, folded stacks, summaries, line timings and debugger values from pylu traces
//! and pyliveupdate logs. Exit codes: 0 ok, 1 finished with damaged input skipped, 2 error.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use pylu_analyzer::cli::{check_output, open_output, OpenInputs, TextReadAhead};
use pylu_analyzer::progress::{self, EXIT_DAMAGED, EXIT_OK};
use pylu_analyzer::report::flamegraph::{Colors, FlameOptions};
use pylu_analyzer::report::summary::{SortBy, SummaryOptions};
use pylu_analyzer::timeparse::parse_time;
use pylu_analyzer::{events, flamegraph, folded, lines, summary, Analysis, Input, Options, Selection};

#[derive(Parser)]
#[command(
    name = "pylu-analyze",
    version,
    about = "Analyze pylu traces and pyliveupdate logs",
    after_help = "Inputs: files, directories and globs; `-` reads standard input. `-o FILE` writes a report to FILE \
                  (replacing it, unless it is one of the inputs); `-o -` or no -o writes to standard output."
)]
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
        #[command(flatten)]
        out: Out,
        /// Output format: a text table, JSON (docs/JSON.md) or CSV of the function table.
        #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
        format: SummaryFormat,
        /// Order of the function table.
        #[arg(long, value_enum, default_value_t = Sort::SelfTime)]
        sort: Sort,
        /// Rows of the function table (default: 30 for table, all for json/csv).
        #[arg(long)]
        top: Option<usize>,
        /// The text tree leaves out call sites under this percentage of their root's total (0: show all).
        #[arg(long, default_value_t = 0.1, value_parser = percent)]
        min_percent: f64,
    },
    /// Folded stacks with self time in microseconds (input for any flamegraph tool).
    Folded {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        out: Out,
    },
    /// A flamegraph SVG; also draws `.folded` files (from `folded` or any tool) again.
    Flamegraph {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        out: Out,
        /// One tower per thread (default: the threads of a process merged into one).
        #[arg(long, conflicts_with_all = ["merge_threads", "merge_processes"])]
        per_thread: bool,
        /// The title at the top of the image.
        #[arg(long, default_value = "pylu flamegraph")]
        title: String,
        /// What the counts are, shown in the tooltips.
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
        /// How frames get their colour within the palette.
        ///
        /// deterministic: from the name, the same in every graph; hash: from the name, similar names similar;
        /// random: as flamegraph.pl (files differ between runs).
        #[arg(long, value_enum, default_value_t = ColorArg::Deterministic)]
        colors: ColorArg,
        /// Leave out frames narrower than this many pixels.
        #[arg(long, default_value_t = 0.1, value_parser = pixels)]
        min_width: f64,
    },
    /// LineProfiler timings per line (like line_profiler).
    Lines {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        out: Out,
        /// Output format: a text table or JSON (docs/JSON.md).
        #[arg(long, value_enum, default_value_t = TableOrJson::Table)]
        format: TableOrJson,
    },
    /// Debugger records (parameters, return values, variables) in time order.
    Events {
        #[command(flatten)]
        common: Common,
        /// Only the records of these variable names (repeat or comma-separate; `return`, `exception` for FD's)
        #[arg(long, value_delimiter = ',')]
        name: Vec<String>,
        #[command(flatten)]
        out: Out,
        /// Output format: a text table or JSON (docs/JSON.md).
        #[arg(long, value_enum, default_value_t = TableOrJson::Table)]
        format: TableOrJson,
    },
    /// Per-function changes between two sides (before… -- after…), their significance, and the CI gate.
    Diff(pylu_analyzer::diff::command::DiffArgs),
    /// Parquet for notebooks and query engines, Chrome/Perfetto or speedscope timelines, pstats.
    Export(pylu_analyzer::export::ExportArgs),
    /// Every record of each file as a line of text.
    Dump {
        /// Files, directories or globs; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Accepted as on every other subcommand (these show no progress bar).
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        out: Out,
    },
    /// Each file's header, threads, time span, record counts and damage.
    Info {
        /// Files, directories or globs; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Accepted as on every other subcommand (these show no progress bar).
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        out: Out,
    },
    /// A shell completion script on stdout (bash, zsh, fish, elvish, powershell).
    ///
    /// E.g. `pylu-analyze completions bash > ~/.local/share/bash-completion/completions/pylu-analyze`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `-o`, for every report.
#[derive(Args)]
struct Out {
    /// Write the report to this file (replaced if it exists, unless it is an input); `-` or none: stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct Common {
    /// Files, directories or globs; `-` reads stdin. Default: /tmp/pyliveupdate/<uid>/ and /tmp/pyliveupdate.log.
    ///
    /// Binary traces and text logs can be mixed; a text log's rotated backups are included. `flamegraph` also
    /// takes `.folded` files.
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
    /// Threads whose name matches this glob (`Thread-*`) become one root per process (repeatable).
    #[arg(long)]
    group_threads: Vec<String>,
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
            Some(re) => Some(pylu_analyzer::select::func_regex(re).map_err(anyhow::Error::msg)?),
        };
        Ok(Selection {
            pids: self.pid.clone(),
            threads: self.thread.clone(),
            func,
            group_threads: self
                .group_threads
                .iter()
                .map(|g| glob::Pattern::new(g).with_context(|| format!("bad --group-threads glob {g:?}")))
                .collect::<Result<_>>()?,
            merge_threads: self.merge_threads,
            merge_processes: self.merge_processes,
        })
    }

    /// `--since` and `--until`, refused when the window is empty (as `export` refuses `--from` after `--to`).
    fn window(&self) -> Result<(Option<i64>, Option<i64>)> {
        let since = self.since.as_deref().map(parse_time).transpose()?;
        let until = self.until.as_deref().map(parse_time).transpose()?;
        if let (Some(s), Some(u)) = (since, until) {
            anyhow::ensure!(s <= u, "--since is after --until: no event can be in the window");
        }
        Ok((since, until))
    }

    /// Reads the inputs for a report written to `out` (refused first if it is one of them), keeping what `keep`
    /// asks for; damage goes to stderr. Also returns the files read, for [`Out::open`].
    fn analyze_into(&self, out: &Out, keep: Keep) -> Result<(Analysis, Vec<PathBuf>)> {
        self.window()?;
        let inputs = OpenInputs::open(&self.inputs)?;
        if let Some(path) = out.output.as_deref() {
            check_output(path, &inputs.paths)?;
        }
        inputs.check_readable("pylu-analyze")?;
        let paths = inputs.paths.clone();
        Ok((self.analyze_opened(inputs, keep)?, paths))
    }

    /// Analyzes inputs already opened.
    fn analyze_opened(&self, inputs: OpenInputs, keep: Keep) -> Result<Analysis> {
        let (since_ns, until_ns) = self.window()?;
        let opts = Options {
            chunk_bytes: self.chunk_mib.max(1) << 20,
            since_ns,
            until_ns,
            pids: self.pid.clone(),
            collect_events: keep.debug_events,
            collect_lines: keep.line_timings,
            progress: None,
            adaptive_units: true,
            text_read_ahead: self.read_ahead.text_read_ahead,
            text_read_ahead_retry: true,
            unfinished: true,
        };
        Ok(inputs.analyze("pylu-analyze", self.quiet, opts))
    }
}

impl Out {
    /// The report's writer (see `open_output`), never one of `files`, the files the run read (found once, by
    /// the run: a directory listed again could name other files by now).
    fn open(&self, files: &[PathBuf]) -> Result<Box<dyn Write>> {
        Ok(open_output(self.output.as_deref(), files)?)
    }
}

/// A note on stderr for each filter that selected nothing (the report itself stays what it is: empty).
fn note_unmatched(sel: &Selection, a: &Analysis) {
    for note in sel.unmatched(a) {
        pylu_analyzer::say!("pylu-analyze: note: {note}");
    }
}

fn code(a: &Analysis) -> u8 {
    if a.damaged() {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.cmd {
        Cmd::Summary { common, out, format, sort, top, min_percent } => {
            let sel = common.selection()?;
            let (a, files) = common.analyze_into(&out, Keep { debug_events: false, line_timings: false })?;
            note_unmatched(&sel, &a);
            let views = sel.views(&a);
            let sort = match sort {
                Sort::SelfTime => SortBy::SelfTime,
                Sort::Total => SortBy::Total,
                Sort::Hits => SortBy::Hits,
                Sort::P99 => SortBy::P99,
            };
            let mut stdout = out.open(&files)?;
            match format {
                SummaryFormat::Table => summary::write_text(
                    &a,
                    &views,
                    &SummaryOptions {
                        sort,
                        top: Some(top.unwrap_or(30)),
                        min_tree_percent: min_percent,
                        ..Default::default()
                    },
                    &mut *stdout,
                )?,
                SummaryFormat::Json => {
                    summary::write_json(&a, &views, &SummaryOptions { sort, top, ..Default::default() }, &mut *stdout)?
                }
                SummaryFormat::Csv => {
                    summary::write_csv(&a, &views, &SummaryOptions { sort, top, ..Default::default() }, &mut *stdout)?
                }
            }
            Ok(code(&a))
        }
        Cmd::Folded { common, out } => {
            let sel = common.selection()?;
            let (a, files) = common.analyze_into(&out, Keep { debug_events: false, line_timings: false })?;
            note_unmatched(&sel, &a);
            folded::write_folded(&a, &sel.views(&a), &mut *out.open(&files)?)?;
            Ok(code(&a))
        }
        Cmd::Flamegraph {
            mut common,
            out,
            per_thread,
            title,
            count_name,
            reverse,
            icicle,
            palette,
            colors,
            min_width,
        } => {
            common.merge_threads |= !per_thread;
            let sel = common.selection()?;
            let inputs = OpenInputs::open(&common.inputs)?;
            if let Some(path) = out.output.as_deref() {
                check_output(path, &inputs.paths)?;
            }
            let files = inputs.paths.clone();
            let mut bad_lines = false;
            let (lines, hidden, a) = match inputs.folded_lines()? {
                Some(folded) => {
                    for (path, line, why) in folded.bad.iter().take(20) {
                        pylu_analyzer::say!(
                            "pylu-analyze: skipped: {}: line {line}: not a folded stack: {why}",
                            path.display()
                        );
                    }
                    if folded.bad.len() > 20 {
                        pylu_analyzer::say!("pylu-analyze: skipped {} more lines", folded.bad.len() - 20);
                    }
                    if folded.lines.is_empty() {
                        anyhow::bail!(
                            "no folded stacks (`frame;frame count` lines) in {}",
                            pylu_analyzer::cli::join_paths(&files)
                        );
                    }
                    bad_lines = !folded.bad.is_empty();
                    (folded.lines, 0, None)
                }
                None => {
                    inputs.check_readable("pylu-analyze")?;
                    let a = common.analyze_opened(inputs, Keep { debug_events: false, line_timings: false })?;
                    note_unmatched(&sel, &a);
                    let (lines, hidden) =
                        folded::flame_lines_counted(&a, &sel.views(&a), flamegraph::DRAWN_WIDTH, min_width);
                    (lines, hidden, Some(a))
                }
            };
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
                subtitle: flamegraph::hidden_note(hidden, min_width),
            };
            flamegraph::write_flamegraph(&lines, &o, &mut *out.open(&files)?)?;
            Ok(a.as_ref().map_or(if bad_lines { EXIT_DAMAGED } else { EXIT_OK }, code))
        }
        Cmd::Lines { common, out, format } => {
            let sel = common.selection()?;
            let (a, files) = common.analyze_into(&out, Keep { debug_events: false, line_timings: true })?;
            note_unmatched(&sel, &a);
            let views = sel.views(&a);
            let mut stdout = out.open(&files)?;
            match format {
                TableOrJson::Table => lines::write_text(&a, &views, &mut *stdout)?,
                TableOrJson::Json => lines::write_json(&a, &views, &mut *stdout)?,
            }
            Ok(code(&a))
        }
        Cmd::Events { common, name, out, format } => {
            let sel = common.selection()?;
            let (a, files) = common.analyze_into(&out, Keep { debug_events: true, line_timings: true })?;
            note_unmatched(&sel, &a);
            let mut stdout = out.open(&files)?;
            match format {
                TableOrJson::Table => events::write_text(&a, &sel, &name, &mut *stdout)?,
                TableOrJson::Json => events::write_json(&a, &sel, &name, &mut *stdout)?,
            }
            Ok(code(&a))
        }
        Cmd::Diff(args) => Ok(pylu_analyzer::diff::command::run(&args)?),
        Cmd::Export(args) => Ok(pylu_analyzer::export::run(&args)?),
        Cmd::Dump { files, out, quiet: _ } => inspect(&files, &out, |p, d, o| {
            pylu_analyzer::dump::dump(p, d, o).map(|s| (s.damaged_blocks + s.bad_lines, s.damage))
        }),
        Cmd::Info { files, out, quiet: _ } => inspect(&files, &out, |p, d, o| {
            pylu_analyzer::info::info(p, d, o).map(|s| (s.damaged_blocks + s.bad_lines, s.damage))
        }),
        Cmd::Completions { shell } => {
            let mut stdout = io::stdout().lock();
            clap_complete::generate(shell, &mut Cli::command(), "pylu-analyze", &mut stdout);
            stdout.flush()?;
            Ok(EXIT_OK)
        }
    }
}

/// Runs `f` on each file that `args` name (files, directories, globs, `-`), with a `==> path <==` header when
/// there are several. `f` returns how many damaged parts it skipped and the first of them, which go to stderr
/// as the analyses report theirs. Exit codes as the analyses': a file that cannot be read at all (not a trace,
/// a broken header) is skipped (1), unless no file could be read (2).
fn inspect(
    args: &[PathBuf],
    out: &Out,
    f: impl Fn(&std::path::Path, &[u8], &mut dyn Write) -> Result<(u64, Vec<String>), pylu_analyzer::InspectError>,
) -> Result<u8> {
    let files = pylu_analyzer::discover(args)?;
    let mut stdout = out.open(&files)?;
    let mut damaged = false;
    let mut unreadable = Vec::new();
    for (i, path) in files.iter().enumerate() {
        if files.len() > 1 {
            if i > 0 {
                writeln!(stdout)?;
            }
            writeln!(stdout, "==> {} <==", path.display())?;
        }
        let input = Input::open(path)?;
        match f(path, input.bytes(), &mut *stdout) {
            Ok((count, listed)) => {
                damaged |= count > 0;
                for d in &listed {
                    pylu_analyzer::say!("pylu-analyze: skipped: {}: {d}", path.display());
                }
                if count > listed.len() as u64 {
                    pylu_analyzer::say!("pylu-analyze: skipped {} more damaged parts", count - listed.len() as u64);
                }
            }
            Err(pylu_analyzer::InspectError::Output(e)) => return Err(e.into()),
            Err(e) if files.len() == 1 => return Err(e.into()),
            Err(e) => {
                pylu_analyzer::say!("pylu-analyze: skipped: {e}");
                unreadable.push(e);
            }
        }
    }
    stdout.flush()?;
    if !files.is_empty() && unreadable.len() == files.len() {
        return Err(pylu_analyzer::AnalyzeError::NothingReadable.into());
    }
    Ok(if damaged || !unreadable.is_empty() { EXIT_DAMAGED } else { EXIT_OK })
}

/// A `--min-percent`: a number from 0 to 100 (NaN, infinities and beyond 100 would hide everything or print
/// nonsense).
fn percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?}: a percentage from 0 to 100")),
    }
}

/// A `--min-width`: a number of pixels from 0 to the flamegraph's drawn width.
fn pixels(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=flamegraph::DRAWN_WIDTH).contains(&p) => Ok(p),
        _ => Err(format!("{s:?}: a width in pixels from 0 to {}", flamegraph::DRAWN_WIDTH)),
    }
}

impl Cli {
    /// The inputs of a report subcommand (`diff`, `export`, `dump` and `info` gain nothing from a second start
    /// with huge pages: measured in docs/PERFORMANCE.md).
    fn report_inputs(&self) -> Option<&[PathBuf]> {
        match &self.cmd {
            Cmd::Summary { common, .. }
            | Cmd::Folded { common, .. }
            | Cmd::Flamegraph { common, .. }
            | Cmd::Lines { common, .. }
            | Cmd::Events { common, .. } => Some(&common.inputs),
            _ => None,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(inputs) = cli.report_inputs() {
        // Before any thread starts: it may replace this process with one whose malloc uses huge pages.
        pylu_analyzer::malloc_tuning::reexec_if_worthwhile(inputs);
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => ExitCode::from(progress::exit_code_for("pylu-analyze", e.as_ref())),
    }
}
