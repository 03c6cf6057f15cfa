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

/// Nanoseconds as milliseconds, for tables: `{:.3}` of `ns as f64 / 1e6`.
pub(crate) fn ms(ns: u64) -> String {
    // In integers when the rounding cannot differ (a summary formats tens of thousands of these): below 10^15 ns
    // the float is within 10^-7 ms of ns / 10^6, which is never closer than 10^-6 ms to a rounding boundary
    // unless it lies on one (ns ending in 500), whose side only the float's own error decides.
    if ns < 1_000_000_000_000_000 && ns % 1000 != 500 {
        let us = (ns + 500) / 1000;
        return format!("{}.{:03}", us / 1000, us % 1000);
    }
    format!("{:.3}", ns as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        #[test]
        fn ms_is_the_float_formatting(ns in prop_oneof![
            0u64..10_000_000,
            any::<u64>(),
            (0u64..1_000_000_000_000).prop_map(|k| k * 1000 + 499),
            (0u64..1_000_000_000_000).prop_map(|k| k * 1000 + 501),
            (999_999_000_000_000u64..1_000_001_000_000_000),
        ]) {
            prop_assert_eq!(super::ms(ns), format!("{:.3}", ns as f64 / 1e6));
        }
    }
}
