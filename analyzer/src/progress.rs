//! The progress bar on stderr, and the exit codes the binaries share.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Everything was read.
pub const EXIT_OK: u8 = 0;
/// Finished, but some input was damaged and skipped (reported on stderr).
pub const EXIT_DAMAGED: u8 = 1;
/// Nothing useful was produced: bad arguments, no input, an unreadable file, output that cannot be written.
pub const EXIT_ERROR: u8 = 2;

/// The exit code for an error that ended a run: 0, silently, when the reader of our output went away
/// (`pylu-analyze dump big.pylu | head`); otherwise the error and its causes as one line on stderr, and 2.
pub fn exit_code_for(program: &str, error: &(dyn std::error::Error + 'static)) -> u8 {
    let causes = || std::iter::successors(Some(error), |e| e.source());
    let broken_pipe = |e: &(dyn std::error::Error + 'static)| {
        // The typed errors that hold an I/O error without making it their source (it is in their message).
        let io = e
            .downcast_ref::<std::io::Error>()
            .or_else(|| match e.downcast_ref::<crate::AnalyzeError>() {
                Some(crate::AnalyzeError::Io { error, .. }) => Some(error),
                _ => None,
            })
            .or_else(|| match e.downcast_ref::<crate::export::ExportError>() {
                Some(crate::export::ExportError::Write(error) | crate::export::ExportError::Io { error, .. }) => {
                    Some(error)
                }
                Some(crate::export::ExportError::Analyze(crate::AnalyzeError::Io { error, .. })) => Some(error),
                _ => None,
            })
            .or_else(|| match e.downcast_ref::<crate::diff::command::DiffCommandError>() {
                Some(crate::diff::command::DiffCommandError::Io(error)) => Some(error),
                _ => None,
            });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    };
    if causes().any(broken_pipe) {
        return EXIT_OK;
    }
    let line: Vec<String> = causes().map(|e| e.to_string()).collect();
    crate::say!("{program}: error: {}", line.join(": "));
    EXIT_ERROR
}

/// A bar over `total` bytes, or a hidden one when stderr is not a terminal, `quiet` is set, or the input is
/// small enough to be done before a bar would help.
pub fn bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() || total < (64 << 20) {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("valid template"),
    );
    pb
}

/// The callback [`crate::Options::progress`] takes, advancing `pb`.
pub fn callback(pb: &ProgressBar) -> Arc<dyn Fn(u64) + Send + Sync> {
    let pb = pb.clone();
    Arc::new(move |n| pb.inc(n))
}
