//! Folded stacks (`root;caller;callee count`): the input of flamegraph tools. The count is the stack's
//! *self* time in whole microseconds (count name `us`), so widths in a flamegraph are right — the original
//! wrote inclusive times here and so counted callees twice. Frames carry no hit counts.

use std::io::{self, Write};

use crate::profile::Analysis;
use crate::select::{TreeOrder, View};

/// Frames may not hold the separators of the folded format.
fn frame(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains([';', '\n']) {
        name.replace([';', '\n'], ":").into()
    } else {
        name.into()
    }
}

/// Calls `emit(stack, self_us)` for each stack of `views`, depth first by function name. Subtrees whose total
/// is under `min_total_ns` are not walked: their time counts as their caller's self time (so every width
/// that is drawn stays right). Stacks whose self time rounds to 0 µs are left out.
pub fn walk_stacks(
    a: &Analysis,
    views: &[View],
    min_total_ns: u64,
    emit: impl FnMut(&str, u64) -> io::Result<()>,
) -> io::Result<()> {
    walk_stacks_counted(a, views, min_total_ns, emit).map(|_| ())
}

/// [`walk_stacks`], returning how many call sites (with their callees) were under `min_total_ns` and so folded
/// into their callers.
pub fn walk_stacks_counted(
    a: &Analysis,
    views: &[View],
    min_total_ns: u64,
    mut emit: impl FnMut(&str, u64) -> io::Result<()>,
) -> io::Result<u64> {
    let mut hidden = 0u64;
    // Each function's frame once, not once per node (a big profile has ~1,000 times more nodes than names).
    let frames: Vec<std::borrow::Cow<'_, str>> = a.functions.iter().map(|f| frame(&f.name)).collect();
    let func_frame = |f: u32| -> &str { &frames[f as usize] };
    for v in views {
        let tree = &v.tree;
        let TreeOrder { children: ch, selfs } = v.order(a);
        let total = |n: u32| tree.nodes[n as usize].stats.total_ns;
        let folded_in = |n: u32, hidden: &mut u64| -> u64 {
            let mut ns = 0;
            for &c in ch[n as usize].iter().filter(|&&c| total(c) < min_total_ns) {
                *hidden += 1;
                ns += total(c);
            }
            ns
        };
        let mut path = frame(&v.root).into_owned();
        let root_self = selfs[0] + folded_in(0, &mut hidden);
        // (node, length of `path` before this node's frame)
        let mut stack: Vec<(u32, usize)> =
            ch[0].iter().rev().filter(|&&c| total(c) >= min_total_ns).map(|&c| (c, path.len())).collect();
        while let Some((n, cut)) = stack.pop() {
            path.truncate(cut);
            path.push(';');
            path.push_str(func_frame(tree.nodes[n as usize].func));
            let self_us = (selfs[n as usize] + folded_in(n, &mut hidden) + 500) / 1000;
            if self_us > 0 {
                emit(&path, self_us)?;
            }
            let here = path.len();
            stack.extend(ch[n as usize].iter().rev().filter(|&&c| total(c) >= min_total_ns).map(|&c| (c, here)));
        }
        let root_us = (root_self + 500) / 1000;
        if root_us > 0 {
            emit(&frame(&v.root), root_us)?;
        }
    }
    Ok(hidden)
}

/// Every folded line of `views`.
pub fn folded_lines(a: &Analysis, views: &[View]) -> Vec<String> {
    let mut out = Vec::new();
    walk_stacks(a, views, 0, |s, us| {
        out.push(format!("{s} {us}"));
        Ok(())
    })
    .expect("no I/O");
    out
}

/// The lines a flamegraph whose frames are drawn `drawn_width` pixels wide ([`super::flamegraph::DRAWN_WIDTH`])
/// can show with frames of at least `min_width` pixels: the same picture from far fewer lines (a big profile has
/// millions of distinct stacks).
pub fn flame_lines(a: &Analysis, views: &[View], drawn_width: f64, min_width: f64) -> Vec<String> {
    flame_lines_counted(a, views, drawn_width, min_width).0
}

/// [`flame_lines`], and how many call sites (with their callees) were too narrow to draw.
pub fn flame_lines_counted(a: &Analysis, views: &[View], drawn_width: f64, min_width: f64) -> (Vec<String>, u64) {
    let total: u64 = views.iter().map(|v| v.tree.nodes[0].stats.total_ns).sum();
    let min_total = (total as f64 * min_width / drawn_width.max(1.0)) as u64;
    let mut out = Vec::new();
    let hidden = walk_stacks_counted(a, views, min_total, |s, us| {
        let count = folded_count(us);
        let count = count.as_str().trim_end(); // the line without its newline
        let mut line = String::with_capacity(s.len() + count.len());
        line.push_str(s);
        line.push_str(count);
        out.push(line);
        Ok(())
    })
    .expect("no I/O");
    (out, hidden)
}

/// Writes every folded line, streaming.
pub fn write_folded(a: &Analysis, views: &[View], out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 16, out);
    // Bytes written as they are rather than through `writeln!`'s formatting, a third of this file's time.
    walk_stacks(a, views, 0, |s, us| {
        w.write_all(s.as_bytes())?;
        w.write_all(folded_count(us).as_bytes())
    })?;
    w.flush()
}

/// ` <count>\n`, the end of a folded line (what `format!(" {count}\n")` gives).
fn folded_count(count: u64) -> FoldedCount {
    let mut c = FoldedCount { bytes: [0; 22], start: 21 };
    c.bytes[21] = b'\n';
    let mut n = count;
    loop {
        c.start -= 1;
        c.bytes[c.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    c.start -= 1;
    c.bytes[c.start] = b' ';
    c
}

/// [`folded_count`]'s text: a u64 has at most 20 digits, plus the space and the newline.
struct FoldedCount {
    bytes: [u8; 22],
    start: usize,
}

impl FoldedCount {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("a space, ASCII digits and a newline")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn folded_count_is_the_formatted_count(n in prop_oneof![0u64..100_000, any::<u64>()]) {
            let (got, want) = (super::folded_count(n), format!(" {n}\n"));
            prop_assert_eq!(got.as_bytes(), want.as_bytes());
        }
    }
}
