//! What the two binaries (`pylu-analyze`, `pylu-processlogs`) share: one analysis run as a command makes it
//! ([`OpenInputs`]: find and map the inputs, analyze them under a progress bar, then say on stderr what was
//! skipped, what could not be matched and what was read again), and the options both take, worded once.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::AnalyzeError;
use crate::input::{discover, is_stdin, Input};
use crate::pipeline::{analyze, total_bytes, Options, DEFAULT_TEXT_READ_AHEAD};
use crate::profile::Analysis;
use crate::progress;
use crate::report::summary;

/// `--text-read-ahead`, as both binaries take it.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct TextReadAhead {
    /// Text logs: events of a thread read ahead to decide which open calls a re-entered handler cuts.
    ///
    /// A request handler entered again while calls are open cuts only those that never end within this many
    /// events. When a cut call ends after all (a recursive handler), everything is read again 64 times further
    /// ahead, up to 1,048,576 events; 0 takes every open call for dead (docs/ANALYZER.md).
    #[arg(long, value_name = "EVENTS", default_value_t = DEFAULT_TEXT_READ_AHEAD)]
    pub text_read_ahead: usize,
}

/// Where a report goes: `None` or `-` is standard output. A file is created, or replaced as the shell's `>`
/// would (the user named it), except when it is one of `inputs`: that is refused, as truncating a mapped
/// input would destroy it and crash the run (docs/ANALYZER.md, "Outputs").
pub fn open_output(path: Option<&Path>, inputs: &[PathBuf]) -> Result<Box<dyn Write>, AnalyzeError> {
    match path {
        None => Ok(Box::new(BufWriter::new(io::stdout().lock()))),
        Some(p) if is_stdin(p) => Ok(Box::new(BufWriter::new(io::stdout().lock()))),
        Some(p) => create_output(p, inputs).map(|f| Box::new(f) as Box<dyn Write>),
    }
}

/// Refuses an output `path` that is one of `inputs` (see [`open_output`]); binaries call it before reading, so
/// that the refusal comes first.
pub fn check_output(path: &Path, inputs: &[PathBuf]) -> Result<(), AnalyzeError> {
    if let Ok(out) = path.canonicalize() {
        if inputs.iter().any(|i| i.canonicalize().is_ok_and(|i| i == out)) {
            return Err(AnalyzeError::OutputIsInput { path: path.to_owned() });
        }
    }
    Ok(())
}

/// Creates (or replaces) the file `path`, refusing one of `inputs` (see [`open_output`]).
pub fn create_output(path: &Path, inputs: &[PathBuf]) -> Result<BufWriter<File>, AnalyzeError> {
    check_output(path, inputs)?;
    let file = File::create(path).map_err(|error| AnalyzeError::Io { path: path.to_owned(), error })?;
    Ok(BufWriter::with_capacity(1 << 20, file))
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
        let inputs = Input::open_all(&paths)?;
        Ok(OpenInputs { paths, inputs })
    }

    /// When every input is folded stacks (a `.folded` file, or standard input that is neither a trace nor a text
    /// log), their lines, to be drawn again; otherwise `None`.
    pub fn folded_lines(&self) -> Result<Option<Vec<String>>, AnalyzeError> {
        let is_folded = |i: &Input| {
            i.path.extension().is_some_and(|e| e == "folded") || (is_stdin(&i.path) && i.format().is_none())
        };
        if self.inputs.is_empty() || !self.inputs.iter().all(is_folded) {
            return Ok(None);
        }
        let mut lines = Vec::new();
        for i in &self.inputs {
            let text = std::str::from_utf8(i.bytes()).map_err(|e| AnalyzeError::Io {
                path: i.path.clone(),
                error: io::Error::new(io::ErrorKind::InvalidData, e),
            })?;
            lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
        }
        Ok(Some(lines))
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

/// What stderr says after an analysis: the damage skipped, the notes, the warnings line, the read-again note.
fn report(program: &str, a: &Analysis, requested_read_ahead: usize) {
    for d in &a.damage {
        eprintln!("{program}: skipped: {d}");
    }
    if a.damage_count > a.damage.len() as u64 {
        eprintln!("{program}: skipped {} more damaged parts", a.damage_count - a.damage.len() as u64);
    }
    for n in &a.notes {
        eprintln!("{program}: note: {n}");
    }
    if a.warnings.cut_calls + a.warnings.unmatched > 0 {
        eprintln!("{program}: {}", summary::warnings_line(a));
    }
    if let Some(note) = summary::read_again_note(a, requested_read_ahead) {
        eprintln!("{program}: {note}");
    }
}
