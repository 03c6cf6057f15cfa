//! What the two binaries (`pylu-analyze`, `pylu-processlogs`) share: one analysis run as a command makes it
//! ([`OpenInputs`]: find and map the inputs, analyze them under a progress bar, then say on stderr what was
//! skipped, what could not be matched and what was read again), and the options both take, worded once.

use std::path::PathBuf;

use crate::error::AnalyzeError;
use crate::input::{discover, Input};
use crate::pipeline::{analyze, total_bytes, Options, DEFAULT_TEXT_READ_AHEAD};
use crate::profile::Analysis;
use crate::progress;
use crate::report::summary;

/// `--text-read-ahead`, as both binaries take it.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct TextReadAhead {
    /// Text logs: events of a thread read ahead to see which calls end; a request handler entered again while
    /// calls are open cuts only those that never end within this many events. When a cut call ends after all
    /// (a recursive handler), everything is read again 64 times further ahead, up to 1,048,576 events; 0 takes
    /// every open call for dead (docs/ANALYZER.md).
    #[arg(long, value_name = "EVENTS", default_value_t = DEFAULT_TEXT_READ_AHEAD)]
    pub text_read_ahead: usize,
}

/// The inputs of a run, found and mapped.
pub struct OpenInputs {
    /// The files found (see [`discover`]), in order.
    pub paths: Vec<PathBuf>,
    inputs: Vec<Input>,
}

impl OpenInputs {
    /// Finds the files that `args` name (files, directories, globs; the defaults when empty) and maps them.
    pub fn open(args: &[PathBuf]) -> Result<OpenInputs, AnalyzeError> {
        let paths = discover(args)?;
        let inputs = paths.iter().map(|p| Input::open(p)).collect::<Result<Vec<_>, _>>()?;
        Ok(OpenInputs { paths, inputs })
    }

    /// Analyzes the inputs with a progress bar on stderr (none if `quiet`; `opts.progress` is replaced), then
    /// reports on stderr, each line after `program: `, the damage skipped, the calls that could not be matched,
    /// and whether text logs were read again further ahead than `opts.text_read_ahead`.
    pub fn analyze(self, program: &str, quiet: bool, opts: Options) -> Analysis {
        let requested_read_ahead = opts.text_read_ahead;
        let pb = progress::bar(total_bytes(&self.inputs), quiet);
        let a = analyze(&self.inputs, &Options { progress: Some(progress::callback(&pb)), ..opts });
        Input::release_in_background(self.inputs);
        pb.finish_and_clear();
        report(program, &a, requested_read_ahead);
        a
    }
}

/// What stderr says after an analysis: the damage skipped, the warnings line, the read-again note.
fn report(program: &str, a: &Analysis, requested_read_ahead: usize) {
    for d in &a.damage {
        eprintln!("{program}: skipped: {d}");
    }
    if a.damage_count > a.damage.len() as u64 {
        eprintln!("{program}: skipped {} more damaged parts", a.damage_count - a.damage.len() as u64);
    }
    if a.warnings.cut_calls + a.warnings.unmatched > 0 {
        eprintln!("{program}: {}", summary::warnings_line(a));
    }
    if let Some(note) = summary::read_again_note(a, requested_read_ahead) {
        eprintln!("{program}: {note}");
    }
}
