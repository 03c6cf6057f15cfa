//! What the two binaries (`pylu-analyze`, `pylu-processlogs`) share: one analysis run as a command makes it
//! ([`OpenInputs`]: find and map the inputs, analyze them under a progress bar, then say on stderr what was
//! skipped, what could not be matched and what was read again), and the options both take, worded once.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::AnalyzeError;
use crate::input::{discover, is_stdin, unreadable_reason, Input};
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
/// input would destroy it and crash the run (docs/ANALYZER.md, "Outputs"). Write errors name the file.
pub fn open_output(path: Option<&Path>, inputs: &[PathBuf]) -> Result<Box<dyn Write>, AnalyzeError> {
    match path {
        Some(p) if !is_stdin(p) => create_output(p, inputs).map(|f| Box::new(f) as Box<dyn Write>),
        _ => Ok(Box::new(BufWriter::new(Named { inner: io::stdout().lock(), what: "standard output".into() }))),
    }
}

/// Refuses, before anything is read, an output `path` that cannot be written: one of `inputs` (the same file,
/// under whatever name), a directory, a file or directory without write permission, a missing directory.
/// Binaries call it before reading, so that a whole analysis is not lost to a typo.
pub fn check_output(path: &Path, inputs: &[PathBuf]) -> Result<(), AnalyzeError> {
    check_not_input(path, inputs)?;
    let refuse = |what: &str| AnalyzeError::Io { path: path.to_owned(), error: io::Error::other(what.to_owned()) };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(refuse("is a directory (expected a file name)")),
        Ok(_) if !writable(path) => return Err(refuse("not writable")),
        Ok(_) => {}
        Err(_) => {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if !parent.is_dir() {
                return Err(refuse("no such directory to create it in"));
            }
            if !writable(parent) {
                return Err(refuse("cannot create it: its directory is not writable"));
            }
        }
    }
    Ok(())
}

/// Refuses an output `path` that is one of `inputs` (see [`open_output`]).
pub fn check_not_input(path: &Path, inputs: &[PathBuf]) -> Result<(), AnalyzeError> {
    // The file, not its name: a second hard link (or a bind mount) names the same bytes under another path.
    if let Some(out) = file_id(path) {
        if inputs.iter().any(|i| !is_stdin(i) && file_id(i) == Some(out)) {
            return Err(AnalyzeError::OutputIsInput { path: path.to_owned() });
        }
    }
    Ok(())
}

/// What identifies the file `path` leads to (after symlinks), if it exists.
#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(path: &Path) -> Option<PathBuf> {
    path.canonicalize().ok()
}

/// Whether this process may write `path` (create files in it, for a directory).
#[cfg(unix)]
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a NUL-terminated path that outlives the call; faccessat only reads it. AT_EACCESS: the effective
    // ids, which open(2) will use.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

#[cfg(not(unix))]
fn writable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.permissions().readonly())
}

/// Creates (or replaces) the file `path`, refusing one of `inputs` (see [`open_output`]).
pub fn create_output(path: &Path, inputs: &[PathBuf]) -> Result<BufWriter<Named<File>>, AnalyzeError> {
    check_not_input(path, inputs)?;
    let file = File::create(path).map_err(|error| AnalyzeError::Io { path: path.to_owned(), error })?;
    Ok(BufWriter::with_capacity(1 << 20, Named { inner: file, what: path.display().to_string() }))
}

/// A writer whose errors say where it writes (`out.txt: No space left on device`); their kind is kept, so
/// that a closed pipe still ends the run quietly.
pub struct Named<W> {
    inner: W,
    what: String,
}

impl<W: Write> Named<W> {
    fn name(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("{}: {e}", self.what))
    }
}

impl<W: Write> Write for Named<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.name(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.name(e))
    }
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

    /// Refuses a run none of whose inputs is a trace or a text log (exit 2 rather than an empty report): with
    /// one input its reason is the error; with several, each is a `skipped:` line on stderr first.
    pub fn check_readable(&self, program: &str) -> Result<(), AnalyzeError> {
        check_readable(program, &self.inputs)
    }

    /// When every input is folded stacks (a `.folded` file, or standard input that is neither a trace nor a text
    /// log), their lines, to be drawn again, and the lines that are not `frame;frame count` (path, line number,
    /// why: they are left out); otherwise `None`.
    pub fn folded_lines(&self) -> Result<Option<FoldedInput>, AnalyzeError> {
        let is_folded = |i: &Input| {
            i.path.extension().is_some_and(|e| e == "folded") || (is_stdin(&i.path) && i.format().is_none())
        };
        if self.inputs.is_empty() || !self.inputs.iter().all(is_folded) {
            return Ok(None);
        }
        let mut folded = FoldedInput::default();
        for i in &self.inputs {
            let text = std::str::from_utf8(i.bytes()).map_err(|e| AnalyzeError::Io {
                path: i.path.clone(),
                error: io::Error::new(io::ErrorKind::InvalidData, e),
            })?;
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match folded_line_fault(line) {
                    None => folded.lines.push(line.to_owned()),
                    Some(why) => folded.bad.push((i.path.clone(), n as u64 + 1, why)),
                }
            }
        }
        Ok(Some(folded))
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

/// Folded stacks read to be drawn again ([`OpenInputs::folded_lines`]).
#[derive(Debug, Default)]
pub struct FoldedInput {
    pub lines: Vec<String>,
    /// Lines that are not folded stacks: (path, 1-based line number, why).
    pub bad: Vec<(PathBuf, u64, &'static str)>,
}

/// Why `line` is not a folded stack `frame;frame count` (a count of digits, with one `.` at most, as flamegraph
/// tools read it), or `None` when it is one.
fn folded_line_fault(line: &str) -> Option<&'static str> {
    let Some((stack, count)) = line.trim_end().rsplit_once(' ') else { return Some("no count after the stack") };
    let mut parts = count.splitn(2, '.');
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !parts.next().is_some_and(digits) || !parts.next().is_none_or(digits) {
        return Some("the count is not a number of samples");
    }
    if stack.trim().is_empty() || stack.split(';').any(|frame| frame.is_empty()) {
        return Some("an empty frame");
    }
    None
}

/// `a, b, c`: the paths a message names.
pub fn join_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// [`OpenInputs::check_readable`], for callers holding the inputs themselves.
pub fn check_readable(program: &str, inputs: &[Input]) -> Result<(), AnalyzeError> {
    if inputs.is_empty() || inputs.iter().any(|i| i.format().is_some()) {
        return Ok(());
    }
    if let [only] = inputs {
        return Err(AnalyzeError::NotATrace { path: only.path.clone(), what: unreadable_reason(only.bytes()) });
    }
    for i in inputs {
        crate::say!("{program}: skipped: {}: {}", i.path.display(), unreadable_reason(i.bytes()));
    }
    Err(AnalyzeError::NothingReadable)
}

/// What stderr says after an analysis: the damage skipped, the notes, the warnings line, the read-again note.
fn report(program: &str, a: &Analysis, requested_read_ahead: usize) {
    for d in &a.damage {
        crate::say!("{program}: skipped: {d}");
    }
    if a.damage_count > a.damage.len() as u64 {
        crate::say!("{program}: skipped {} more damaged parts", a.damage_count - a.damage.len() as u64);
    }
    for n in &a.notes {
        crate::say!("{program}: note: {n}");
    }
    if a.warnings.cut_calls + a.warnings.unmatched > 0 {
        crate::say!("{program}: {}", summary::warnings_line(a));
    }
    if let Some(note) = summary::read_again_note(a, requested_read_ahead) {
        crate::say!("{program}: {note}");
    }
}
