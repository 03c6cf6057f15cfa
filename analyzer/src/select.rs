//! Choosing what a report shows: which processes, threads and functions, and whether threads or processes are
//! merged. A [`Selection`] turns an [`Analysis`] into [`View`]s, one per root of the report.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

use crate::hist::FuncHists;
use crate::profile::{Analysis, LineStat, ThreadProfile};
use crate::report::sorted_children;
use crate::tree::{Children, Tree, Unfinished, NO_NODE};

/// What to show. The default shows everything, one root per process and thread.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these processes (empty: all).
    pub pids: Vec<u32>,
    /// Only threads with one of these names or ids (empty: all).
    pub threads: Vec<String>,
    /// Only stacks with a function whose name matches (like grep on folded stacks): other frames stay as
    /// context but keep no self time of their own.
    pub func: Option<Regex>,
    /// Threads whose name matches one of these globs (`Thread-*`) become one root per process and pattern
    /// (`4510-Thread-*`): a thread-per-request server's thousands of short threads read as one.
    pub group_threads: Vec<glob::Pattern>,
    /// One root per process (`4510`) instead of per thread.
    pub merge_threads: bool,
    /// One root for everything (`all`).
    pub merge_processes: bool,
}

/// One root of a report: a thread, a process, or everything.
/// Borrows the analysis where nothing is merged or filtered (a big profile's trees are gigabytes).
#[derive(Debug, Clone)]
pub struct View<'a> {
    /// `4510-Thread-5`, `4510` or `all`.
    pub root: String,
    pub pid: Option<u32>,
    pub thread: Option<String>,
    pub tree: Cow<'a, Tree>,
    pub hists: Cow<'a, FuncHists>,
    pub lines: Cow<'a, [LineStat]>,
    /// [`View::order`], made at the first report that asks.
    order: OnceLock<TreeOrder>,
}

/// A view's tree in the order reports walk it: each node's children sorted by function name, and each node's
/// self time. Made once and shared by the reports drawn from the view (`pylu-processlogs`' summary, folded
/// file and flamegraph each sorted every tree again).
#[derive(Debug, Clone)]
pub struct TreeOrder {
    pub children: Children,
    pub selfs: Vec<u64>,
}

impl View<'_> {
    /// The tree's [`TreeOrder`] (the tree must not change once it is asked for).
    pub fn order(&self, a: &Analysis) -> &TreeOrder {
        self.order.get_or_init(|| TreeOrder { children: sorted_children(a, &self.tree), selfs: self.tree.self_times() })
    }
}

impl Selection {
    /// Whether the thread is selected (process and thread filters).
    pub fn wants_thread(&self, pid: u32, tid: u64, thread: &str) -> bool {
        (self.pids.is_empty() || self.pids.contains(&pid))
            && (self.threads.is_empty() || self.threads.iter().any(|want| names_thread(want, tid, thread)))
    }

    /// Whether a function name passes `--func`.
    pub fn wants_func(&self, name: &str) -> bool {
        match &self.func {
            None => true,
            Some(r) => r.is_match(name),
        }
    }

    /// The roots to report, in order (pid, thread name, tid).
    pub fn views<'a>(&self, a: &'a Analysis) -> Vec<View<'a>> {
        let chosen: Vec<&ThreadProfile> =
            a.threads.iter().filter(|t| self.wants_thread(t.pid, t.tid, &t.thread)).collect();
        let mut views: Vec<View> = Vec::new();
        if self.merge_processes {
            let mut acc: Option<ThreadProfile> = None;
            for t in chosen {
                match &mut acc {
                    None => acc = Some(t.clone()),
                    Some(x) => x.merge(t.clone()),
                }
            }
            if let Some(t) = acc {
                views.push(View {
                    root: "all".into(),
                    pid: None,
                    thread: None,
                    tree: Cow::Owned(t.tree),
                    hists: Cow::Owned(t.hists),
                    lines: Cow::Owned(t.lines),
                    order: OnceLock::new(),
                });
            }
        } else if self.merge_threads {
            let process_view = |x: ThreadProfile| View {
                root: x.pid.to_string(),
                pid: Some(x.pid),
                thread: None,
                tree: Cow::Owned(x.tree),
                hists: Cow::Owned(x.hists),
                lines: Cow::Owned(x.lines),
                order: OnceLock::new(),
            };
            let mut cur: Option<ThreadProfile> = None;
            for t in chosen {
                match &mut cur {
                    Some(x) if x.pid == t.pid => x.merge(t.clone()),
                    _ => {
                        if let Some(x) = cur.take() {
                            views.push(process_view(x));
                        }
                        cur = Some(t.clone());
                    }
                }
            }
            if let Some(x) = cur {
                views.push(process_view(x));
            }
        } else if !self.group_threads.is_empty() {
            // Per process, each pattern's root where its first thread would be; others keep their place.
            let mut groups: Vec<(u32, usize, usize)> = Vec::new(); // (pid, pattern, index in `views`)
            let mut merged: Vec<Option<ThreadProfile>> = Vec::new();
            for t in chosen {
                match self.group_threads.iter().position(|p| p.matches(&t.thread)) {
                    None => {
                        merged.push(None);
                        views.push(thread_view(t));
                    }
                    Some(k) => match groups.iter().find(|g| g.0 == t.pid && g.1 == k) {
                        Some(g) => merged[g.2].as_mut().expect("a group's profile").merge(t.clone()),
                        None => {
                            groups.push((t.pid, k, views.len()));
                            merged.push(Some(t.clone()));
                            views.push(thread_view(t));
                        }
                    },
                }
            }
            for (pid, k, i) in groups {
                let x = merged[i].take().expect("a group's profile");
                let pattern = self.group_threads[k].as_str();
                views[i] = View {
                    root: format!("{pid}-{pattern}"),
                    pid: Some(pid),
                    thread: Some(pattern.to_owned()),
                    tree: Cow::Owned(x.tree),
                    hists: Cow::Owned(x.hists),
                    lines: Cow::Owned(x.lines),
                    order: OnceLock::new(),
                };
            }
        } else {
            views.extend(chosen.into_iter().map(thread_view));
        }
        if let Some(re) = &self.func {
            for v in &mut views {
                v.tree = Cow::Owned(filter_tree(&v.tree, |f| re.is_match(a.func_name(f))));
                v.lines.to_mut().retain(|l| re.is_match(a.func_name(l.func)));
                v.hists.to_mut().retain(|f| re.is_match(a.func_name(f)));
            }
        }
        views
    }
}

impl Selection {
    /// One line per filter that selects nothing in `a` (`--pid 123: no such process`), for a report that
    /// would otherwise come out empty without saying why (a typo in a CI script). An empty analysis gets only
    /// `--pid`'s (the analysis kept nothing but the processes it names): the other filters cannot be wrong about
    /// nothing.
    pub fn unmatched(&self, a: &Analysis) -> Vec<String> {
        let mut notes = Vec::new();
        // The analysis keeps only the processes `--pid` names (`Options::pids`): a pid with no thread is absent.
        let pids: Vec<u32> = self.pids.iter().copied().filter(|p| !a.threads.iter().any(|t| t.pid == *p)).collect();
        if !pids.is_empty() {
            let s = if pids.len() == 1 { "" } else { "es" };
            notes.push(format!("--pid {}: no such process{s} in the input", join(&pids)));
        }
        if a.threads.is_empty() && a.events.is_empty() {
            return notes;
        }
        let in_pids = |t: &&ThreadProfile| self.pids.is_empty() || self.pids.contains(&t.pid);
        for want in &self.threads {
            if !a.threads.iter().filter(in_pids).any(|t| names_thread(want, t.tid, &t.thread)) {
                notes.push(format!("--thread {want}: no thread of that name or id"));
            }
        }
        let chosen = || a.threads.iter().filter(|t| self.wants_thread(t.pid, t.tid, &t.thread));
        for g in &self.group_threads {
            if !chosen().any(|t| g.matches(&t.thread)) {
                notes.push(format!("--group-threads {}: matches no thread", g.as_str()));
            }
        }
        if let Some(re) = &self.func {
            // The regex once per function, not once per tree node.
            let matching: Vec<bool> = a.functions.iter().map(|f| re.is_match(&f.name)).collect();
            let used = |f: u32| matching.get(f as usize).copied().unwrap_or(false);
            let called = chosen()
                .any(|t| t.tree.nodes.iter().skip(1).any(|n| used(n.func)) || t.lines.iter().any(|l| used(l.func)));
            let recorded = a.events.iter().any(|e| used(e.func) && self.wants_thread(e.pid, e.tid, &e.thread));
            if !called && !recorded && chosen().next().is_some() {
                notes.push(format!("--func {}: matches no function called in the selected threads", re.as_str()));
            }
        }
        notes
    }
}

/// Whether `--thread want` names this thread: its name, or its id in decimal.
fn names_thread(want: &str, tid: u64, thread: &str) -> bool {
    want == thread || want == tid.to_string()
}

/// `1, 2, 3`.
fn join(values: &[u32]) -> String {
    values.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// `pattern` compiled for `--func`, or one line saying why not (regex's own message takes three: the pattern
/// again, a caret under the fault, the reason).
pub fn func_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let lines: Vec<&str> = text.lines().collect();
        let why = lines.iter().rev().find_map(|l| l.strip_prefix("error: ")).or(lines.last().copied()).unwrap_or("");
        // The caret sits under the pattern, which regex indents by four spaces.
        let caret = lines.iter().find_map(|l| l.trim_end().ends_with('^').then(|| l.chars().position(|c| c == '^')));
        match caret.flatten() {
            Some(col) if col >= 4 => format!("bad --func regex {pattern:?}: {why} (at character {})", col - 3),
            _ => format!("bad --func regex {pattern:?}: {why}"),
        }
    })
}

/// The root of one thread, borrowing its profile.
fn thread_view(t: &ThreadProfile) -> View<'_> {
    View {
        root: t.root_name(),
        pid: Some(t.pid),
        thread: Some(t.thread.clone()),
        tree: Cow::Borrowed(&t.tree),
        hists: Cow::Borrowed(&t.hists),
        lines: Cow::Borrowed(&t.lines),
        order: OnceLock::new(),
    }
}

/// The stacks of `tree` that hold a frame `matches` accepts: matching frames and what they call keep their
/// hits and times; their callers stay as context and show only the paths that lead to a match: no self time,
/// a total that is the sum of what they lead to, and as hits the calls that can have led to one (their own
/// hits, but no more than the hits of the kept calls under them: a tree node does not know which of its calls
/// made which callee's, so this is the tightest count the tree holds; with one match per call it is exact).
pub fn filter_tree(tree: &Tree, matches: impl Fn(u32) -> bool) -> Tree {
    let n = tree.nodes.len();
    let mut in_match = vec![false; n];
    for (i, node) in tree.nodes.iter().enumerate() {
        let parent = node.parent != NO_NODE && in_match[node.parent as usize];
        in_match[i] = parent || (i != 0 && matches(node.func));
    }
    let mut keep = in_match.clone();
    keep[0] = true;
    for i in (1..n).rev() {
        if keep[i] {
            keep[tree.nodes[i].parent as usize] = true;
        }
    }
    let selfs = tree.self_times();
    let mut total: Vec<u64> = (0..n).map(|i| if in_match[i] { selfs[i] } else { 0 }).collect();
    for i in (1..n).rev() {
        if keep[i] {
            total[tree.nodes[i].parent as usize] += total[i];
        }
    }
    // Context frames' hits: bounded by the hits of the kept calls under them (children come after parents).
    let mut hits: Vec<u64> = vec![0; n];
    let mut below: Vec<u64> = vec![0; n];
    for i in (1..n).rev() {
        if !keep[i] {
            continue;
        }
        let own = tree.nodes[i].stats.hits;
        hits[i] = if in_match[i] { own } else { own.min(below[i]) };
        below[tree.nodes[i].parent as usize] += hits[i];
    }
    let mut out = Tree::new();
    let mut map = vec![NO_NODE; n];
    map[0] = 0;
    out.nodes[0].stats.total_ns = total[0];
    for i in 1..n {
        if !keep[i] {
            continue;
        }
        let node = &tree.nodes[i];
        let to = out.child(map[node.parent as usize], node.func);
        map[i] = to;
        let s = &mut out.nodes[to as usize].stats;
        *s = node.stats;
        s.total_ns = total[i];
        if in_match[i] {
            out.set_sum_ns(to, tree.sum_ns(i as u32));
        } else {
            // A context frame's durations are those of the paths it leads to; its calls' own extremes are not
            // known for them.
            s.hits = hits[i];
            s.min_ns = 0;
            s.max_ns = 0;
        }
    }
    // Unfinished calls (few nodes): a context frame's, within the hits and time it shows.
    for (i, u) in tree.unfinished_nodes() {
        let (i, to) = (i as usize, map[i as usize]);
        if to == NO_NODE {
            continue;
        }
        let u = if in_match[i] { u } else { Unfinished { calls: u.calls.min(hits[i]), ns: u.ns.min(total[i]) } };
        out.add_unfinished(to, u);
    }
    out
}

#[cfg(test)]
mod func_regex_tests {
    use super::func_regex;

    #[test]
    fn a_bad_pattern_is_one_line_with_its_reason_and_place() {
        assert!(func_regex("^db\\.").is_ok());
        assert_eq!(func_regex("x(").unwrap_err(), r#"bad --func regex "x(": unclosed group (at character 2)"#);
        let err = func_regex("a{99999999}").unwrap_err();
        assert!(err.starts_with(r#"bad --func regex "a{99999999}": "#) && !err.contains('\n'), "{err}");
    }
}
