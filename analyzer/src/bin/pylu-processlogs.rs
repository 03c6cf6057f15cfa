//! `pylu-processlogs`: a drop-in for the original's command. Reads the inputs and writes `<name>.folded`,
//! `<name>.summary` and `<name>.svg` into the current directory (or `-o DIR`). Exit codes: 0 ok, 1 finished with
//! damaged input skipped, 2 error.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use pylu_analyzer::cli::{OpenInputs, TextReadAhead};
use pylu_analyzer::progress::{self, EXIT_DAMAGED, EXIT_OK};
use pylu_analyzer::report::flamegraph::FlameOptions;
use pylu_analyzer::report::summary::SummaryOptions;
use pylu_analyzer::{flamegraph, folded, summary, Options, Selection};

#[derive(Parser)]
#[command(
    name = "pylu-processlogs",
    version,
    about = "Summary, folded stacks and flamegraph from pylu traces and pyliveupdate logs"
)]
struct Cli {
    /// Input files, directories or globs (repeatable). Default: /tmp/pyliveupdate/ and /tmp/pyliveupdate.log.
    #[arg(short, long = "input")]
    input: Vec<PathBuf>,
    /// Directory for the outputs (default: the current directory).
    #[arg(short, long = "output-dir", default_value = ".")]
    output: PathBuf,
    /// Base name of the outputs (default: the first input's name without extension).
    #[arg(long)]
    name: Option<String>,
    /// One root per process instead of per thread.
    #[arg(long)]
    merge_threads: bool,
    /// Rows of the summary's function table.
    #[arg(long, default_value_t = 30)]
    top: usize,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    read_ahead: TextReadAhead,
}

fn base_name(inputs: &[PathBuf], paths: &[PathBuf]) -> String {
    let first = inputs.first().or(paths.first());
    first
        .and_then(|p| {
            let p = if p.is_dir() { p.file_name() } else { p.file_stem() };
            p.map(|s| s.to_string_lossy().into_owned())
        })
        .filter(|s| !s.is_empty() && !s.contains(['*', '?', '[']))
        .unwrap_or_else(|| "pyliveupdate".into())
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    Ok(BufWriter::new(File::create(path).with_context(|| format!("{}: cannot create", path.display()))?))
}

fn run(cli: Cli) -> Result<u8> {
    let inputs = OpenInputs::open(&cli.input)?;
    let name = cli.name.clone().unwrap_or_else(|| base_name(&cli.input, &inputs.paths));
    let opts = Options { text_read_ahead: cli.read_ahead.text_read_ahead, ..Options::default() };
    let a = inputs.analyze("pylu-processlogs", cli.quiet, opts);
    let sel = Selection { merge_threads: cli.merge_threads, ..Selection::default() };
    let views = sel.views(&a);
    std::fs::create_dir_all(&cli.output)
        .with_context(|| format!("{}: cannot create directory", cli.output.display()))?;
    let folded_path = cli.output.join(format!("{name}.folded"));
    let summary_path = cli.output.join(format!("{name}.summary"));
    let svg_path = cli.output.join(format!("{name}.svg"));
    folded::write_folded(&a, &views, &mut create(&folded_path)?)?;
    let lines = folded::flame_lines(&a, &views, flamegraph::IMAGE_WIDTH, FlameOptions::default().min_width);
    summary::write_text(
        &a,
        &views,
        &SummaryOptions { top: Some(cli.top), ..Default::default() },
        &mut create(&summary_path)?,
    )?;
    let title = format!("{name} ({} calls)", a.calls);
    flamegraph::write_flamegraph(&lines, &FlameOptions { title, ..Default::default() }, &mut create(&svg_path)?)?;
    println!("generate summary: {} and flamegraph: {}", summary_path.display(), svg_path.display());
    Ok(if a.damaged() { EXIT_DAMAGED } else { EXIT_OK })
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => ExitCode::from(progress::exit_code_for("pylu-processlogs", e.as_ref())),
    }
}
