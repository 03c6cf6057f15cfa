//! Large inputs: the binaries run themselves again with glibc's malloc asked for transparent huge pages.
//!
//! An analysis allocates as it reads (a text log's events per thread and unit, trees, histograms, the
//! outputs' buffers), and each fresh 4 KiB page of heap is a page fault: ~4,600 of them on a 50 MB text log, at
//! ~1.6 µs each on a virtual machine. glibc backs its heaps with 2 MiB pages when `glibc.malloc.hugetlb=1`
//! and the kernel's transparent huge pages are `madvise` or `always`, but only if a heap grows by at least a
//! huge page at a time, which `glibc.malloc.top_pad` asks for: 16 MiB at a time, 900 faults, 12–15 % less wall
//! and CPU time on that log, 7–15 % on a 200 MB text log and a 64 MB binary trace (docs/performance-log.md,
//! "ninth pass"); the peak grows by a few MiB. Neither alone pays.
//!
//! glibc reads its tunables only when a process starts, from `GLIBC_TUNABLES`, so [`reexec_if_worthwhile`]
//! executes the same program (`/proc/self/exe`, same arguments, same file descriptors) once more with them
//! set — worth the ~1 ms of a second start only for inputs of [`MIN_INPUT_BYTES`] or more. `PYLU_MALLOC_TUNING`
//! overrides: `0` or `off` never, `1` or `always` whatever the inputs' size; a `GLIBC_TUNABLES` that already
//! sets either tunable is the user's choice and left alone (which also ends the recursion: the second process
//! finds ours).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// Inputs at least this large (in all) are worth a second start: below it the faults saved are about what an
/// `exec` costs (a 10 MB log: 1 ms saved of 15).
pub const MIN_INPUT_BYTES: u64 = 32 << 20;

/// What is added to `GLIBC_TUNABLES`.
pub const TUNABLES: &str = "glibc.malloc.hugetlb=1:glibc.malloc.top_pad=16777216";

/// The environment variable that overrides the size rule (`0`/`off`, `1`/`always`).
pub const ENV: &str = "PYLU_MALLOC_TUNING";

/// Where the kernel says whether transparent huge pages may be used.
const THP_ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// Whether this process runs with glibc's malloc tuned as [`TUNABLES`] says (by [`reexec_if_worthwhile`], or
/// because the user set the same), for `--timings`.
pub fn tuned() -> bool {
    std::env::var_os("GLIBC_TUNABLES").is_some_and(|v| v.to_string_lossy().contains(TUNABLES))
}

/// The `GLIBC_TUNABLES` to run again with, or `None` to run as we are. `setting` is `PYLU_MALLOC_TUNING`,
/// `current` the present `GLIBC_TUNABLES`; `input_bytes` (the inputs' size in all) and `thp` (the kernel's
/// `transparent_hugepage/enabled`, `None`: unreadable) are asked for only when the answer still depends on
/// them, in that order.
pub fn tunables_for(
    setting: Option<&OsStr>,
    current: Option<&OsStr>,
    input_bytes: impl FnOnce() -> u64,
    thp: impl FnOnce() -> Option<String>,
) -> Option<OsString> {
    let forced = match setting.map(|s| s.to_string_lossy().trim().to_ascii_lowercase()) {
        Some(s) if s == "0" || s == "off" => return None,
        Some(s) if s == "1" || s == "always" => true,
        _ => false,
    };
    let value = match current {
        None => TUNABLES.into(),
        Some(c) if c.is_empty() => TUNABLES.into(),
        Some(c) => {
            let text = c.to_string_lossy();
            if text.contains("glibc.malloc.hugetlb") || text.contains("glibc.malloc.top_pad") {
                return None;
            }
            // Appended to the bytes as they are (a non-UTF-8 value stays what it was).
            let mut v = c.to_os_string();
            v.push(":");
            v.push(TUNABLES);
            v
        }
    };
    if !forced && input_bytes() < MIN_INPUT_BYTES {
        return None;
    }
    // `[never]` (or no such file: another kernel) gives glibc's advice nothing to act on.
    let thp = thp()?;
    (thp.contains("[madvise]") || thp.contains("[always]")).then_some(value)
}

/// The size in all of the files `inputs` name (as [`crate::discover`] finds them; standard input counts 0).
/// An error counts 0: the run itself then reports it.
pub fn input_bytes(inputs: &[PathBuf]) -> u64 {
    let Ok(files) = crate::discover(inputs) else { return 0 };
    files.iter().filter(|p| !crate::input::is_stdin(p)).filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

/// Executes this program again, with the same arguments, when [`tunables_for`] says so; returns when it does
/// not, or when the `exec` fails (the run then goes on untuned). Call it before any thread is started.
pub fn reexec_if_worthwhile(inputs: &[PathBuf]) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        let (setting, current) = (std::env::var_os(ENV), std::env::var_os("GLIBC_TUNABLES"));
        let Some(value) = tunables_for(
            setting.as_deref(),
            current.as_deref(),
            || input_bytes(inputs),
            || std::fs::read_to_string(THP_ENABLED).ok(),
        ) else {
            return;
        };
        let mut args = std::env::args_os();
        let argv0 = args.next().unwrap_or_else(|| "pylu".into());
        // `exec` returns only on failure (no /proc, a seccomp filter): the run goes on as it is.
        let _failed =
            std::process::Command::new("/proc/self/exe").arg0(argv0).args(args).env("GLIBC_TUNABLES", value).exec();
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = inputs;
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: u64 = MIN_INPUT_BYTES;
    const MADVISE: Option<&str> = Some("always [madvise] never\n");

    /// [`tunables_for`] with the lazily asked values given outright.
    fn decide(setting: Option<&OsStr>, current: Option<&OsStr>, thp: Option<&str>, bytes: u64) -> Option<OsString> {
        tunables_for(setting, current, || bytes, || thp.map(str::to_owned))
    }

    fn os(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn large_inputs_get_the_tunables_and_small_ones_do_not() {
        assert_eq!(decide(None, None, MADVISE, BIG), Some(TUNABLES.into()));
        assert_eq!(decide(None, None, MADVISE, BIG - 1), None);
        assert_eq!(decide(None, None, Some("[always] madvise never"), BIG), Some(TUNABLES.into()));
    }

    #[test]
    fn the_setting_overrides_the_size_rule() {
        assert_eq!(decide(os("always"), None, MADVISE, 0), Some(TUNABLES.into()));
        assert_eq!(decide(os(" 1 "), None, MADVISE, 0), Some(TUNABLES.into()));
        assert_eq!(decide(os("OFF"), None, MADVISE, u64::MAX), None);
        assert_eq!(decide(os("0"), None, MADVISE, u64::MAX), None);
        // Anything else is the default rule.
        assert_eq!(decide(os("auto"), None, MADVISE, BIG), Some(TUNABLES.into()));
        assert_eq!(decide(os("auto"), None, MADVISE, 10), None);
    }

    #[test]
    fn no_huge_pages_no_second_start() {
        assert_eq!(decide(os("always"), None, Some("always madvise [never]"), BIG), None);
        assert_eq!(decide(os("always"), None, None, BIG), None);
    }

    #[test]
    fn a_users_tunables_are_kept_and_their_malloc_choice_respected() {
        assert_eq!(
            decide(None, os("glibc.pthread.rseq=0"), MADVISE, BIG),
            Some(format!("glibc.pthread.rseq=0:{TUNABLES}").into())
        );
        assert_eq!(decide(None, os(""), MADVISE, BIG), Some(TUNABLES.into()));
        assert_eq!(decide(None, os("glibc.malloc.hugetlb=0"), MADVISE, BIG), None);
        assert_eq!(decide(os("always"), os("glibc.malloc.top_pad=0"), MADVISE, BIG), None);
        // The second process finds ours and runs.
        assert_eq!(decide(os("always"), os(TUNABLES), MADVISE, BIG), None);
    }

    #[test]
    fn the_inputs_and_the_kernel_are_asked_only_when_the_answer_depends_on_them() {
        let unasked = || -> u64 { panic!("input size asked for") };
        let no_thp = || -> Option<String> { panic!("THP mode asked for") };
        assert_eq!(tunables_for(os("off"), None, unasked, no_thp), None);
        assert_eq!(tunables_for(None, os("glibc.malloc.hugetlb=0"), unasked, no_thp), None);
        assert_eq!(tunables_for(None, None, || 10, no_thp), None);
        assert_eq!(tunables_for(os("always"), None, unasked, || Some("[madvise]".into())), Some(TUNABLES.into()));
    }

    #[test]
    fn input_bytes_sums_the_files_found_and_counts_errors_as_nothing() {
        let dir = std::env::temp_dir().join(format!("pylu-malloc-tuning-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.pylu"), [0u8; 100]).unwrap();
        std::fs::write(dir.join("b.pylu"), [0u8; 23]).unwrap();
        assert_eq!(input_bytes(std::slice::from_ref(&dir)), 123);
        assert_eq!(input_bytes(&[dir.join("a.pylu"), PathBuf::from("-")]), 100);
        assert_eq!(input_bytes(&[dir.join("no such file")]), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
