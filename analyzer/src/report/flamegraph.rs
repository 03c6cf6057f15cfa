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

/// What a flamegraph left out: `hidden` call sites narrower than `min_width` pixels (`None` when nothing was).
pub fn hidden_note(hidden: u64, min_width: f64) -> Option<String> {
    let s = if hidden == 1 { "" } else { "s" };
    (hidden > 0).then(|| {
        format!("{hidden} call site{s} narrower than {min_width} px not drawn, with their callees (--min-width 0 draws all)")
    })
}

/// Draws `folded` lines as an SVG (make them with [`crate::report::folded::flame_lines`]). An empty profile still gives a (blank) SVG, so callers always get a file.
pub fn write_flamegraph(folded: &[String], o: &FlameOptions, out: &mut dyn Write) -> io::Result<()> {
    let mut opt = flamegraph::Options::default();
    opt.title = o.title.clone();
    opt.count_name = o.count_name.clone();
    opt.reverse_stack_order = o.reverse;
    if o.icicle {
        opt.direction = Direction::Inverted;
    }
    opt.colors = o.palette.parse::<Palette>().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    match o.colors {
        Colors::Deterministic => opt.deterministic = true,
        Colors::Hash => opt.hash = true,
        Colors::Random => {}
    }
    opt.min_width = o.min_width;
    opt.subtitle = o.subtitle.clone();
    let mut buf = Vec::new();
    let lines: Vec<&str> = folded.iter().map(String::as_str).collect();
    match flamegraph::from_lines(&mut opt, lines, &mut buf) {
        Ok(()) => {}
        // inferno refuses an empty profile; it has still written its "no input" SVG into `buf`.
        Err(_) if folded.is_empty() => {}
        Err(e) => return Err(e),
    }
    out.write_all(&buf)?;
    out.flush()
}
