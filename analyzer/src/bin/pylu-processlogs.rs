//! `pylu-processlogs`: a drop-in for the original's command. Reads the inputs and writes `<input file
//! name>.folded`, `.summary` and `.svg` (`-i app.log` writes `app.log.folded`, …) into the current directory
//! (or `-o DIR`), then prints the original's line. Exit codes: 0 ok, 1 finished with damaged input skipped, 2
//! error (also: no calls at all in the input).

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use pylu_analyzer::cli::{check_not_input, create_output, OpenInputs, TextReadAhead};
use pylu_analyzer::input::is_stdin;
use pylu_analyzer::progress::{self, EXIT_DAMAGED, EXIT_OK};
use pylu_analyzer::report::flamegraph::FlameOptions;
use pylu_analyzer::report::summary::SummaryOptions;
use pylu_analyzer::{flamegraph, folded, summary, AnalyzeError, Options, Selection};

#[derive(Parser)]
#[command(
    name = "pylu-processlogs",
    version,
    about = "Summary, folded stacks and flamegraph from pylu traces and pyliveupdate logs",
    after_help = "Outputs are named after the first input as the original named them: `-i app.log` writes \
                  app.log.folded, app.log.summary and app.log.svg; a directory `-i traces/` writes traces.*, \
                  standard input (`-i -`) stdin.*, a glob or no input pyliveupdate.log.*. Existing outputs are \
                  replaced, as the original did."
)]
struct Cli {
    /// Input files, directories or globs (repeatable); `-` reads stdin. Default: the stub's and original's.
    ///
    /// With no input: /tmp/pyliveupdate/<uid>/ and /tmp/pyliveupdate.log, whichever exist.
    #[arg(short, long = "inputfile", visible_alias = "input", value_name = "INPUT")]
    input: Vec<PathBuf>,
    /// Directory for the outputs (default: the current directory, as the original).
    #[arg(short, long = "output-dir", default_value = ".")]
    output: PathBuf,
    /// Base name of the outputs (default: the first input's file name, as the original).
    #[arg(long)]
    name: Option<OsString>,
    /// One root per process instead of per thread (the original's roots are `pid-tid`).
    #[arg(long)]
    merge_threads: bool,
    /// Threads whose name matches this glob (`Thread-*`) become one root per process (repeatable).
    ///
    /// For thread-per-request servers (Flask's and Django's development servers name each request's thread
    /// afresh): one tree of all their requests instead of thousands of one-request trees.
    #[arg(long, value_name = "GLOB")]
    group_threads: Vec<String>,
    /// Rows of the summary's function table.
    #[arg(long, default_value_t = 30)]
    top: usize,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Time spent in each phase, on stderr.
    #[arg(long, hide = true)]
    timings: bool,
    #[command(flatten)]
    read_ahead: TextReadAhead,
    /// Print a shell completion script for pylu-processlogs on stdout and exit (bash, zsh, fish, …).
    ///
    /// E.g. `pylu-processlogs --completions bash > ~/.local/share/bash-completion/completions/pylu-processlogs`.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<clap_complete::Shell>,
}

/// The outputs' base name: the original's `path_leaf` of its one input (the file name with its extension, a
/// directory's own name), `stdin` for `-`, and the original's default input's name otherwise. Kept as the
/// name's bytes: a name that is not UTF-8 still names its outputs.
fn base_name(inputs: &[PathBuf]) -> OsString {
    let Some(first) = inputs.first() else { return "pyliveupdate.log".into() };
    if is_stdin(first) {
        return "stdin".into();
    }
    let glob = |s: &OsString| s.as_encoded_bytes().iter().any(|b| matches!(b, b'*' | b'?' | b'['));
    first
        .file_name()
        .map(OsString::from)
        // `.` or `..`: the directory's own name.
        .or_else(|| first.canonicalize().ok()?.file_name().map(OsString::from))
        .filter(|s| !s.is_empty() && !glob(s))
        .unwrap_or_else(|| "pyliveupdate.log".into())
}

/// Phase times for `--timings`.
struct Phases {
    on: bool,
    last: Instant,
}

impl Phases {
    fn done(&mut self, what: &str) {
        self.report(what, self.last);
        self.last = Instant::now();
    }

    /// A phase that started at `started` (phases on two threads overlap).
    fn report(&self, what: &str, started: Instant) {
        if self.on {
            pylu_analyzer::say!("pylu-processlogs: {what}: {:.3} s", started.elapsed().as_secs_f64());
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    if let Some(shell) = cli.completions {
        let mut stdout = io::stdout().lock();
        clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "pylu-processlogs", &mut stdout);
        stdout.flush()?;
        return Ok(EXIT_OK);
    }
    let mut t = Phases { on: cli.timings, last: Instant::now() };
    if cli.timings {
        let how = if pylu_analyzer::malloc_tuning::tuned() { "huge pages (malloc_tuning)" } else { "glibc's defaults" };
        pylu_analyzer::say!("pylu-processlogs: malloc: {how}");
    }
    // Before anything is read: a mistyped glob is not worth a whole analysis.
    let group_threads = cli
        .group_threads
        .iter()
        .map(|g| glob::Pattern::new(g).with_context(|| format!("bad --group-threads glob {g:?}")))
        .collect::<Result<Vec<_>>>()?;
    let inputs = OpenInputs::open(&cli.input)?;
    inputs.check_readable("pylu-processlogs")?;
    let name = cli.name.clone().unwrap_or_else(|| base_name(&cli.input));
    let paths = inputs.paths.clone();
    // Printed as the original printed them: bare names when written to the current directory.
    let out = |ext: &str| -> PathBuf {
        let mut file = name.clone();
        file.push(format!(".{ext}"));
        if cli.output == Path::new(".") {
            file.into()
        } else {
            cli.output.join(file)
        }
    };
    let (folded_path, summary_path, svg_path) = (out("folded"), out("summary"), out("svg"));
    // Before anything is read or written: an output that is one of the inputs (`--name` chosen so) would
    // otherwise be refused only after the outputs before it were written.
    for p in [&folded_path, &svg_path, &summary_path] {
        check_not_input(p, &paths)?;
    }
    // Line timings go into the summary too, as the original's line summary did. Calls still open at the end
    // get no hit, as in the original's `processfunclogs` (its drop-in outputs stay the same).
    let opts = Options {
        text_read_ahead: cli.read_ahead.text_read_ahead,
        collect_lines: true,
        unfinished: false,
        ..Options::default()
    };
    let a = inputs.analyze("pylu-processlogs", cli.quiet, opts);
    t.done("read and analyze");
    if a.calls == 0 {
        let what =
            if cli.input.is_empty() { "the default inputs".to_string() } else { name.to_string_lossy().into_owned() };
        return Err(AnalyzeError::NoCalls { what }.into());
    }
    let sel = Selection { merge_threads: cli.merge_threads, group_threads, ..Selection::default() };
    let views = sel.views(&a);
    // Each view's tree order (children by name, self times), which all three outputs walk, made here on every
    // core: made by whichever output asked first, the others waited for it view by view.
    {
        use rayon::prelude::*;
        views.par_iter().for_each(|v| {
            v.order(&a);
        });
    }
    std::fs::create_dir_all(&cli.output)
        .with_context(|| format!("{}: cannot create directory", cli.output.display()))?;
    // The three outputs only read the analysis: they are written as tasks on the worker pool, the summary's
    // line timings and the flamegraph's frames split further, so both cores stay busy until the last byte
    // (on three threads of their own, the longest, the SVG, ran alone at the end: a quarter of the outputs'
    // time on a 50 MB log).
    let write_summary = || -> Result<()> {
        let started = Instant::now();
        let with_lines = views.iter().any(|v| !v.lines.is_empty());
        let (text, lines) = rayon::join(
            || -> io::Result<Vec<u8>> {
                let mut text = Vec::new();
                summary::write_text(
                    &a,
                    &views,
                    &SummaryOptions { top: Some(cli.top), command: "pylu-processlogs", ..Default::default() },
                    &mut text,
                )?;
                Ok(text)
            },
            || -> io::Result<Vec<u8>> {
                let mut lines = Vec::new();
                if with_lines {
                    writeln!(lines, "\nLine timings (LineProfiler)")?;
                    pylu_analyzer::report::lines::write_text(&a, &views, &mut lines)?;
                }
                Ok(lines)
            },
        );
        let mut f = create_output(&summary_path, &paths)?;
        f.write_all(&text?)?;
        f.write_all(&lines?)?;
        f.flush()?;
        t.report("summary (task)", started);
        Ok(())
    };
    let write_svg = || -> Result<()> {
        let started = Instant::now();
        let lines = folded::flame_lines(&a, &views, flamegraph::DRAWN_WIDTH, FlameOptions::default().min_width);
        let title = format!("{} ({} calls)", name.to_string_lossy(), a.calls);
        let mut f = create_output(&svg_path, &paths)?;
        flamegraph::write_flamegraph(&lines, &FlameOptions { title, ..Default::default() }, &mut f)?;
        f.flush()?;
        t.report("flamegraph stacks and svg (task)", started);
        Ok(())
    };
    let write_folded = || -> Result<()> {
        let started = Instant::now();
        let mut f = create_output(&folded_path, &paths)?;
        folded::write_folded(&a, &views, &mut f)?;
        f.flush()?;
        t.report("folded (task)", started);
        Ok(())
    };
    let (mut folded, mut svg, mut summary) = (Ok(()), Ok(()), Ok(()));
    rayon::scope(|scope| {
        // The SVG, the longest, first: the other worker takes it while this one writes the rest.
        scope.spawn(|_| svg = write_svg());
        scope.spawn(|_| summary = write_summary());
        folded = write_folded();
    });
    // Errors in the order the files were once written: folded, SVG, summary.
    folded?;
    svg?;
    summary?;
    t.done("outputs");
    // As the original printed it; a closed stdout ends the run quietly (an error `exit_code_for` reads as such).
    writeln!(io::stdout(), "generate summary: {} and flamegraph: {}", summary_path.display(), svg_path.display())?;
    Ok(if a.damaged() { EXIT_DAMAGED } else { EXIT_OK })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.completions.is_none() {
        // Before any thread starts: it may replace this process with one whose malloc uses huge pages.
        pylu_analyzer::malloc_tuning::reexec_if_worthwhile(&cli.input);
    }
    // The whole run on a worker of the pool, so that each parallel step starts and ends there: from the main
    // thread, each step's end waited for the spinning workers to give a core back to it (0.1–2.5 ms each time
    // on two cores).
    match rayon::scope(|_| run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => ExitCode::from(progress::exit_code_for("pylu-processlogs", e.as_ref())),
    }
}
