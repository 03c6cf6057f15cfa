//! `diff TRACE --split-at-update ID`: when update ID was applied (or, if the trace only saw it reverted,
//! reverted), found in the binary traces' update records, so that the calls before and after it are compared.

use std::path::PathBuf;

use pylu_formats::{EventKind, Trace};

use crate::error::AnalyzeError;
use crate::input::{discover, Input};

/// Why there is no split.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error(transparent)]
    Input(#[from] AnalyzeError),
    #[error("no update {0} in {1} (update records are in pylu binary traces only)")]
    NotFound(u32, String),
    #[error(
        "update numbers are per process, and {paths} hold {} processes (pids {}): give one process's trace, e.g. /tmp/pyliveupdate/<uid>/<pid>-*.pylu",
        pids.len(),
        pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    ManyProcesses { paths: String, pids: Vec<u32> },
}

/// The wall-clock ns of update `id`'s first record (an application before a revert), over the traces that
/// `paths` name. Update ids are per process: traces of more than one process are refused (each numbers its
/// updates from 1, so "update 3" would be a different update, at a different time, in each).
pub fn update_time(paths: &[PathBuf], id: u32) -> Result<i64, SplitError> {
    let mut applied: Option<i64> = None;
    let mut reverted: Option<i64> = None;
    let mut pids = std::collections::BTreeSet::new();
    let names = || crate::cli::join_paths(paths);
    for path in discover(paths)? {
        let input = Input::open(&path)?;
        let Ok(trace) = Trace::parse(input.bytes()) else { continue };
        pids.insert(trace.header.pid);
        if pids.len() > 1 {
            return Err(SplitError::ManyProcesses { paths: names(), pids: pids.into_iter().collect() });
        }
        let clock = trace.header.clock;
        for block in trace.blocks().flatten() {
            if block.verify().is_err() {
                continue;
            }
            // A damaged record ends the block's scan; what came before it is still used.
            let _ = block.records().try_for_each_record(|r| {
                if let EventKind::Update { id: found, action, .. } = r.kind {
                    if found == id {
                        let at = clock.to_wall(r.time_ns);
                        let slot = match action {
                            pylu_formats::UpdateAction::Applied => &mut applied,
                            pylu_formats::UpdateAction::Reverted => &mut reverted,
                        };
                        *slot = Some(slot.map_or(at, |t| t.min(at)));
                    }
                }
            });
        }
    }
    applied.or(reverted).ok_or_else(|| SplitError::NotFound(id, names()))
}
