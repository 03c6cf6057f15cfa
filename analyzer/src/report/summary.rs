//! The summary: per root, the indented call tree (function, hits, total, time per hit, self), then a flat
//! table of functions over everything selected (hits, total, self, mean, p50, p90, p99, max). As text (the
//! `.summary` file), JSON (an interface, see docs/JSON.md) or CSV.

use std::collections::HashMap;
use std::io::{self, Write};

use crate::report::table::write_markdown;
use rayon::prelude::*;
use serde::Serialize;

use crate::hist::LatencyHist;
use crate::profile::Analysis;
use crate::report::{ms, ms_fine, push_ms, push_u64, us};
use crate::select::{TreeOrder, View};
use crate::tree::{Children, Stats, Tree, Unfinished, NO_NODE};

/// What orders the flat table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    SelfTime,
    Total,
    Hits,
    P99,
}

#[derive(Debug, Clone)]
pub struct SummaryOptions {
    pub sort: SortBy,
    /// Rows of the flat table (`None`: all).
    pub top: Option<usize>,
    /// The text tree leaves out call sites under this percentage of their root's total (with their callees),
    /// and says how many: a big profile has millions of distinct stacks. JSON always has the whole tree.
    pub min_tree_percent: f64,
    /// The command the text's hints name (`pylu-analyze summary` or `pylu-processlogs`), with the options it
    /// takes to group threads.
    pub command: &'static str,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions { sort: SortBy::SelfTime, top: None, min_tree_percent: 0.1, command: "pylu-analyze summary" }
    }
}

/// One function over every selected root.
#[derive(Debug, Clone)]
pub struct FuncStat {
    pub func: u32,
    pub name: String,
    /// Time in calls of the function, counted once however deep it recursed.
    pub total_ns: u64,
    pub self_ns: u64,
    /// Hits, min and max over all its calls.
    pub stats: Stats,
    /// Their summed whole durations (for the exact mean).
    pub sum_ns: u64,
    /// The distribution of its calls' durations.
    pub hist: Option<LatencyHist>,
    /// Its calls that never ended (in `stats.hits`; their time counted like `total_ns`).
    pub unfinished: Unfinished,
}

impl FuncStat {
    /// The duration at quantile `q` (0..=1), in ns: the middle of its histogram bucket, kept within what was
    /// seen (a bucket's top can exceed the max).
    pub fn quantile_ns(&self, q: f64) -> u64 {
        match &self.hist {
            Some(h) if self.stats.hits > 0 => {
                h.quantile(q).map_or(self.stats.min_ns, |v| v.clamp(self.stats.min_ns, self.stats.max_ns))
            }
            _ => self.stats.min_ns,
        }
    }

    pub fn mean_ns(&self) -> u64 {
        self.sum_ns.checked_div(self.stats.hits).unwrap_or(0)
    }
}

/// Per-function totals over `views`, ordered by `sort` (ties by name).
pub fn function_stats(a: &Analysis, views: &[View], sort: SortBy) -> Vec<FuncStat> {
    top_functions(a, views, sort, None).0
}

/// The first `top` rows (all with `None`) of [`function_stats`], and how many functions it has in all. Only
/// the rows returned get their histogram (the merge of every thread's), unless the order itself needs them.
pub fn top_functions(a: &Analysis, views: &[View], sort: SortBy, top: Option<usize>) -> (Vec<FuncStat>, usize) {
    let shares: Vec<Vec<(u32, Share)>> = views.par_iter().map(|v| shares_of(&v.tree, a.functions.len())).collect();
    let mut by_func: Vec<Option<FuncStat>> = vec![None; a.functions.len()];
    let mut hists_of: Vec<Vec<&LatencyHist>> = vec![Vec::new(); a.functions.len()];
    for (v, shares) in views.iter().zip(&shares) {
        for &(f, share) in shares {
            let f = f as usize;
            let e = by_func[f].get_or_insert_with(|| FuncStat {
                func: f as u32,
                name: a.functions[f].name.clone(),
                total_ns: 0,
                self_ns: 0,
                stats: Stats::default(),
                sum_ns: 0,
                hist: None,
                unfinished: Unfinished::default(),
            });
            e.total_ns += share.total_ns;
            e.unfinished.add(share.unfinished);
            e.self_ns += share.self_ns;
            e.stats.merge(&share.stats);
            e.sum_ns += share.sum_ns;
        }
        for (f, h) in v.hists.iter() {
            if let Some(Some(_)) = by_func.get(f as usize) {
                hists_of[f as usize].push(h);
            }
        }
    }
    // Merging every thread's histograms is a few thousand additions of kilobyte arrays: one function per task.
    let merge = |rows: &mut [FuncStat]| {
        rows.par_iter_mut().for_each(|e| {
            if let Some((first, rest)) = hists_of[e.func as usize].split_first() {
                let mut merged = (*first).clone();
                for h in rest {
                    merged.add(h);
                }
                e.hist = Some(merged);
            }
        })
    };
    let mut rows: Vec<FuncStat> =
        by_func.into_iter().flatten().filter(|f| f.stats.hits > 0 || f.total_ns > 0).collect();
    let functions = rows.len();
    if sort == SortBy::P99 {
        merge(&mut rows);
    }
    let key = |f: &FuncStat| -> u64 {
        match sort {
            SortBy::SelfTime => f.self_ns,
            SortBy::Total => f.total_ns,
            SortBy::Hits => f.stats.hits,
            SortBy::P99 => f.quantile_ns(0.99),
        }
    };
    rows.sort_by(|x, y| key(y).cmp(&key(x)).then_with(|| x.name.cmp(&y.name)));
    rows.truncate(top.unwrap_or(functions));
    if sort != SortBy::P99 {
        merge(&mut rows);
    }
    (rows, functions)
}

/// One tree's part of a function's [`FuncStat`].
#[derive(Debug, Clone, Copy, Default)]
struct Share {
    /// The function has a node under the root.
    seen: bool,
    total_ns: u64,
    self_ns: u64,
    /// Hits, min and max (its `total_ns` stays 0: totals are counted apart, see `total_ns`).
    stats: Stats,
    sum_ns: u64,
    unfinished: Unfinished,
}

/// The [`Share`] of `tree` of each function it calls (by label, of `functions` labels), in label order. Only
/// those: a profile can have thousands of threads and of functions.
fn shares_of(tree: &Tree, functions: usize) -> Vec<(u32, Share)> {
    let mut shares = vec![Share::default(); functions];
    let nodes = &tree.nodes;
    // Nodes under the root: parents come before their children (see `Tree`), so one pass in node order finds
    // them. The sums that do not depend on the path are taken in the same order: a depth-first walk over the
    // nodes themselves costs a cache miss per node on a tree of a million nodes.
    let mut under_root = vec![false; nodes.len()];
    let selfs = tree.self_times();
    for (n, node) in nodes.iter().enumerate().skip(1) {
        if node.parent == NO_NODE || !(node.parent == 0 || under_root[node.parent as usize]) {
            continue;
        }
        under_root[n] = true;
        let share = &mut shares[node.func as usize];
        share.seen = true;
        share.self_ns += selfs[n];
        let stats = Stats { total_ns: 0, ..node.stats };
        share.stats.merge(&stats);
        share.sum_ns += tree.sum_ns(n as u32);
    }
    // A recursive call's time is already in its outer call's: depth first, with a count of each function on
    // the current path, over the labels and totals copied into arrays of their own.
    let funcs: Vec<u32> = nodes.iter().map(|n| n.func).collect();
    let totals: Vec<u64> = nodes.iter().map(|n| n.stats.total_ns).collect();
    let ch = tree.children();
    let mut on_path = vec![0u32; functions];
    // Which nodes have no caller of their function above them, for the unfinished calls below: a walk up from
    // each would be quadratic in a thread killed 200,000 calls deep (every frame of it unfinished).
    let mut outermost = vec![false; if tree.has_unfinished() { nodes.len() } else { 0 }];
    let mut stack: Vec<(u32, bool)> = ch[0].iter().map(|&c| (c, false)).collect();
    while let Some((n, leaving)) = stack.pop() {
        let f = funcs[n as usize] as usize;
        if leaving {
            on_path[f] -= 1;
            continue;
        }
        if on_path[f] == 0 {
            shares[f].total_ns += totals[n as usize];
            if let Some(o) = outermost.get_mut(n as usize) {
                *o = true;
            }
        }
        on_path[f] += 1;
        stack.push((n, true));
        stack.extend(ch[n as usize].iter().map(|&c| (c, false)));
    }
    // The few nodes with unfinished calls: their time counts once, like totals, in the outermost call.
    for (n, u) in tree.unfinished_nodes() {
        if under_root[n as usize] {
            let ns = if outermost[n as usize] { u.ns } else { 0 };
            shares[funcs[n as usize] as usize].unfinished.add(Unfinished { calls: u.calls, ns });
        }
    }
    shares.into_iter().enumerate().filter(|(_, s)| s.seen).map(|(f, s)| (f as u32, s)).collect()
}

/// The calls of `tree`'s root that never ended.
fn unfinished_calls(tree: &Tree) -> u64 {
    tree.unfinished_nodes().map(|(_, u)| u.calls).sum()
}

/// Levels of a call tree that the text summary shows; call sites deeper are counted, not shown. Each level
/// indents its line further, so a recursion 200,000 calls deep would make the text quadratic in size (the
/// folded stacks and the flamegraph show every level).
pub const MAX_TREE_DEPTH: usize = 1000;

/// Levels of a call tree in the JSON summary: each is two levels of JSON nesting, and Python's `json` module
/// (before 3.13) raises `RecursionError` at about 1,000.
pub const MAX_JSON_TREE_DEPTH: usize = 400;

/// The text summary (what `pylu-processlogs` writes to `<name>.summary`).
pub fn write_text(a: &Analysis, views: &[View], o: &SummaryOptions, out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::new(out);
    // A thread that recorded no call (the stub's own command thread, or one the filters emptied) would be a
    // heading over an empty table: it is named once, after the trees.
    let mut empty: Vec<&str> = Vec::new();
    let (mut row, mut cell): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    for v in views {
        let tree = &v.tree;
        if tree.nodes.len() == 1 {
            empty.push(&v.root);
            continue;
        }
        let TreeOrder { children: ch, selfs } = v.order(a);
        let hits: u64 = tree.nodes.iter().skip(1).map(|n| n.stats.hits).sum();
        writeln!(w, "{}: {} calls, {} ms", v.root, hits, ms(tree.nodes[0].stats.total_ns))?;
        writeln!(w, "{:<60} {:>10} {:>12} {:>12} {:>12}", "function", "hit", "total ms", "time/hit ms", "self ms")?;
        let cutoff = (tree.nodes[0].stats.total_ns as f64 * o.min_tree_percent / 100.0) as u64;
        let (mut hidden, mut deeper) = (0u64, 0u64);
        let mut stack: Vec<(u32, usize)> = ch[0].iter().rev().map(|&c| (c, 1)).collect();
        while let Some((n, depth)) = stack.pop() {
            let node = &tree.nodes[n as usize];
            let s = &node.stats;
            if s.total_ns < cutoff {
                hidden += 1;
                continue;
            }
            if depth > MAX_TREE_DEPTH {
                deeper += 1;
                continue;
            }
            // The row as `{:<60} {:>10} {:>12} {:>12} {:>12}` pads it (by characters), without the formatting
            // machinery, which padded it a character at a time and cost ~700 instructions a number (a summary
            // has thousands of rows).
            row.clear();
            let name = a.func_name(node.func);
            row.resize(depth * 2, b' ');
            row.extend_from_slice(name.as_bytes());
            row.resize(row.len() + 60usize.saturating_sub(depth * 2 + name.chars().count()), b' ');
            let per_hit = s.total_ns.checked_div(s.hits);
            push_cell(&mut row, &mut cell, 10, |c| push_u64(c, s.hits));
            push_cell(&mut row, &mut cell, 12, |c| push_ms(c, s.total_ns));
            push_cell(&mut row, &mut cell, 12, |c| match per_hit {
                Some(ns) => push_ms(c, ns),
                None => c.push(b'-'),
            });
            push_cell(&mut row, &mut cell, 12, |c| push_ms(c, selfs[n as usize]));
            row.push(b'\n');
            w.write_all(&row)?;
            stack.extend(ch[n as usize].iter().rev().map(|&c| (c, depth + 1)));
        }
        if hidden > 0 {
            writeln!(
                w,
                "  ({hidden} call sites under {}% of the total not shown, with their callees; `summary --min-percent 0` shows all)",
                o.min_tree_percent
            )?;
        }
        if deeper > 0 {
            writeln!(w, "  ({deeper} call sites deeper than {MAX_TREE_DEPTH} levels not shown, with their callees)")?;
        }
        let unfinished = unfinished_calls(tree);
        if unfinished > 0 {
            let s = if unfinished == 1 { "" } else { "s" };
            writeln!(
                w,
                "  ({unfinished} call{s} never ended, still running or suspended at the thread's last event: counted as hits, their time runs to that event)"
            )?;
        }
        writeln!(w)?;
    }
    if !empty.is_empty() {
        // A large thread pool can have hundreds of idle threads: the first few names say what they are, each once
        // (threads of one process can share a name: a command thread per connection, a pool's restarted workers).
        const NAMED: usize = 10;
        let (n, s) = (empty.len(), if empty.len() == 1 { "" } else { "s" });
        let mut names: Vec<(&str, usize)> = Vec::new();
        for root in &empty {
            match names.iter_mut().find(|(name, _)| name == root) {
                Some((_, count)) => *count += 1,
                None => names.push((root, 1)),
            }
        }
        let more = if names.len() > NAMED { format!(" and {} more", names.len() - NAMED) } else { String::new() };
        let shown: Vec<String> = names
            .iter()
            .take(NAMED)
            .map(|&(name, count)| if count == 1 { name.to_owned() } else { format!("{name} ×{count}") })
            .collect();
        writeln!(w, "({n} thread{s} without profiled calls not shown: {}{more})", shown.join(", "))?;
        writeln!(w)?;
    }
    if let Some((n, pattern)) = alike_threads(views) {
        writeln!(
            w,
            "({n} threads named like '{pattern}': `{} --group-threads '{pattern}'` shows them as one tree per process, `--merge-threads` every thread as one)",
            o.command
        )?;
        writeln!(w)?;
    }
    let (funcs, functions) = top_functions(a, views, o.sort, o.top);
    writeln!(w, "top {} of {} functions by {}:", funcs.len(), functions, sort_name(o.sort))?;
    let rows: Vec<Vec<String>> = funcs
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                f.stats.hits.to_string(),
                ms_fine(f.total_ns),
                ms_fine(f.self_ns),
                ms_fine(f.mean_ns()),
                ms_fine(f.quantile_ns(0.5)),
                ms_fine(f.quantile_ns(0.99)),
                ms_fine(f.stats.max_ns),
            ]
        })
        .collect();
    let header = ["function", "hits", "total ms", "self ms", "mean ms", "p50 ms", "p99 ms", "max ms"];
    // The warnings line is not part of the report: the binaries print it once, on stderr.
    write_markdown(&mut w, &header, &rows, |c| (1..8).contains(&c))?;
    w.flush()
}

/// Appends to `row` a space and what `write` writes, right-aligned in `width` characters (`cell` is scratch).
fn push_cell(row: &mut Vec<u8>, cell: &mut Vec<u8>, width: usize, write: impl FnOnce(&mut Vec<u8>)) {
    cell.clear();
    write(cell);
    // Numbers are ASCII: their length is their width in characters.
    row.resize(row.len() + 1 + width.saturating_sub(cell.len()), b' ');
    row.extend_from_slice(cell);
}

/// The fewest threads alike (see [`alike_threads`]) that the text summary suggests grouping.
pub const MANY_ALIKE_THREADS: usize = 8;

/// The largest set of shown threads whose names differ only in their numbers, when it has at least
/// [`MANY_ALIKE_THREADS`]: (how many, a `--group-threads` glob matching them). Thread-per-request servers
/// (socketserver's ThreadingMixIn, so Flask's and Django's development servers) name each request's thread
/// afresh, `Thread-412 (process_request_thread)`: hundreds of one-request trees, which read better as one.
pub fn alike_threads(views: &[View]) -> Option<(usize, String)> {
    let mut shapes: HashMap<String, usize> = HashMap::new();
    for v in views {
        let Some(thread) = v.thread.as_deref() else { continue };
        if v.tree.nodes.len() == 1 || !thread.bytes().any(|b| b.is_ascii_digit()) {
            continue;
        }
        // Each run of digits becomes `*`; everything else is matched literally.
        let mut glob = String::with_capacity(thread.len());
        let mut in_digits = false;
        for c in thread.chars() {
            if c.is_ascii_digit() {
                if !in_digits {
                    glob.push('*');
                }
                in_digits = true;
            } else {
                in_digits = false;
                glob.push_str(&glob::Pattern::escape(c.encode_utf8(&mut [0; 4])));
            }
        }
        *shapes.entry(glob).or_default() += 1;
    }
    let (glob, n) = shapes.into_iter().max_by(|x, y| x.1.cmp(&y.1).then_with(|| y.0.cmp(&x.0)))?;
    // A quote would end the shell word the suggestion shows.
    (n >= MANY_ALIKE_THREADS && !glob.contains('\'')).then_some((n, glob))
}

fn sort_name(s: SortBy) -> &'static str {
    match s {
        SortBy::SelfTime => "self time",
        SortBy::Total => "total time",
        SortBy::Hits => "hits",
        SortBy::P99 => "p99",
    }
}

/// The one line about calls that could not be matched (never an error).
pub fn warnings_line(a: &Analysis) -> String {
    // Calls still open at the end are cut too when they are not counted as unfinished (`Options::unfinished`).
    let cut = if a.warnings.unfinished > 0 {
        "calls cut without their exit (an exception the log did not record, or damage)"
    } else {
        "calls that never ended (cut by an exception or the end of the input)"
    };
    let mut line = format!(
        "warning: {cut}: {}; exits or resumes that matched no call (calls already running when recording began, or damage): {}",
        a.warnings.cut_calls, a.warnings.unmatched
    );
    if a.warnings.wrong_cuts > 0 {
        line += &format!(
            "; of the calls cut, {} ended later than the text log was read ahead (--text-read-ahead)",
            a.warnings.wrong_cuts
        );
    }
    line
}

/// When text logs were analyzed again with a longer read-ahead than the `requested` one
/// (`Options::text_read_ahead_retry`), a line that says so.
pub fn read_again_note(a: &Analysis, requested: usize) -> Option<String> {
    (a.text_read_ahead > requested).then(|| {
        format!(
            "note: text logs read again {} events ahead, since a call taken for a raised request's ended after all (a recursive request handler)",
            a.text_read_ahead
        )
    })
}

#[derive(Serialize)]
struct JsonFunction<'a> {
    function: &'a str,
    hits: u64,
    total_us: f64,
    self_us: f64,
    mean_us: f64,
    min_us: f64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    max_us: f64,
    #[serde(flatten)]
    unfinished: JsonUnfinished,
}

/// Calls counted in `hits` that never ended, and the part of `total_us` they ran up to their thread's last
/// event: both present only when some did.
#[derive(Serialize)]
struct JsonUnfinished {
    #[serde(skip_serializing_if = "Option::is_none")]
    unfinished: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unfinished_us: Option<f64>,
}

impl From<Unfinished> for JsonUnfinished {
    fn from(u: Unfinished) -> Self {
        let some = u.calls > 0;
        JsonUnfinished { unfinished: some.then_some(u.calls), unfinished_us: some.then(|| us(u.ns)) }
    }
}

#[derive(Serialize)]
struct JsonNode<'a> {
    function: &'a str,
    hits: u64,
    total_us: f64,
    self_us: f64,
    #[serde(flatten)]
    unfinished: JsonUnfinished,
    children: Vec<JsonNode<'a>>,
}

#[derive(Serialize)]
struct JsonThread<'a> {
    root: &'a str,
    pid: Option<u32>,
    thread: Option<&'a str>,
    total_us: f64,
    /// Calls of this root that never ended (present only when not 0).
    #[serde(skip_serializing_if = "is_zero")]
    unfinished: u64,
    tree: Vec<JsonNode<'a>>,
    /// Call sites deeper than [`MAX_JSON_TREE_DEPTH`] levels, left out of `tree` (with their callees).
    #[serde(skip_serializing_if = "is_zero")]
    deeper_omitted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct JsonWarnings {
    cut_calls: u64,
    unmatched: u64,
    wrong_cuts: u64,
    damaged_input: u64,
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    functions: Vec<JsonFunction<'a>>,
    threads: Vec<JsonThread<'a>>,
    calls: u64,
    /// Calls that never ended, counted as hits (present only when not 0).
    #[serde(skip_serializing_if = "is_zero")]
    unfinished: u64,
    warnings: JsonWarnings,
}

fn json_function(f: &FuncStat) -> JsonFunction<'_> {
    JsonFunction {
        function: &f.name,
        hits: f.stats.hits,
        total_us: us(f.total_ns),
        self_us: us(f.self_ns),
        mean_us: us(f.mean_ns()),
        min_us: us(f.stats.min_ns),
        p50_us: us(f.quantile_ns(0.5)),
        p90_us: us(f.quantile_ns(0.9)),
        p99_us: us(f.quantile_ns(0.99)),
        max_us: us(f.stats.max_ns),
        unfinished: f.unfinished.into(),
    }
}

/// The summary as one JSON object (docs/JSON.md).
pub fn write_json(a: &Analysis, views: &[View], o: &SummaryOptions, out: &mut dyn Write) -> io::Result<()> {
    let (funcs, _) = top_functions(a, views, o.sort, o.top);
    let mut threads = Vec::new();
    for v in views {
        let tree = &v.tree;
        let TreeOrder { children: ch, selfs } = v.order(a);
        /// Node `n`, at `depth` (1 under the root), and its callees down to [`MAX_JSON_TREE_DEPTH`]; `deeper` counts
        /// the call sites left out below.
        struct Build<'a, 'b> {
            a: &'a Analysis,
            v: &'a View<'a>,
            ch: &'b Children,
            selfs: &'b [u64],
            deeper: u64,
        }
        impl<'a> Build<'a, '_> {
            fn node(&mut self, n: u32, depth: usize) -> JsonNode<'a> {
                let node = &self.v.tree.nodes[n as usize];
                let children = if depth < MAX_JSON_TREE_DEPTH {
                    self.ch[n as usize].iter().map(|&c| self.node(c, depth + 1)).collect()
                } else {
                    self.deeper += self.ch[n as usize].len() as u64;
                    Vec::new()
                };
                JsonNode {
                    function: self.a.func_name(node.func),
                    hits: node.stats.hits,
                    total_us: us(node.stats.total_ns),
                    self_us: us(self.selfs[n as usize]),
                    unfinished: self.v.tree.unfinished(n).into(),
                    children,
                }
            }
        }
        let mut b = Build { a, v, ch, selfs, deeper: 0 };
        let roots: Vec<JsonNode> = ch[0].iter().map(|&c| b.node(c, 1)).collect();
        threads.push(JsonThread {
            root: &v.root,
            pid: v.pid,
            thread: v.thread.as_deref(),
            total_us: us(tree.nodes[0].stats.total_ns),
            unfinished: unfinished_calls(tree),
            tree: roots,
            deeper_omitted: b.deeper,
        });
    }
    let doc = JsonSummary {
        functions: funcs.iter().map(json_function).collect(),
        threads,
        calls: a.calls,
        unfinished: a.warnings.unfinished,
        warnings: JsonWarnings {
            cut_calls: a.warnings.cut_calls,
            unmatched: a.warnings.unmatched,
            wrong_cuts: a.warnings.wrong_cuts,
            damaged_input: a.damage_count,
        },
    };
    let mut w = io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut w, &doc)?;
    writeln!(w)?;
    w.flush()
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// The flat function table as CSV (same columns as the JSON `functions`).
pub fn write_csv(a: &Analysis, views: &[View], o: &SummaryOptions, out: &mut dyn Write) -> io::Result<()> {
    let (funcs, _) = top_functions(a, views, o.sort, o.top);
    let mut w = io::BufWriter::new(out);
    writeln!(w, "function,hits,total_us,self_us,mean_us,min_us,p50_us,p90_us,p99_us,max_us")?;
    for f in &funcs {
        let j = json_function(f);
        writeln!(
            w,
            "{},{},{},{},{},{},{},{},{},{}",
            csv_field(j.function),
            j.hits,
            j.total_us,
            j.self_us,
            j.mean_us,
            j.min_us,
            j.p50_us,
            j.p90_us,
            j.p99_us,
            j.max_us
        )?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A tree's per-function shares equal a naive count: each function's total over its calls that have
        /// no caller of the same function above them (recursion counted once), its self times, hits, min and max.
        #[test]
        fn shares_match_a_walk_up_the_callers(
            shape in prop::collection::vec((any::<u16>(), 0u32..6, 1u64..1000, any::<bool>()), 0..200),
            second_root in any::<bool>(),
        ) {
            let mut tree = Tree::new();
            // Calls under a second parentless node (a chunk's anchor) are not under the root: they do not count.
            if second_root {
                tree.add_root();
            }
            for &(parent, func, ns, unfinished) in &shape {
                let n = tree.child(parent as u32 % tree.len() as u32, func);
                tree.nodes[n as usize].stats.observe(ns);
                tree.nodes[n as usize].stats.total_ns += ns;
                if unfinished {
                    tree.add_unfinished(n, Unfinished { calls: 1, ns: ns / 2 });
                }
            }
            // Parents' totals hold their children's, as the machine leaves them.
            for n in (1..tree.len()).rev() {
                let (parent, total) = (tree.nodes[n].parent, tree.nodes[n].stats.total_ns);
                if parent != NO_NODE {
                    tree.nodes[parent as usize].stats.total_ns += total;
                }
            }
            let mut shares = [Share::default(); 6];
            for (f, share) in shares_of(&tree, 6) {
                shares[f as usize] = share;
            }
            let selfs = tree.self_times();
            for f in 0..6u32 {
                let mut want = Share::default();
                for (n, node) in tree.nodes.iter().enumerate().skip(1).filter(|(_, node)| node.func == f) {
                    let mut above = node.parent;
                    let mut recursive = false;
                    while above != 0 && above != NO_NODE {
                        recursive |= tree.nodes[above as usize].func == f;
                        above = tree.nodes[above as usize].parent;
                    }
                    if above != 0 {
                        continue;
                    }
                    want.seen = true;
                    want.self_ns += selfs[n];
                    want.stats.merge(&Stats { total_ns: 0, ..node.stats });
                    want.sum_ns += tree.sum_ns(n as u32);
                    if !recursive {
                        want.total_ns += node.stats.total_ns;
                    }
                    let u = tree.unfinished(n as u32);
                    want.unfinished.add(Unfinished { calls: u.calls, ns: if recursive { 0 } else { u.ns } });
                }
                let got = shares[f as usize];
                prop_assert_eq!(got.unfinished, want.unfinished, "function {}", f);
                prop_assert_eq!(
                    (got.seen, got.total_ns, got.self_ns, got.stats.hits, got.sum_ns, got.stats.min_ns, got.stats.max_ns),
                    (want.seen, want.total_ns, want.self_ns, want.stats.hits, want.sum_ns, want.stats.min_ns, want.stats.max_ns),
                    "function {}", f
                );
            }
        }
    }
}
