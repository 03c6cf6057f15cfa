//! A flamegraph's frames drawn here, the rest of the SVG by inferno: the same bytes, a third of the instructions.
//!
//! inferno formats five floats per frame through `format!` (`{:.4}%`, `{:.2}`), which mostly falls back to
//! exact big-number arithmetic: on a 50 MB log's 5,600 frames that cost ~100 M instructions, a fifth of
//! `pylu-processlogs`. Here the sorted folded lines are merged into frames as inferno merges them, inferno draws
//! a small *probe* graph with the same options, depth and total in which every function appears once (its
//! header, style and script are the real graph's; its frames give each function's colour and each depth's
//! place), and the frames are written in inferno's markup with numbers formatted in integers where that is
//! exact ([`super::push_fixed`]). The output is inferno's byte for byte (property-tested against it). What this
//! does not model — reversed stacks, random colours, differential or fractional counts, names inferno would
//! trim, read as a count or deannotate, tiny totals — returns `None`, and the caller lets inferno draw it all.
//!
//! Main entry: [`draw`].

use inferno::flamegraph::{self, Direction};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::flamegraph::IMAGE_WIDTH;
use super::{push_fixed, push_u64};

/// One frame: a function at a depth, from `start` to `end` in samples (inferno's `TimedFrame`).
struct Frame<'a> {
    name: &'a str,
    depth: usize,
    start: u64,
    end: u64,
}

/// The SVG of `lines` (trimmed, sorted, no blanks or comments) as `inferno::flamegraph::from_lines` would draw it
/// with the options `make_options` makes (a fresh set for the probe, whose `min_width` and `no_sort` this sets),
/// or `None` when the input or the options are outside what this models.
pub(super) fn draw(lines: &[&str], make_options: &dyn Fn() -> flamegraph::Options<'static>) -> Option<Vec<u8>> {
    draw_frames(lines, make_options, true, FRAMES_PER_PIECE)
}

/// [`draw`]; `only_if_faster` off, also when there are about as many functions as frames, and `piece` frames
/// written at a time (for tests).
fn draw_frames(
    lines: &[&str],
    make_options: &dyn Fn() -> flamegraph::Options<'static>,
    only_if_faster: bool,
    piece: usize,
) -> Option<Vec<u8>> {
    let opt = make_options();
    if opt.reverse_stack_order || opt.flame_chart || opt.color_diffusion || opt.pretty_xml || !opt.base.is_empty() {
        return None;
    }
    if !(opt.deterministic || opt.hash) || opt.palette_map.is_some() || opt.factor != 1.0 {
        return None;
    }
    let (frames, timemax) = merge(lines)?;
    // inferno formats counts through f64: past 2^53 its titles round them (a fuzzed `2222222222222222222`
    // became `…222,336`), which the integers here would not.
    if timemax == 0 || timemax > 1 << 53 {
        return None;
    }
    // inferno's pruning, in its own float operations.
    let widthpertime_pct = 100.0 / timemax as f64;
    let minwidth_time = opt.min_width / widthpertime_pct;
    let frames: Vec<Frame<'_>> = frames.into_iter().filter(|f| ((f.end - f.start) as f64) >= minwidth_time).collect();
    let depthmax = frames.iter().map(|f| f.depth).max()?;
    let probe = Probe::draw(&frames, depthmax, timemax, make_options, only_if_faster)?;

    let image_width = opt.image_width.map_or(IMAGE_WIDTH, |w| w as f64);
    let geometry = Geometry {
        timemax,
        widthpertime_pct,
        char_width_pct: 100.0 * opt.font_size as f64 * opt.font_width / image_width,
        text_offset_pct: 100.0 * 3.0 / image_width,
        count_name: &opt.count_name,
    };
    // Frames are independent of each other: pieces of them are written on every core and joined in order.
    let pieces: Vec<Option<Vec<u8>>> =
        frames.par_chunks(piece.max(1)).map(|piece| push_frames(piece, &geometry, &probe)).collect();
    const CLOSING: &[u8] = b"</svg></svg>";
    let mut out = Vec::with_capacity(
        probe.header.len() + pieces.iter().map(|p| p.as_ref().map_or(0, Vec::len)).sum::<usize>() + CLOSING.len(),
    );
    out.extend_from_slice(probe.header.as_bytes());
    for piece in pieces {
        out.extend_from_slice(&piece?);
    }
    out.extend_from_slice(CLOSING);
    Some(out)
}

/// Frames per piece written on one core: about 300 bytes each.
const FRAMES_PER_PIECE: usize = 1024;

/// What every frame's markup needs from the whole graph.
struct Geometry<'o> {
    timemax: u64,
    widthpertime_pct: f64,
    char_width_pct: f64,
    text_offset_pct: f64,
    count_name: &'o str,
}

/// `frames` in inferno's markup (`None` if one of them is outside what the probe drew).
fn push_frames(frames: &[Frame<'_>], g: &Geometry<'_>, probe: &Probe) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(frames.len() * 300);
    let mut scratch = Vec::new();
    for f in frames {
        let x1_pct = f.start as f64 * g.widthpertime_pct;
        let x2_pct = f.end as f64 * g.widthpertime_pct;
        let width_pct = x2_pct - x1_pct;
        let (rect_y, text_y) = probe.y.get(f.depth)?;
        let samples = f.end - f.start;
        let root = f.name.is_empty() && f.depth == 0;
        out.extend_from_slice(b"<g><title>");
        scratch.clear();
        if root {
            scratch.extend_from_slice(b"all (");
        } else {
            scratch.extend_from_slice(f.name.as_bytes());
            scratch.extend_from_slice(b" (");
        }
        push_thousands(&mut scratch, samples);
        scratch.push(b' ');
        scratch.extend_from_slice(g.count_name.as_bytes());
        if root {
            scratch.extend_from_slice(b", 100%)");
        } else {
            scratch.extend_from_slice(b", ");
            push_fixed(&mut scratch, 100.0 * samples as f64 / g.timemax as f64, 2);
            scratch.extend_from_slice(b"%)");
        }
        push_escaped(&mut out, &scratch);
        out.extend_from_slice(b"</title><rect x=\"");
        push_fixed(&mut out, x1_pct, 4);
        out.extend_from_slice(b"%\" y=\"");
        out.extend_from_slice(rect_y.as_bytes());
        out.extend_from_slice(b"\" width=\"");
        push_fixed(&mut out, width_pct, 4);
        out.extend_from_slice(b"%\" height=\"");
        out.extend_from_slice(probe.height.as_bytes());
        out.extend_from_slice(b"\" fill=\"");
        let fill = if root { &probe.root_fill } else { probe.fills.get(f.name)? };
        out.extend_from_slice(fill.as_bytes());
        out.extend_from_slice(b"\" fg:x=\"");
        push_u64(&mut out, f.start);
        out.extend_from_slice(b"\" fg:w=\"");
        push_u64(&mut out, samples);
        out.extend_from_slice(b"\"/><text x=\"");
        push_fixed(&mut out, x1_pct + g.text_offset_pct, 4);
        out.extend_from_slice(b"%\" y=\"");
        out.extend_from_slice(text_y.as_bytes());
        out.extend_from_slice(b"\">");
        // The label: the name when it fits (by its length in bytes, as inferno measures), else as many
        // characters as fit less two and `..`, nothing under three.
        let fitchars = (width_pct / g.char_width_pct).trunc() as usize;
        if fitchars >= 3 {
            if f.name.len() < fitchars {
                push_escaped(&mut out, f.name.as_bytes());
            } else {
                scratch.clear();
                for c in f.name.chars().take(fitchars - 2) {
                    let mut utf8 = [0u8; 4];
                    scratch.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
                scratch.extend_from_slice(b"..");
                push_escaped(&mut out, &scratch);
            }
        }
        out.extend_from_slice(b"</text></g>");
    }
    Some(out)
}

/// The frames of `lines` in the order inferno's merge makes them (each pushed as it closes, the closing ones
/// of a line shallowest first), and the total count; `None` for a line inferno would read otherwise than as
/// `stack count` with an integer count (a fraction, a second count, an empty stack).
fn merge<'a>(lines: &[&'a str]) -> Option<(Vec<Frame<'a>>, u64)> {
    let mut frames = Vec::new();
    // The open frames by depth (the root, "", first) and their starts.
    let mut open: Vec<(&'a str, u64)> = Vec::new();
    let mut time = 0u64;
    for &line in lines {
        let (stack, count) = line.rsplit_once(' ')?;
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let count: u64 = count.parse().ok()?;
        let stack = stack.trim_end();
        if stack.is_empty() || ends_in_number(stack) {
            return None;
        }
        let mut shared = 0;
        let mut this = std::iter::once("").chain(stack.split(';')).peekable();
        while let (Some(&(name, _)), Some(&next)) = (open.get(shared), this.peek()) {
            if name != next {
                break;
            }
            shared += 1;
            this.next();
        }
        for (depth, &(name, start)) in open.iter().enumerate().skip(shared) {
            frames.push(Frame { name, depth, start, end: time });
        }
        open.truncate(shared);
        open.extend(this.map(|name| (name, time)));
        time = time.checked_add(count)?;
    }
    for (depth, &(name, start)) in open.iter().enumerate() {
        frames.push(Frame { name, depth, start, end: time });
    }
    Some((frames, time))
}

/// Whether inferno would read the end of `text` as a count (see [`super::flamegraph::count_word`]).
fn ends_in_number(text: &str) -> bool {
    super::flamegraph::count_word(text).is_some()
}

/// What the probe graph gives the real one.
struct Probe {
    /// Everything up to and including the frames' `<svg id="frames" …>` tag.
    header: String,
    /// Each function's `fill` (by name), and the root's.
    fills: FxHashMap<String, String>,
    root_fill: String,
    /// Per depth, the rectangle's `y` and the text's `y`, as written.
    y: Vec<(String, String)>,
    /// The rectangles' `height`.
    height: String,
}

impl Probe {
    /// Has inferno draw, with the real graph's options but no pruning, a graph of `timemax` samples and
    /// `depthmax` levels in which every function of `frames` appears: a line per function of one sample, and
    /// a column of the first function `depthmax` deep holding the rest of the samples.
    fn draw(
        frames: &[Frame<'_>],
        depthmax: usize,
        timemax: u64,
        make_options: &dyn Fn() -> flamegraph::Options<'static>,
        only_if_faster: bool,
    ) -> Option<Probe> {
        // Distinct first (a few hundred functions against thousands of frames), then sorted.
        let distinct: FxHashSet<&str> = frames.iter().filter(|f| f.depth > 0).map(|f| f.name).collect();
        let mut names: Vec<&str> = distinct.into_iter().collect();
        names.sort_unstable();
        // Names the probe's own lines could not carry as they are (`#` would make the line `# 1`, which inferno
        // takes for a comment).
        let plain = |n: &str| {
            !n.is_empty()
                && n.trim() == n
                && !n.starts_with("# ")
                && n != "#"
                && !ends_in_number(n)
                && deannotated(n) == n
        };
        if !names.iter().all(|n| plain(n)) {
            return None;
        }
        // The probe draws a frame per function through inferno: worth it only when functions are far fewer
        // than frames (a few hundred against thousands in a service's profile).
        if only_if_faster && names.len() * 2 > frames.len() {
            return None;
        }
        let first = *names.first()?;
        let column = timemax.checked_sub(names.len() as u64).filter(|&c| c > 0)?;
        let mut lines: Vec<String> = names.iter().map(|n| format!("{n} 1")).collect();
        lines.push(format!("{} {column}", vec![first; depthmax].join(";")));
        let mut opt = make_options();
        opt.min_width = 0.0;
        opt.no_sort = false;
        let mut svg = Vec::new();
        flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), &mut svg).ok()?;
        let svg = String::from_utf8(svg).ok()?;
        Probe::read(&svg, depthmax, opt.direction)
    }

    /// Takes the probe's SVG apart (`None` if it is not laid out as expected).
    fn read(svg: &str, depthmax: usize, direction: Direction) -> Option<Probe> {
        let container = svg.find("<svg id=\"frames\"")?;
        let header_end = container + svg[container..].find('>')? + 1;
        let body = svg[header_end..].strip_suffix("</svg></svg>")?;
        let mut entries = Vec::new();
        for frame in body.split("</g>").filter(|f| !f.is_empty()) {
            let title = between(frame, "<g><title>", "</title>")?;
            let fill = between(frame, " fill=\"", "\"")?;
            let rect = between(frame, "<rect x=\"", "/>")?;
            let text = between(frame, "<text x=\"", ">")?;
            let (rect_y, text_y) = (between(rect, " y=\"", "\"")?, between(text, " y=\"", "\"")?);
            let height = between(rect, " height=\"", "\"")?;
            entries.push((title, fill, rect_y, text_y, height));
        }
        let mut ys: Vec<(u64, &str, &str)> = Vec::new();
        for &(_, _, rect_y, text_y, _) in &entries {
            let y: u64 = rect_y.parse().ok()?;
            if !ys.iter().any(|&(seen, ..)| seen == y) {
                ys.push((y, rect_y, text_y));
            }
        }
        if ys.len() != depthmax + 1 {
            return None;
        }
        ys.sort_by_key(|&(y, ..)| y);
        if direction == Direction::Straight {
            ys.reverse();
        }
        // The root is the one frame at depth 0; the others are named in their titles (`name (1 us, 0.00%)`).
        let (_, root_fill, _, _, height) = *entries.iter().find(|e| e.2 == ys[0].1)?;
        let mut fills = FxHashMap::default();
        for &(title, fill, rect_y, ..) in &entries {
            if rect_y != ys[0].1 {
                fills.insert(unescape(&title[..title.rfind(" (")?])?, fill.to_owned());
            }
        }
        let y = ys.into_iter().map(|(_, rect, text)| (rect.to_owned(), text.to_owned())).collect();
        Some(Probe {
            header: svg[..header_end].to_owned(),
            fills,
            root_fill: root_fill.to_owned(),
            y,
            height: height.to_owned(),
        })
    }
}

/// The text between the first `open` of `s` and the next `close`.
fn between<'s>(s: &'s str, open: &str, close: &str) -> Option<&'s str> {
    let start = s.find(open)? + open.len();
    let len = s[start..].find(close)?;
    Some(&s[start..start + len])
}

/// `name` without inferno's annotation suffix (`_[k]`, `_[w]`, `_[i]`, `_[j]`), which its titles and labels
/// leave out.
fn deannotated(name: &str) -> &str {
    match name.strip_suffix(']').and_then(|n| n.rsplit_once("_[")) {
        Some((base, "k" | "w" | "i" | "j")) => base,
        _ => name,
    }
}

/// `text` with XML's five special characters escaped, as quick-xml (inferno's writer) escapes text.
fn push_escaped(out: &mut Vec<u8>, text: &[u8]) {
    // Names rarely hold one: copied whole, not byte by byte.
    if !text.iter().any(|&b| matches!(b, b'<' | b'>' | b'&' | b'\'' | b'"')) {
        out.extend_from_slice(text);
        return;
    }
    for &b in text {
        match b {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'\'' => out.extend_from_slice(b"&apos;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => out.push(b),
        }
    }
}

/// [`push_escaped`] undone (`None` for any other entity).
fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';')? + amp;
        out.push(match &rest[amp..=semi] {
            "&lt;" => '<',
            "&gt;" => '>',
            "&amp;" => '&',
            "&apos;" => '\'',
            "&quot;" => '"',
            _ => return None,
        });
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// `n` with a `,` between thousands (`1,234,567`), as inferno writes sample counts.
fn push_thousands(out: &mut Vec<u8>, n: u64) {
    let digits = itoa::Buffer::new().format(n).as_bytes().to_vec();
    for (i, &d) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(b',');
        }
        out.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::flamegraph::{Colors, FlameOptions};
    use proptest::prelude::*;

    /// Names that are drawn here (escapes, non-ASCII, long ones cut in labels, inferno's greys, a function named
    /// like the root) and, rarely, ones that send the whole graph to inferno.
    fn names() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            20 => prop::sample::select(vec![
                "a", "b", "views.get", "x<y>", "q&a", "it's", "say \"hi\"", "é-ü", "--", "-", "all", "mod.f(1)",
                "a_very_long_function_name_that_will_not_fit_in_a_narrow_frame.module.ClassName.method",
            ]),
            1 => prop::sample::select(vec!["f_[k]", "n 12", " lead", ""]),
        ]
    }

    /// Folded lines: distinct stacks of those names with counts, several with long shared prefixes.
    fn folded() -> impl Strategy<Value = Vec<String>> {
        let stack = prop::collection::vec(names(), 1..7);
        let count = prop_oneof![1u64..5, 1u64..2_000, 1u64..5_000_000];
        prop::collection::vec((stack, count), 1..60).prop_map(|lines| {
            let mut seen = std::collections::HashSet::new();
            let mut out: Vec<String> = lines
                .into_iter()
                .filter(|(s, _)| seen.insert(s.join(";")))
                .map(|(s, c)| format!("{} {c}", s.join(";")))
                .collect();
            out.sort();
            out
        })
    }

    fn options() -> impl Strategy<Value = FlameOptions> {
        (
            prop::sample::select(vec![0.0, 0.1, 0.5, 3.0]),
            any::<bool>(),
            prop::sample::select(vec!["python", "hot", "java", "mem"]),
            any::<bool>(),
            prop::option::of(Just("some <subtitle> & more".to_owned())),
            prop::sample::select(vec!["us", "ms", "samples"]),
        )
            .prop_map(|(min_width, icicle, palette, hash, subtitle, count)| FlameOptions {
                title: "a <title> & \"quotes\"".into(),
                count_name: count.into(),
                icicle,
                palette: palette.into(),
                colors: if hash { Colors::Hash } else { Colors::Deterministic },
                min_width,
                subtitle,
                ..FlameOptions::default()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// `write_flamegraph`, through the frames drawn here, gives inferno's SVG byte for byte, and
        /// everything ordinary is drawn here.
        #[test]
        fn the_same_bytes_as_inferno(lines in folded(), o in options(), piece in 1usize..9) {
            let palette = o.palette.parse().unwrap();
            let make = || crate::report::flamegraph::inferno_options(&o, palette);
            let mut opt = make();
            let mut expected = Vec::new();
            let drawn = flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), &mut expected);
            let mut got = Vec::new();
            let ours = crate::report::flamegraph::write_flamegraph(&lines, &o, &mut got);
            if drawn.is_err() {
                // No stack counts at all (a line of a count alone): refused both ways.
                prop_assert!(ours.is_err());
                return Ok(());
            }
            prop_assert!(ours.is_ok());
            let expected = String::from_utf8(expected).unwrap();
            prop_assert_eq!(&String::from_utf8(got).unwrap(), &expected);

            let mut prepared: Vec<&str> = lines.iter().map(|l| l.trim()).collect();
            prepared.sort();
            // Frames written a few at a time, in pieces on both cores, joined as inferno writes them.
            if let Some(forced) = draw_frames(&prepared, &make, false, piece) {
                prop_assert_eq!(&String::from_utf8(forced).unwrap(), &expected);
            } else {
                // Only the odd names, a total too small for the probe, or nothing wide enough to draw.
                let odd = prepared.iter().any(|l| {
                    ["f_[k]", "n 12", " lead", ";;"].iter().any(|n| l.contains(n))
                        || l.starts_with(';')
                        || l.contains("; ")
                        || !l.contains(' ')
                });
                let total: u64 =
                    prepared.iter().filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok()).sum();
                prop_assert!(odd || total < 200 || o.min_width >= 0.5, "declined: {prepared:?}");
            }
        }
    }

    #[test]
    fn thousands_and_escapes() {
        for (n, s) in [(0u64, "0"), (999, "999"), (1000, "1,000"), (29_372_319, "29,372,319")] {
            let mut out = Vec::new();
            push_thousands(&mut out, n);
            assert_eq!(out, s.as_bytes());
        }
        let mut out = Vec::new();
        push_escaped(&mut out, "a<b>&'\"é".as_bytes());
        assert_eq!(String::from_utf8(out.clone()).unwrap(), "a&lt;b&gt;&amp;&apos;&quot;é");
        assert_eq!(unescape(std::str::from_utf8(&out).unwrap()).unwrap(), "a<b>&'\"é");
        assert_eq!(deannotated("f_[k]"), "f");
        assert_eq!(deannotated("f_[x]"), "f_[x]");
        assert!(
            ends_in_number("a b 12") && ends_in_number("a 1.5") && !ends_in_number("a b1") && !ends_in_number("ab")
        );
    }
}

#[cfg(test)]
mod fuzz_found {
    use crate::report::flamegraph::{write_flamegraph, write_flamegraph_by_inferno, FlameOptions};

    /// Found by the `flamegraph_folded` fuzz target: a count past 2^53, which inferno's titles round.
    #[test]
    fn counts_past_2_pow_53_are_drawn_as_inferno_draws_them() {
        let o = FlameOptions { min_width: 0.0, ..FlameOptions::default() };
        for lines in
            [vec![">0a&#^q 2222222222222222222".to_string()], vec!["a;b 9007199254740993".into(), "a 7".into()]]
        {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_flamegraph(&lines, &o, &mut ours).unwrap();
            write_flamegraph_by_inferno(&lines, &o, &mut theirs).unwrap();
            assert!(ours == theirs, "{lines:?}");
        }
    }

    /// Found by the `flamegraph_folded` fuzz target: a function named `#` made the probe's line for it `# 1`,
    /// which inferno reads as a comment, so the probe's header said one sample fewer than the graph.
    #[test]
    fn a_function_named_hash_is_drawn_as_inferno_draws_it() {
        let o = FlameOptions { min_width: 0.0, ..FlameOptions::default() };
        // Every order of three names under a fourth: frames enough (16 for 4 names) that the probe draws them.
        let lines: Vec<String> =
            ["x;#;a;b 5", "x;#;b;a 5", "x;a;#;b 5", "x;a;b;# 5", "x;b;#;a 5", "x;b;a;# 5"].map(String::from).to_vec();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        write_flamegraph(&lines, &o, &mut ours).unwrap();
        write_flamegraph_by_inferno(&lines, &o, &mut theirs).unwrap();
        assert!(ours == theirs, "{}", String::from_utf8_lossy(&ours));
    }
}
