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
}

/// The wall-clock ns of update `id`'s first record (an application before a revert), over the traces that
/// `paths` name. Update ids are per process: give one process's trace.
pub fn update_time(paths: &[PathBuf], id: u32) -> Result<i64, SplitError> {
    let mut applied: Option<i64> = None;
    let mut reverted: Option<i64> = None;
    for path in discover(paths)? {
        let input = Input::open(&path)?;
        let Ok(trace) = Trace::parse(input.bytes()) else { continue };
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
    let names = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    applied.or(reverted).ok_or(SplitError::NotFound(id, names))
}
