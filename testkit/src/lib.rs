//! Golden files for pylu's tests, one implementation for every crate.
//!
//! A golden file holds an output that a person checked once. Tests compare what the code produces now with it:
//! [`check_golden`] panics on a difference, [`compare_golden`] returns it (for tests that collect every failure
//! before failing). `PYLU_BLESS=1` rewrites the files instead of comparing (review the diff before
//! committing); a missing file fails, so a new golden file is never accepted without someone blessing it.

use std::path::Path;

/// Whether golden files are being rewritten (`PYLU_BLESS=1`) rather than compared.
pub fn blessing() -> bool {
    std::env::var_os("PYLU_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the file at `path`, or rewrites the file under `PYLU_BLESS=1` (creating its
/// directory). Returns the failure as one message: the file is missing or unreadable, or the first differing
/// line with both versions.
pub fn compare_golden(path: &Path, actual: &[u8]) -> Result<(), String> {
    if blessing() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        return std::fs::write(path, actual).map_err(|e| format!("{}: {e}", path.display()));
    }
    let expected = std::fs::read(path).map_err(|e| {
        format!(
            "{}: {e} (golden files are never created automatically: run with PYLU_BLESS=1 and review the file)",
            path.display()
        )
    })?;
    if expected == actual {
        return Ok(());
    }
    let e = String::from_utf8_lossy(&expected);
    let a = String::from_utf8_lossy(actual);
    let first = e.lines().zip(a.lines()).position(|(x, y)| x != y).unwrap_or(e.lines().count().min(a.lines().count()));
    Err(format!(
        "{} differs from the output (first at line {}):\n expected: {:?}\n   actual: {:?}\n(PYLU_BLESS=1 rewrites it; review the diff)",
        path.display(),
        first + 1,
        e.lines().nth(first),
        a.lines().nth(first)
    ))
}

/// [`compare_golden`], panicking with its message on a failure.
#[track_caller]
pub fn check_golden(path: &Path, actual: &[u8]) {
    if let Err(message) = compare_golden(path, actual) {
        panic!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_passes_and_a_difference_names_the_first_line() {
        let dir = std::env::temp_dir().join(format!("pylu-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.txt");
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        if blessing() {
            return; // the comparison is what this test checks
        }
        assert!(compare_golden(&path, b"a\nb\nc\n").is_ok());
        let err = compare_golden(&path, b"a\nx\nc\n").unwrap_err();
        assert!(err.contains("first at line 2"), "{err}");
        let missing = compare_golden(&dir.join("missing.txt"), b"a").unwrap_err();
        assert!(missing.contains("never created automatically"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
