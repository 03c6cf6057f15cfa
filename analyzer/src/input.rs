//! Finding the inputs (files, directories, globs, rotated logs, the defaults) and mapping them into memory.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use pylu_formats::{detect, legacy, Format};

use crate::error::AnalyzeError;

/// The shared root under which the stub writes binary traces by default, one directory per user:
/// `/tmp/pyliveupdate/<uid>/` (docs/SECURITY.md).
pub const DEFAULT_TRACE_DIR: &str = "/tmp/pyliveupdate";
/// Where the original pyliveupdate wrote its text log.
pub const DEFAULT_LEGACY_LOG: &str = "/tmp/pyliveupdate.log";

/// One input file, mapped (or read, when it cannot be mapped: a pipe, `/proc`).
#[derive(Debug)]
pub struct Input {
    pub path: PathBuf,
    data: Data,
}

#[derive(Debug)]
enum Data {
    // The guard first: fields drop in order, and the handler must forget the mapping before it is unmapped.
    #[cfg(unix)]
    Mapped(#[allow(dead_code)] crate::sigbus::Guard, Mmap),
    #[cfg(not(unix))]
    Mapped(Mmap),
    Read(Vec<u8>),
}

/// Mapped inputs smaller than this in all are unmapped on the caller's thread ([`Input::release_in_background`]).
pub const BACKGROUND_RELEASE_BYTES: usize = 4 << 20;

impl Input {
    /// Maps `path` read-only; `-` reads standard input into memory (a pipe cannot be mapped, and the parallel
    /// reader needs the whole input: a text log's threads are stitched across chunks).
    pub fn open(path: &Path) -> Result<Input, AnalyzeError> {
        let io = |error| AnalyzeError::Io { path: path.to_owned(), error };
        if is_stdin(path) {
            // Folded stacks (for `flamegraph`) are text: what is neither that nor a trace or log stops early.
            let buf = read_stream(std::io::stdin().lock(), is_text_prefix).map_err(io)?;
            return Ok(Input { path: path.to_owned(), data: Data::Read(buf) });
        }
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_file() && meta.len() > 0 {
            // SAFETY: the map is read-only and private to us; what can go wrong is another process truncating
            // the file while we read it (logrotate's copytruncate does), which makes later reads of the lost
            // pages fault (SIGBUS). Copying gigabytes instead would cost the memory bound we promise; on unix
            // the fault is turned into a one-line error naming the file and exit 2 (`crate::sigbus`).
            let map = unsafe { Mmap::map(&file) }.map_err(io)?;
            #[cfg(unix)]
            {
                // One sequential pass over most of the file: ask for aggressive read-ahead.
                let _ = map.advise(memmap2::Advice::Sequential);
                let guard = crate::sigbus::watch(map.as_ptr(), map.len(), path);
                Ok(Input { path: path.to_owned(), data: Data::Mapped(guard, map) })
            }
            #[cfg(not(unix))]
            Ok(Input { path: path.to_owned(), data: Data::Mapped(map) })
        } else {
            let folded = path.extension().is_some_and(|e| e == "folded");
            Ok(Input { path: path.to_owned(), data: Data::Read(read_stream(&file, |_| folded).map_err(io)?) })
        }
    }

    /// Maps every file of `paths` (as [`discover`] found them), in order; the first that cannot be opened is
    /// the error.
    pub fn open_all(paths: &[PathBuf]) -> Result<Vec<Input>, AnalyzeError> {
        paths.iter().map(|p| Input::open(p)).collect()
    }

    /// Unmaps `inputs` on another thread: tearing down the mapping of a gigabyte takes tens of milliseconds,
    /// which the reports written meanwhile hide. (If the process exits first, the kernel finishes the job.)
    /// Mappings of less than [`BACKGROUND_RELEASE_BYTES`] in all are released here: starting a thread costs
    /// more than unmapping them, and a library caller is left with no thread still running.
    pub fn release_in_background(inputs: Vec<Input>) {
        let mapped: usize = inputs.iter().filter(|i| !matches!(i.data, Data::Read(_))).map(|i| i.bytes().len()).sum();
        if mapped >= BACKGROUND_RELEASE_BYTES {
            // If no thread can be started, the closure and the inputs in it are dropped here instead.
            let _ = std::thread::Builder::new().name("pylu-unmap".into()).spawn(move || drop(inputs));
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            #[cfg(unix)]
            Data::Mapped(_, m) => m,
            #[cfg(not(unix))]
            Data::Mapped(m) => m,
            Data::Read(v) => v,
        }
    }

    pub fn format(&self) -> Option<Format> {
        detect(self.bytes())
    }
}

/// Why `data`, which is neither a trace nor a text log, cannot be read: the one line the user sees. A
/// compressed file is named as such, with what to do.
pub fn unreadable_reason(data: &[u8]) -> &'static str {
    match data {
        [] => "empty file",
        [0x1f, 0x8b, ..] => "gzip-compressed: decompress it first (`zcat FILE | … -`)",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd-compressed: decompress it first (`zstdcat FILE | … -`)",
        [b'B', b'Z', b'h', ..] => "bzip2-compressed: decompress it first (`bzcat FILE | … -`)",
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => "xz-compressed: decompress it first (`xzcat FILE | … -`)",
        _ => "not a pylu trace or pyliveupdate log",
    }
}

/// Reads what cannot be mapped (standard input, a FIFO, `<(…)`, a character device, `/proc`) in one pass: it
/// cannot be opened again. Its first bytes decide whether the rest is worth reading: what is neither a trace nor
/// a log (nor what `folded` accepts: `.folded` stacks, which `flamegraph` draws) is kept to those bytes, for the
/// report to name, instead of read to the end: `/dev/zero` never ends. A trace or log is read to its end,
/// however long (docs/ANALYZER.md).
fn read_stream(mut reader: impl std::io::Read, folded: impl Fn(&[u8]) -> bool) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    const SNIFF: usize = 4096;
    let mut buf = Vec::new();
    (&mut reader).take(SNIFF as u64).read_to_end(&mut buf)?;
    if buf.len() == SNIFF && (detect(&buf).is_some() || folded(&buf)) {
        reader.read_to_end(&mut buf)?;
    }
    Ok(buf)
}

/// Whether `head`, the start of a stream, is text: UTF-8 (but for a character cut at its end), without NULs.
fn is_text_prefix(head: &[u8]) -> bool {
    !head.contains(&0) && std::str::from_utf8(head).map_or_else(|e| e.error_len().is_none(), |_| true)
}

/// The calling user's directory under [`DEFAULT_TRACE_DIR`], where the stub writes its traces.
fn default_user_dir() -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to the process's effective uid: the uid without a libc call.
        if let Ok(m) = std::fs::metadata("/proc/self") {
            return Path::new(DEFAULT_TRACE_DIR).join(m.uid().to_string());
        }
    }
    PathBuf::from(DEFAULT_TRACE_DIR)
}

/// Whether `path` is `-`, standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The files to read for `inputs` (any mix of files, directories and globs), in a stable order: each argument
/// in turn, directories and globs sorted by name but for a log's rotated backups, which come just before it
/// (oldest first), and a named text log preceded by its rotated backups (oldest first). `-` is standard input.
/// No inputs means the defaults ([`DEFAULT_TRACE_DIR`] and [`DEFAULT_LEGACY_LOG`], whichever exist).
pub fn discover(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, AnalyzeError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |p: PathBuf, out: &mut Vec<PathBuf>| {
        let key = p.canonicalize().unwrap_or_else(|_| p.clone());
        if seen.insert(key) {
            out.push(p);
        }
    };
    if inputs.is_empty() {
        let dir = &default_user_dir();
        let log = Path::new(DEFAULT_LEGACY_LOG);
        if !dir.is_dir() && !log.exists() {
            return Err(AnalyzeError::NoDefaultInput);
        }
        if dir.is_dir() {
            for p in dir_files(dir)? {
                add(p, &mut out);
            }
        }
        if log.exists() {
            for p in legacy::rotated_siblings(log) {
                add(p, &mut out);
            }
        }
        return Ok(out);
    }
    for input in inputs {
        if is_stdin(input) {
            // Read once, by Input::open; a second `-` would find standard input empty.
            if !out.iter().any(|p: &PathBuf| is_stdin(p)) {
                out.push(input.clone());
            }
            continue;
        }
        let text = input.to_string_lossy();
        let paths: Vec<PathBuf> = if !input.exists() && is_glob(&text) {
            let pattern =
                glob::glob(&text).map_err(|e| AnalyzeError::BadGlob { pattern: text.to_string(), what: e.msg })?;
            let mut v: Vec<PathBuf> = pattern.filter_map(Result::ok).collect();
            if v.is_empty() {
                return Err(AnalyzeError::NoMatch { pattern: text.to_string() });
            }
            v.sort_by(|a, b| rotation_key(a).cmp(&rotation_key(b)));
            v
        } else {
            vec![input.clone()]
        };
        for p in paths {
            if p.is_dir() {
                for f in dir_files(&p)? {
                    add(f, &mut out);
                }
            } else if let Err(error) = std::fs::metadata(&p) {
                // The system's reason (a symlink loop, a permission), but the short words for the usual one.
                let error = match error.kind() {
                    std::io::ErrorKind::NotFound => {
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory")
                    }
                    _ => error,
                };
                return Err(AnalyzeError::Io { path: p.clone(), error });
            } else if p.is_file() && is_legacy_file(&p) {
                for s in legacy::rotated_siblings(&p) {
                    add(s, &mut out);
                }
            } else {
                add(p, &mut out);
            }
        }
    }
    Ok(out)
}

/// The regular, non-hidden files directly in `dir`, by name, but the stub's TCP token (see [`is_stub_token`]).
fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, AnalyzeError> {
    let io = |error| AnalyzeError::Io { path: dir.to_owned(), error };
    let mut v = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let hidden = name.as_encoded_bytes().starts_with(b".");
        if !hidden && !is_stub_token(name.as_encoded_bytes()) && entry.file_type().map_err(io)?.is_file() {
            v.push(entry.path());
        }
    }
    v.sort_by(|a, b| rotation_key(a).cmp(&rotation_key(b)));
    Ok(v)
}

/// Whether a file named `name` is the token the stub writes beside its traces once it listens on TCP
/// (`token-<uid>`, docs/SECURITY.md): the stub's own, never an input, so a directory's listing leaves it out
/// rather than naming it as unreadable (which made the default input exit 1).
fn is_stub_token(name: &[u8]) -> bool {
    name.strip_prefix(b"token-").is_some_and(|uid| !uid.is_empty() && uid.iter().all(u8::is_ascii_digit))
}

/// Orders a directory by name, except that a log's rotated backups `X.N` come just before `X`, oldest (highest
/// N) first, as [`legacy::rotated_siblings`] lists them when the log is named: read newest first, the calls
/// that span a rotation would not match up.
fn rotation_key(path: &Path) -> (&Path, &[u8], bool, std::cmp::Reverse<u64>) {
    let dir = path.parent().unwrap_or(Path::new(""));
    let name = path.file_name().unwrap_or_default().as_encoded_bytes();
    if let Some(dot) = name.iter().rposition(|&b| b == b'.') {
        let digits = &name[dot + 1..];
        if dot > 0 && (1..=9).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
            let n = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            return (dir, &name[..dot], false, std::cmp::Reverse(n));
        }
    }
    (dir, name, true, std::cmp::Reverse(0))
}

/// Whether `path` starts like the original's text log (reads 32 bytes, not the file). Only for regular files:
/// a pipe's bytes would be gone when it is opened again to be read.
fn is_legacy_file(path: &Path) -> bool {
    let mut head = [0u8; 32];
    let Ok(mut f) = File::open(path) else { return false };
    let n = std::io::Read::read(&mut f, &mut head).unwrap_or(0);
    legacy::looks_like_legacy(&head[..n])
}
