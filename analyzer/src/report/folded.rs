//! Folded stacks (`root;caller;callee count`): the input of flamegraph tools. The count is the stack's
//! *self* time in whole microseconds (count name `us`), so widths in a flamegraph are right — the original
//! wrote inclusive times here and so counted callees twice. Frames carry no hit counts.

use std::io::{self, Write};

use crate::profile::Analysis;
use crate::report::sorted_children;
use crate::select::View;

/// Frames may not hold the separators of the folded format.
fn frame(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains([';', '\n']) {
        name.replace([';', '\n'], ":").into()
    } else {
        name.into()
    }
}

/// The folded lines of `views`, in depth-first order by function name. Stacks whose self time rounds to 0 µs
/// are left out (a flamegraph could not show them).
pub fn folded_lines(a: &Analysis, views: &[View]) -> Vec<String> {
    let mut out = Vec::new();
    for v in views {
        let tree = &v.tree;
        let ch = sorted_children(a, tree);
        let selfs = tree.self_times();
        // (node, length of `path` before this node's frame was appended)
        let mut path = frame(&v.root).into_owned();
        let mut stack: Vec<(u32, usize)> = ch[0].iter().rev().map(|&c| (c, path.len())).collect();
        while let Some((n, cut)) = stack.pop() {
            path.truncate(cut);
            path.push(';');
            path.push_str(&frame(a.func_name(tree.nodes[n as usize].func)));
            let self_us = (selfs[n as usize] + 500) / 1000;
            if self_us > 0 {
                out.push(format!("{path} {self_us}"));
            }
            let here = path.len();
            stack.extend(ch[n as usize].iter().rev().map(|&c| (c, here)));
        }
        let root_us = (selfs[0] + 500) / 1000;
        if root_us > 0 {
            out.push(format!("{} {root_us}", frame(&v.root)));
        }
    }
    out
}

pub fn write_folded(a: &Analysis, views: &[View], out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::new(out);
    for l in folded_lines(a, views) {
        writeln!(w, "{l}")?;
    }
    w.flush()
}
