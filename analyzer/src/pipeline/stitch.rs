//! Stitching: each unit's per-thread partial results joined onto its thread's state, in order, on one thread;
//! then, at the end, every thread's tree finished and labelled with the global function table.
//!
//! Function labels: a binary file's ids stay the thread's labels until the end (a function may be defined in a
//! later block than its first use) and are turned into global ids by [`Stitcher::finish`]; a text-log unit's
//! interned names are turned into global ids as the unit is stitched.
//!
//! Functions are one per name (every definition's calls under it); line timings are kept per definition (a
//! binary id's `FuncDef`, a text log's name and `pathname`), since a redefined function's line numbers are
//! lines of another file.

use std::collections::BTreeMap;

use pylu_formats::event::join_name;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::decode::{LineTotal, NamedFunc, UnitOut};
use super::{total_bytes, Options};
use crate::input::Input;
use crate::machine::{ThreadAgg, Warnings};
use crate::profile::{Analysis, Damage, DebugEvent, Definition, Function, LineStat, Location, ThreadProfile};
use crate::tree::{Tree, NO_FUNC};

/// A binary trace: its file's index, and which trace of the file it is.
type TraceKey = (u32, u32);

/// What a binary trace's function id stands for: a global function and the definition the id's `FuncDef` gave.
#[derive(Debug, Clone, Copy)]
struct GlobalIds {
    func: u32,
    def: u32,
}

/// Per binary trace: its function ids → global ids.
type FileDefs = FxHashMap<TraceKey, FxHashMap<u32, GlobalIds>>;

/// Damage reports kept in full (the rest are only counted).
pub const MAX_DAMAGE_KEPT: usize = 20;

/// Whose function labels a thread's state holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Labels {
    /// A binary trace's ids (the file's index, the trace's within the file: traces joined with `cat` each have
    /// their own): a thread of each trace has its own state, until the end.
    File(u32, u32),
    /// Global ids (text logs).
    Global,
}

/// The key of a thread's state, in the order threads are finished and merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ThreadKey {
    pid: u32,
    tid: u64,
    labels: Labels,
}

/// One thread as stitched so far.
#[derive(Debug)]
struct ThreadState {
    agg: ThreadAgg,
    name: Option<String>,
    /// By (definition, line): a binary trace's function id (it names one definition), or a global definition
    /// id (text logs).
    lines: FxHashMap<(u32, u32), LineTotal>,
    /// Without `collect_lines`: the functions with line records.
    line_funcs: FxHashSet<u32>,
    events: Vec<DebugEvent>,
}

/// One thread finished: its profile (global labels) and what it adds to the analysis' totals.
struct FinishedThread {
    profile: ThreadProfile,
    events: Vec<DebugEvent>,
    warnings: Warnings,
    calls: u64,
}

pub(super) struct Stitcher<'a> {
    inputs: &'a [Input],
    functions: Vec<Function>,
    by_name: FxHashMap<String, u32>,
    definitions: Vec<Definition>,
    /// Definitions by (function, first line): the few of one function at one first line differ in their file.
    defs_by_line: FxHashMap<(u32, u32), Vec<u32>>,
    /// Per binary trace (file, trace within it): its function ids → global ids (filled as definitions are seen).
    file_defs: FileDefs,
    threads: BTreeMap<ThreadKey, ThreadState>,
    /// Text logs: events of a thread read ahead of its replay ([`Options::text_read_ahead`]).
    text_read_ahead: usize,
    /// [`Options::unfinished`].
    unfinished: bool,
    /// Per file: lines of the text log stitched so far.
    lines_done: Vec<u64>,
    damage: Vec<Damage>,
    damage_count: u64,
    notes: Vec<Damage>,
    /// Each input's place, for keeping damage in file order.
    file_order: FxHashMap<&'a std::path::Path, usize>,
}

impl<'a> Stitcher<'a> {
    pub fn new(inputs: &'a [Input], opts: &Options) -> Self {
        Stitcher {
            inputs,
            functions: Vec::new(),
            by_name: FxHashMap::default(),
            definitions: Vec::new(),
            defs_by_line: FxHashMap::default(),
            file_defs: FileDefs::default(),
            threads: BTreeMap::new(),
            text_read_ahead: opts.text_read_ahead,
            unfinished: opts.unfinished,
            lines_done: vec![0; inputs.len()],
            damage: Vec::new(),
            damage_count: 0,
            notes: Vec::new(),
            file_order: inputs.iter().enumerate().map(|(k, i)| (i.path.as_path(), k)).collect(),
        }
    }

    /// Counts `d`, and keeps it if it is among the first [`MAX_DAMAGE_KEPT`] in file order (units arrive out of
    /// order: the first kept must be the first in the files, not the first found).
    pub fn damage(&mut self, d: Damage) {
        self.damage_count += 1;
        let key = |d: &Damage| {
            let file = self.file_order.get(d.path.as_path()).copied().unwrap_or(usize::MAX);
            let at = match d.at {
                None => 0,
                Some(Location::Offset(n) | Location::Line(n)) => n,
            };
            (file, at)
        };
        let k = key(&d);
        let at = self.damage.partition_point(|kept| key(kept) <= k);
        if at < MAX_DAMAGE_KEPT {
            self.damage.insert(at, d);
            self.damage.truncate(MAX_DAMAGE_KEPT);
        }
    }

    /// The global id of the function named `name` (the first definition gives its file and line).
    fn intern(&mut self, name: String, file: &str, first_line: u32) -> u32 {
        if let Some(&id) = self.by_name.get(&name) {
            return id;
        }
        let id = self.functions.len() as u32;
        self.functions.push(Function { name: name.clone(), file: file.to_owned(), first_line });
        self.by_name.insert(name, id);
        id
    }

    fn intern_named(&mut self, f: &NamedFunc<'_>) -> u32 {
        self.intern(join_name(f.module, f.name), f.file, f.first_line)
    }

    /// The global id of function `func`'s definition in `file` at `first_line`.
    fn intern_def(&mut self, func: u32, file: &str, first_line: u32) -> u32 {
        let ids = self.defs_by_line.entry((func, first_line)).or_default();
        if let Some(&id) = ids.iter().find(|&&d| self.definitions[d as usize].file == file) {
            return id;
        }
        let id = self.definitions.len() as u32;
        self.definitions.push(Definition { func, file: file.to_owned(), first_line });
        ids.push(id);
        id
    }

    /// Joins the next unit (in plan order) onto its threads.
    pub fn stitch(&mut self, out: UnitOut<'a>) {
        let file = out.file;
        for d in out.damage {
            self.damage(d);
        }
        if self.notes.len() < MAX_DAMAGE_KEPT {
            self.notes.extend(out.notes);
        }
        let first_line = self.lines_done[file as usize];
        for (line, what) in &out.line_damage {
            let path = self.inputs[file as usize].path.clone();
            self.damage(Damage { path, at: Some(Location::Line(first_line + line)), what: (*what).to_string() });
        }
        self.lines_done[file as usize] += out.line_count;
        let (remap, labels): (Vec<u32>, Labels) = if out.legacy {
            (out.defs.iter().map(|(_, f)| self.intern_named(f)).collect(), Labels::Global)
        } else {
            for (id, f) in &out.defs {
                let func = self.intern_named(f);
                // An id's first definition in its trace stands (as for its function).
                if !self.file_defs.get(&(file, out.trace)).is_some_and(|d| d.contains_key(id)) {
                    let def = self.intern_def(func, f.file, f.first_line);
                    self.file_defs.entry((file, out.trace)).or_default().insert(*id, GlobalIds { func, def });
                }
            }
            (Vec::new(), Labels::File(file, out.trace))
        };
        // Text log: the unit's line definitions' global ids (binary line timings keep the file's ids).
        let line_defs: Vec<u32> =
            out.line_defs.iter().map(|&(label, path)| self.intern_def(remap[label as usize], path, 0)).collect();
        let relabel = |f: u32| if out.legacy { remap[f as usize] } else { f };
        for mut part in out.parts {
            let key = ThreadKey { pid: part.pid, tid: part.tid, labels };
            let st = self.threads.entry(key).or_insert_with(|| ThreadState {
                agg: ThreadAgg::new(),
                name: None,
                lines: FxHashMap::default(),
                line_funcs: Default::default(),
                events: Vec::new(),
            });
            st.agg.saw(part.last_t);
            if out.legacy {
                st.agg.replay(std::mem::take(&mut part.text), &remap, self.text_read_ahead);
            } else {
                st.agg.stitch_owned(part.chunk, true, &relabel);
            }
            if let Some(n) = part.thread_name {
                if st.name.as_deref() != Some(n) {
                    st.name = Some(n.to_owned());
                }
            }
            st.line_funcs.extend(part.line_funcs.into_labels().map(relabel));
            for ((d, line), total) in part.lines {
                let d = if out.legacy { line_defs[d as usize] } else { d };
                st.lines.entry((d, line)).or_default().add(total);
            }
            let thread = st.name.clone().unwrap_or_else(|| part.tid.to_string());
            st.events.extend(part.events.into_iter().map(|e| DebugEvent {
                time_ns: e.time_ns,
                pid: part.pid,
                tid: part.tid,
                thread: thread.clone(),
                func: relabel(e.func),
                line: e.line,
                kind: e.kind,
                name: e.name.to_owned(),
                value: e.value.to_owned(),
                truncated: e.truncated,
            }));
        }
    }

    /// Finishes every thread (in parallel) and gathers them into the analysis.
    pub fn finish(mut self) -> Analysis {
        self.name_undefined_ids();
        let (file_defs, definitions, unfinished) = (&self.file_defs, &self.definitions, self.unfinished);
        let states: Vec<(ThreadKey, ThreadState)> = std::mem::take(&mut self.threads).into_iter().collect();
        let finished: Vec<FinishedThread> = states
            .into_par_iter()
            .map(|(key, st)| finish_thread(key, st, file_defs, definitions, unfinished))
            .collect();
        let mut warnings = Warnings::default();
        let mut calls = 0;
        // The same thread in several binary files (a restarted writer) is one thread.
        let mut merged: BTreeMap<(u32, u64), ThreadProfile> = BTreeMap::new();
        let mut events = Vec::new();
        for f in finished {
            warnings.add(&f.warnings);
            calls += f.calls;
            events.extend(f.events);
            let prof = f.profile;
            match merged.get_mut(&(prof.pid, prof.tid)) {
                None => {
                    merged.insert((prof.pid, prof.tid), prof);
                }
                Some(into) => into.merge(prof),
            }
        }
        let mut threads: Vec<ThreadProfile> = merged.into_values().collect();
        threads.sort_by(|a, b| (a.pid, &a.thread, a.tid).cmp(&(b.pid, &b.thread, b.tid)));
        events.sort_by_key(|e| (e.time_ns, e.pid, e.tid));
        Analysis {
            functions: self.functions,
            definitions: self.definitions,
            threads,
            events,
            warnings,
            damage: self.damage,
            damage_count: self.damage_count,
            notes: self.notes,
            files: self.inputs.len(),
            bytes: total_bytes(self.inputs),
            calls,
            text_read_ahead: self.text_read_ahead,
        }
    }

    /// Binary ids never defined in their file get a global id, under a name saying so.
    fn name_undefined_ids(&mut self) {
        let mut labels: Vec<(TraceKey, Vec<(u32, GlobalIds)>)> = Vec::new();
        let keys: Vec<ThreadKey> = self.threads.keys().copied().collect();
        for key in &keys {
            let Labels::File(file, trace) = key.labels else { continue };
            let defs = self.file_defs.get(&(file, trace));
            let st = &self.threads[key];
            let mut missing: Vec<u32> = st
                .agg
                .m
                .tree
                .nodes
                .iter()
                .map(|n| n.func)
                .chain(st.lines.keys().map(|k| k.0))
                .chain(st.line_funcs.iter().copied())
                .chain(st.events.iter().map(|e| e.func))
                .filter(|&f| f != NO_FUNC && !defs.is_some_and(|d| d.contains_key(&f)))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            let ids = missing
                .iter()
                .map(|&f| {
                    let func = self.intern(format!("<function #{f}>"), "", 0);
                    (f, GlobalIds { func, def: self.intern_def(func, "", 0) })
                })
                .collect();
            labels.push(((file, trace), ids));
        }
        for (key, ids) in labels {
            self.file_defs.entry(key).or_default().extend(ids);
        }
    }
}

/// Ends a thread's stack (`unfinished`: [`Options::unfinished`]) and turns its labels into global ids
/// (`file_defs`: per binary trace, its ids' global ids; `definitions`: the global definitions).
fn finish_thread(
    key: ThreadKey,
    mut st: ThreadState,
    file_defs: &FileDefs,
    definitions: &[Definition],
    unfinished: bool,
) -> FinishedThread {
    st.agg.finish(unfinished);
    let defs = match key.labels {
        Labels::File(file, trace) => file_defs.get(&(file, trace)),
        Labels::Global => None,
    };
    let relabel = |f: u32| -> u32 {
        match defs {
            // Every id of the thread has a global id (`name_undefined_ids`).
            Some(defs) if f != NO_FUNC => defs[&f].func,
            _ => f,
        }
    };
    // A line's (function, definition), from its key's definition label (see `ThreadState::lines`).
    let line_ids = |d: u32| -> (u32, u32) {
        match defs {
            Some(defs) => {
                let g = defs[&d];
                (g.func, g.def)
            }
            None => (definitions[d as usize].func, d),
        }
    };
    let (tree, hists) = match key.labels {
        Labels::Global => (st.agg.m.tree, st.agg.m.hists),
        Labels::File(..) => (st.agg.m.tree.into_relabelled(relabel), st.agg.m.hists.into_relabelled(relabel)),
    };
    // Ids of one trace that name the same definition (a function defined again unchanged) are summed.
    let mut lines: FxHashMap<(u32, u32, u32), LineTotal> = FxHashMap::default();
    for ((d, l), total) in st.lines {
        let (func, def) = line_ids(d);
        lines.entry((func, def, l)).or_default().add(total);
    }
    let mut lines: Vec<LineStat> = lines
        .into_iter()
        .map(|((func, def, line), total)| LineStat {
            func,
            def,
            line,
            hits: total.hits,
            total_ns: total.ns,
            hist: total.hist,
        })
        .collect();
    lines.sort_by_key(|l| (l.func, l.def, l.line));
    let mut events = st.events;
    for e in &mut events {
        e.func = relabel(e.func);
    }
    let thread = st.name.unwrap_or_else(|| key.tid.to_string());
    FinishedThread {
        profile: ThreadProfile { pid: key.pid, tid: key.tid, thread, tree, hists, lines },
        events,
        warnings: st.agg.m.warnings,
        calls: st.agg.m.calls,
    }
}

#[allow(dead_code)]
fn _assert_tree_send(t: Tree) -> impl Send {
    t
}
