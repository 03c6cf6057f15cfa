//! The files of one log as `logging.handlers.RotatingFileHandler` leaves them: the original's log server
//! used `backupCount=50` and rolled over at start, so older records sit in `path.1` … `path.50`, the
//! highest number the oldest.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The backup count the original's log server configured.
pub const MAX_ROTATED_BACKUPS: u32 = 50;

/// The files of one log: existing `path.50` … `path.1` (oldest first, as RotatingFileHandler names them) then
/// `path` itself (always listed, so a missing log surfaces as an error when it is opened).
pub fn rotated_siblings(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=MAX_ROTATED_BACKUPS)
        .rev()
        .map(|n| {
            let mut name = OsString::from(path.as_os_str());
            name.push(format!(".{n}"));
            PathBuf::from(name)
        })
        .filter(|backup| backup.is_file())
        .collect();
    files.push(path.to_path_buf());
    files
}
