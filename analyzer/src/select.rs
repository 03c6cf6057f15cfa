//! Choosing what a report shows: which processes, threads and functions, and whether threads or processes are
//! merged. A [`Selection`] turns an [`Analysis`] into [`View`]s, one per root of the report.

use std::borrow::Cow;

use regex::Regex;

use crate::hist::FuncHists;
use crate::profile::{Analysis, LineStat, ThreadProfile};
use crate::tree::{Tree, NO_NODE};

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
}

impl Selection {
    /// Whether the thread is selected (process and thread filters).
    pub fn wants_thread(&self, pid: u32, tid: u64, thread: &str) -> bool {
        (self.pids.is_empty() || self.pids.contains(&pid))
            && (self.threads.is_empty() || self.threads.iter().any(|t| t == thread || *t == tid.to_string()))
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
        } else {
            for t in chosen {
                views.push(View {
                    root: t.root_name(),
                    pid: Some(t.pid),
                    thread: Some(t.thread.clone()),
                    tree: Cow::Borrowed(&t.tree),
                    hists: Cow::Borrowed(&t.hists),
                    lines: Cow::Borrowed(&t.lines),
                });
            }
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

/// The stacks of `tree` that hold a frame `matches` accepts: matching frames and what they call keep their
/// times; their callers stay as context with no self time, so the flamegraph shows only matching stacks.
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
        out.set_sum_ns(to, tree.sum_ns(i as u32));
    }
    out
}
