//! Any bytes as a `.folded` file drawn again, as `pylu-analyze flamegraph x.folded` draws it: the lines the CLI
//! keeps (`OpenInputs::folded_lines`) through `write_flamegraph` with the options the first byte picks (stack
//! order, icicle, colours, palette, minimum width). Nothing may panic, and where `flame_frames` draws the
//! frames itself its SVG must be inferno's own drawing of the same lines, byte for byte.
#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use pylu_analyzer::cli::OpenInputs;
use pylu_analyzer::report::flamegraph::{self, Colors, FlameOptions};

static RUN: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let Some((&first, text)) = data.split_first() else { return };
    let path = std::env::temp_dir().join(format!(
        "pylu-fuzz-folded-{}-{}.folded",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, text).unwrap();
    let lines = match OpenInputs::open(std::slice::from_ref(&path)).map(|i| i.folded_lines()) {
        Ok(Ok(Some(folded))) => folded.lines,
        _ => {
            std::fs::remove_file(&path).ok();
            return;
        }
    };
    std::fs::remove_file(&path).ok();
    let o = FlameOptions {
        reverse: first & 1 != 0,
        icicle: first & 2 != 0,
        colors: if first & 4 != 0 { Colors::Hash } else { Colors::Deterministic },
        palette: ["python", "hot", "mem", "java"][usize::from((first >> 3) & 3)].into(),
        min_width: [0.0, 0.1, 1.0, 37.5][usize::from((first >> 5) & 3)],
        subtitle: (first & 0x80 != 0).then(|| "a <subtitle> & more".to_string()),
        ..FlameOptions::default()
    };
    let mut ours = Vec::new();
    let drawn = flamegraph::write_flamegraph(&lines, &o, &mut ours);
    let mut theirs = Vec::new();
    let by_inferno = flamegraph::write_flamegraph_by_inferno(&lines, &o, &mut theirs);
    assert_eq!(drawn.is_ok(), by_inferno.is_ok(), "{drawn:?} {by_inferno:?}");
    // Without reversed stacks inferno sorts the lines itself; the frames must come out the same.
    if !o.reverse {
        assert!(ours == theirs, "flame_frames differs from inferno on {lines:?}");
    }
});
