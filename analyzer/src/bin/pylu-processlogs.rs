//! `pylu-processlogs`: a drop-in for the original's command. Reads the inputs and writes `<name>.folded`,
//! `<name>.summary` and `<name>.svg` into the current directory (or `-o DIR`). Exit codes: 0 ok, 1 finished with
//! damaged input skipped, 2 error.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use pylu_analyzer::progress::{self, EXIT_DAMAGED, EXIT_OK};
use pylu_analyzer::report::flamegraph::FlameOptions;
use pylu_analyzer::report::summary::SummaryOptions;
use pylu_analyzer::{analyze, discover, flamegraph, folded, summary, Input, Options, Selection};

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
    /// Text logs: events of a thread read ahead to tell a request after a raised one from recursion
    /// (docs/ANALYZER.md).
    #[arg(long, value_name = "EVENTS", default_value_t = pylu_analyzer::pipeline::DEFAULT_TEXT_READ_AHEAD)]
    text_read_ahead: usize,
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
    let paths = discover(&cli.input)?;
    let inputs = paths.iter().map(|p| Input::open(p)).collect::<Result<Vec<_>, _>>()?;
    let pb = progress::bar(pylu_analyzer::pipeline::total_bytes(&inputs), cli.quiet);
    let opts =
        Options { progress: Some(progress::callback(&pb)), text_read_ahead: cli.text_read_ahead, ..Options::default() };
    let a = analyze(&inputs, &opts);
    Input::release_in_background(inputs);
    pb.finish_and_clear();
    for d in &a.damage {
        eprintln!("pylu-processlogs: skipped: {d}");
    }
    if a.damage_count > a.damage.len() as u64 {
        eprintln!("pylu-processlogs: skipped {} more damaged parts", a.damage_count - a.damage.len() as u64);
    }
    if a.warnings.cut_calls + a.warnings.unmatched > 0 {
        eprintln!("pylu-processlogs: {}", summary::warnings_line(&a));
    }
    if let Some(note) = summary::read_again_note(&a, cli.text_read_ahead) {
        eprintln!("pylu-processlogs: {note}");
    }
    let sel = Selection { merge_threads: cli.merge_threads, ..Selection::default() };
    let views = sel.views(&a);
    let name = cli.name.clone().unwrap_or_else(|| base_name(&cli.input, &paths));
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
