//! The order `calls.parquet`'s rows are written in: a thread's calls by start time, made from the order the
//! replay hands them over (as they end) in one pass where it can.

use super::calls::Pending;

/// The order of a batch's rows by start time (a caller before its calls at the same instant): the files' order.
///
/// Calls arrive as they end, a call after the calls it made (post-order). Put each call ahead of the subtrees
/// that ended below it since, and the batch is in pre-order, which for one thread's properly nested calls is
/// the order of their starts: one pass where sorting took a sixth of the export. Anything else (a generator
/// resumed from elsewhere, a text log's clock going back) is taken out, sorted and merged back.
pub(super) fn start_order(rows: &[Pending]) -> Vec<u32> {
    const END: u32 = u32::MAX;
    let mut next = vec![END; rows.len()];
    // Subtrees not yet claimed by a caller, as linked runs (depth, first, last); depths rise towards the top.
    let mut open: Vec<(u32, u32, u32)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let i = i as u32;
        let below = open.iter().rposition(|s| s.0 <= r.depth).map_or(0, |p| p + 1);
        let mut last = i;
        for s in &open[below..] {
            next[last as usize] = s.1;
            last = s.2;
        }
        open.truncate(below);
        open.push((r.depth, i, last));
    }
    let mut order = Vec::with_capacity(rows.len());
    for s in &open {
        let mut k = s.1;
        loop {
            order.push(k);
            if k == s.2 {
                break;
            }
            k = next[k as usize];
        }
    }
    // Calls that start at the same instant then come a caller before its calls, as sorted by (start, depth)
    // (though a caller's later sibling may follow its calls, where the sort puts it before them).
    let start = |k: u32| rows[k as usize].start_ns;
    // A few rows out of place (a generator's row: it started before the calls that ran before it resumed, or a
    // text log's clock going back) are taken out, sorted and merged back; many, and the whole is sorted.
    let mut main = Vec::with_capacity(order.len());
    let mut late = Vec::new();
    let mut last = i64::MIN;
    for k in order {
        let s = start(k);
        if s >= last {
            main.push(k);
            last = s;
        } else {
            late.push(k);
        }
    }
    if late.is_empty() {
        return main;
    }
    // Sorted as 128-bit keys (start with its sign flipped so that it orders as unsigned, depth, position): the
    // rows themselves are 64 bytes, and comparing tuples of them cost a seventh of the export.
    let key = |i: u32| {
        let r = &rows[i as usize];
        (u128::from((r.start_ns as u64) ^ (1 << 63)) << 64) | (u128::from(r.depth) << 32) | u128::from(i)
    };
    if late.len() > rows.len() / 8 {
        let mut keys: Vec<u128> = (0..rows.len() as u32).map(key).collect();
        keys.sort_unstable();
        return keys.into_iter().map(|k| k as u32).collect();
    }
    late.sort_unstable_by_key(|&k| key(k));
    let mut out = Vec::with_capacity(rows.len());
    let mut late = late.into_iter().peekable();
    for k in main {
        while let Some(&l) = late.peek() {
            if start(l) < start(k) {
                out.push(l);
                late.next();
            } else {
                break;
            }
        }
        out.push(k);
    }
    out.extend(late);
    out
}

#[cfg(test)]
mod tests {
    use super::start_order;
    use crate::export::parquet::calls::Pending;

    fn row(start_ns: i64, depth: u32) -> Pending {
        Pending {
            call_id: 0,
            parent_id: 0,
            start_ns,
            dur_ns: 0,
            self_ns: 0,
            func: 0,
            depth,
            suspensions: 0,
            name: 0,
            flags: 0,
        }
    }

    /// The rows of a random thread as the replay hands them over (at their exits), times often equal.
    fn post_order(seed: u64, n: usize) -> Vec<Pending> {
        let mut x = seed | 1;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut t, mut open, mut rows) = (0i64, Vec::new(), Vec::new());
        while rows.len() < n {
            t += (rand() % 3) as i64;
            if open.is_empty() || (rand() % 2 == 0 && open.len() < 12) {
                open.push(t);
            } else {
                let start = open.pop().unwrap();
                rows.push(row(start, open.len() as u32));
            }
        }
        rows
    }

    fn check(rows: &[Pending]) {
        let order = start_order(rows);
        let mut seen = order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..rows.len() as u32).collect::<Vec<_>>(), "a permutation");
        let keys: Vec<_> = order.iter().map(|&k| rows[k as usize].start_ns).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn rows_in_exit_order_come_out_in_start_order() {
        for seed in 1..200 {
            // Batches cut anywhere: their first rows' callers ended in an earlier batch, the last ones' later.
            let rows = post_order(seed, 1 + (seed as usize * 37) % 500);
            check(&rows);
            check(&rows[rows.len() / 3..]);
        }
    }

    #[test]
    fn a_few_rows_out_of_place_are_merged_back() {
        for seed in 1..50 {
            let mut rows = post_order(seed, 2000);
            // Generators' rows: they started long before the calls around them when they ended.
            for k in (0..rows.len()).step_by(97 + seed as usize) {
                rows[k].start_ns /= 2;
            }
            check(&rows);
        }
    }

    #[test]
    fn rows_not_nested_by_time_are_sorted() {
        // A generator's row (depth 1) starting before its resumer's caller, and a clock going back.
        check(&[row(10, 2), row(5, 1), row(8, 0), row(20, 0), row(3, 0)]);
    }
}
