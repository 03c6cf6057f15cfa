//! Flamegraph SVGs, drawn by inferno from the folded stacks.

use std::io::{self, Write};

use inferno::flamegraph::{self, color::Palette, Direction};

/// How frames are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colors {
    /// From a hash of the name: the same function has the same colour in every graph (reproducible files).
    #[default]
    Deterministic,
    /// From a hash of the name, weighted so that similar names get similar colours.
    Hash,
    /// Random (flamegraph.pl's default look; files differ between runs).
    Random,
}

/// How to draw.
#[derive(Debug, Clone)]
pub struct FlameOptions {
    pub title: String,
    /// What the counts are (`us`: the folded counts are microseconds of self time).
    pub count_name: String,
    /// Callers on top of callees (stack order reversed).
    pub reverse: bool,
    /// Roots at the top (an icicle graph).
    pub icicle: bool,
    pub colors: Colors,
    /// An inferno palette name: `python` (default), `hot`, `mem`, `io`, `java`, `js`, `perl`, `rust`, …
    pub palette: String,
    /// Frames narrower than this many pixels are left out.
    pub min_width: f64,
    /// A line under the title (what was left out, see [`hidden_note`]).
    pub subtitle: Option<String>,
}

impl Default for FlameOptions {
    fn default() -> Self {
        FlameOptions {
            title: "pylu flamegraph".into(),
            count_name: "us".into(),
            reverse: false,
            icicle: false,
            colors: Colors::Deterministic,
            palette: "python".into(),
            min_width: 0.1,
            subtitle: None,
        }
    }
}

/// inferno's default image width, in pixels.
pub const IMAGE_WIDTH: f64 = 1200.0;

/// The width frames are drawn in: the image's less inferno's padding of 10 px on each side (what `--min-width`
/// pixels are a share of, as in flamegraph.pl).
pub const DRAWN_WIDTH: f64 = IMAGE_WIDTH - 2.0 * 10.0;

/// What a flamegraph left out: `hidden` call sites narrower than `min_width` pixels (`None` when nothing was).
pub fn hidden_note(hidden: u64, min_width: f64) -> Option<String> {
    let s = if hidden == 1 { "" } else { "s" };
    (hidden > 0).then(|| {
        format!("{hidden} call site{s} narrower than {min_width} px not drawn, with their callees (--min-width 0 draws all)")
    })
}

/// inferno's options for `o`, whose palette is `palette`.
pub(super) fn inferno_options(o: &FlameOptions, palette: Palette) -> flamegraph::Options<'static> {
    let mut opt = flamegraph::Options::default();
    opt.title = o.title.clone();
    opt.count_name = o.count_name.clone();
    opt.reverse_stack_order = o.reverse;
    if o.icicle {
        opt.direction = Direction::Inverted;
    }
    opt.colors = palette;
    match o.colors {
        Colors::Deterministic => opt.deterministic = true,
        Colors::Hash => opt.hash = true,
        Colors::Random => {}
    }
    // inferno takes the smallest width in percent of the whole graph (flamegraph.pl in pixels, as this does):
    // passed as it was, `0.1` hid every frame under 1.2 px — nine in ten of a large profile's, which zooming in
    // then could not show.
    opt.min_width = o.min_width * 100.0 / DRAWN_WIDTH;
    opt.subtitle = o.subtitle.clone();
    opt
}

/// Draws `folded` lines as an SVG (make them with [`crate::report::folded::flame_lines`]). An empty profile still gives a (blank) SVG, so callers always get a file.
pub fn write_flamegraph(folded: &[String], o: &FlameOptions, out: &mut dyn Write) -> io::Result<()> {
    // inferno sorts the lines (as it reads them: trimmed, without blanks and `# ` comments) with an unstable sort,
    // which on a profile's tens of thousands of lines cost most of the drawing's time in comparisons of their
    // long shared prefixes; they come nearly sorted (callees by name), which the stable sort merges in a few
    // passes. The same order (equal lines are equal strings), so the same SVG. Reversed stacks are re-sorted
    // by inferno whatever this says.
    let mut lines = drawable(folded)?;
    let palette = palette(o)?;
    let make_options = || inferno_options(o, palette);
    let mut opt = make_options();
    if !o.reverse {
        lines.sort();
        opt.no_sort = true;
        // The frames drawn here, the rest by inferno (`flame_frames`): the same bytes.
        if let Some(svg) = super::flame_frames::draw(&lines, &make_options) {
            out.write_all(&svg)?;
            return out.flush();
        }
    }
    write_with_inferno(lines, &mut opt, folded.is_empty(), out)
}

/// [`write_flamegraph`] drawn by inferno alone (no frames written by `flame_frames`): what that drawing must
/// equal byte for byte, for the fuzz target that checks it on any folded input.
#[doc(hidden)]
pub fn write_flamegraph_by_inferno(folded: &[String], o: &FlameOptions, out: &mut dyn Write) -> io::Result<()> {
    let mut opt = inferno_options(o, palette(o)?);
    write_with_inferno(drawable(folded)?, &mut opt, folded.is_empty(), out)
}

/// The lines inferno reads of `folded`: trimmed, without blanks and `# ` comments. An error when their sample
/// counts are too large to draw (see [`check_counts`]).
fn drawable(folded: &[String]) -> io::Result<Vec<&str>> {
    let lines: Vec<&str> =
        folded.iter().map(|line| line.trim()).filter(|line| !(line.is_empty() || line.starts_with("# "))).collect();
    check_counts(&lines)?;
    Ok(lines)
}

/// `text`'s last space-separated word when inferno reads it as a count (its `rfind_samples`: digits, with one
/// `.` at most): what is before it, and its whole part (perhaps empty).
pub(super) fn count_word(text: &str) -> Option<(&str, &str)> {
    let (rest, word) = text.rsplit_once(' ')?;
    let (whole, fraction) = word.split_once('.').unwrap_or((word, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(fraction)).then_some((rest, whole))
}

/// The largest sample count, and sum of counts, a flamegraph is drawn for: inferno adds the counts in a `u64`
/// and takes differential counts apart as `isize`, which past this overflow (a panic in a debug build, a wrapped
/// total and a nonsense drawing in a release one). Counts that large come only from a made-up `.folded` file.
pub const MAX_DRAWN_SAMPLES: u64 = i64::MAX as u64;

/// The largest count of a differential line (two counts, before and after): inferno colours it by
/// `150 × (largest change + change)` in an `isize`.
pub const MAX_DIFFERENTIAL_SAMPLES: u64 = MAX_DRAWN_SAMPLES / 300;

/// Refuses `lines` whose counts (read as inferno reads them: the last one or two space-separated numbers of a
/// line, their fractional parts dropped) are above [`MAX_DRAWN_SAMPLES`] added up, or a differential line's
/// above [`MAX_DIFFERENTIAL_SAMPLES`].
fn check_counts(lines: &[&str]) -> io::Result<()> {
    // A whole part that is empty or past u64 is a line inferno ignores, as it is here.
    let count = |line| -> Option<(&str, u64)> {
        let (rest, whole) = count_word(line)?;
        Some((rest.trim_end(), whole.parse().ok()?))
    };
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "sample counts too large to draw: above {MAX_DRAWN_SAMPLES} in all, or {MAX_DIFFERENTIAL_SAMPLES} \
                 in a line of two (scale them down)"
            ),
        )
    };
    let mut total = 0u64;
    for line in lines {
        let Some((rest, samples)) = count(line) else { continue };
        total = total.checked_add(samples).filter(|&t| t <= MAX_DRAWN_SAMPLES).ok_or_else(too_large)?;
        // A differential line's first count.
        if let Some((_, original)) = count(rest) {
            if original.max(samples) > MAX_DIFFERENTIAL_SAMPLES {
                return Err(too_large());
            }
        }
    }
    Ok(())
}

/// `o.palette` as inferno's palette (an unknown name is an invalid-input error).
fn palette(o: &FlameOptions) -> io::Result<Palette> {
    o.palette.parse::<Palette>().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// inferno's drawing of `lines` as they are (sorted unless `opt.no_sort` is off).
fn write_with_inferno(
    lines: Vec<&str>,
    opt: &mut flamegraph::Options<'_>,
    empty: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut buf = Vec::new();
    match flamegraph::from_lines(opt, lines, &mut buf) {
        Ok(()) => {}
        // inferno refuses an empty profile; it has still written its "no input" SVG into `buf`.
        Err(_) if empty => {}
        Err(e) => return Err(e),
    }
    out.write_all(&buf)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `flamegraph_folded` fuzz target: counts adding up past what inferno's `u64` total holds
    /// made it panic (`attempt to add with overflow`) in a debug build and draw a wrapped total in a release one.
    #[test]
    fn counts_too_large_to_draw_are_an_error_not_a_panic() {
        let o = FlameOptions::default();
        let big = MAX_DRAWN_SAMPLES;
        for lines in [
            vec![format!("a {big}"), "b 1".to_string()],
            vec!["a 5111111111111797768".to_string(), "a;b 5111111111111797768".into()],
            vec![format!("a;b {} 7", big as u128 + 1), "c 1".into()],
            // Found by the fuzz target: inferno's colour of a differential line overflowed.
            vec![format!("a;b 1 {}", MAX_DIFFERENTIAL_SAMPLES + 1), "a;c 5 3".into()],
            vec![format!("a;b {} 1", MAX_DIFFERENTIAL_SAMPLES + 1)],
            vec![format!("a;b 18446744073709551615.5")],
        ] {
            for reverse in [false, true] {
                let o = FlameOptions { reverse, ..o.clone() };
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                let e = write_flamegraph(&lines, &o, &mut ours).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{lines:?}");
                assert!(e.to_string().contains("too large to draw"), "{e}");
                let e = write_flamegraph_by_inferno(&lines, &o, &mut theirs).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            }
        }
        // Up to the limit, drawn (here and by inferno, the same bytes); a count inferno cannot read (past u64)
        // is a line it ignores, here too.
        for lines in [
            vec![format!("a {}", big - 1), "b 1".to_string()],
            vec!["a 99999999999999999999".into(), "b 3".into()],
            vec![format!("a;b 1 {MAX_DIFFERENTIAL_SAMPLES}"), format!("a;c {MAX_DIFFERENTIAL_SAMPLES} 3")],
        ] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_flamegraph(&lines, &o, &mut ours).unwrap();
            write_flamegraph_by_inferno(&lines, &o, &mut theirs).unwrap();
            assert!(ours == theirs, "{lines:?}");
        }
    }
}
