//! Reports made from an [`Analysis`] through a [`Selection`](crate::Selection)'s views.
//! Every report is deterministic: children by function name, threads by (pid, name, id), never hash order.

pub mod events;
pub mod flamegraph;
pub mod folded;
pub mod lines;
pub mod summary;
mod table;

use crate::profile::Analysis;
use crate::tree::{Children, Tree};

/// Children of every node, sorted by function name.
pub(crate) fn sorted_children(a: &Analysis, tree: &Tree) -> Children {
    let mut ch = tree.children();
    ch.for_each_mut(|c| {
        c.sort_by(|&x, &y| a.func_name(tree.nodes[x as usize].func).cmp(a.func_name(tree.nodes[y as usize].func)))
    });
    ch
}

/// Nanoseconds as microseconds with 3 decimals (what JSON carries: exact to the ns, readable).
pub(crate) fn us(ns: u64) -> f64 {
    (ns as f64 / 1e3 * 1e3).round() / 1e3
}

/// Nanoseconds as milliseconds, for tables.
pub(crate) fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}
