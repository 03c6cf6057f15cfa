//! Binary traces in the replay: each thread's blocks of a file as one unit (planned here, run on a worker), their
//! records fed to the thread's state through a [`RecordSink`]; function ids are mapped from the file's to the
//! export's global ones.

use super::*;

pub(super) struct BinaryUnit<'a> {
    pub(super) path: PathBuf,
    pub(super) trace: Trace<'a>,
    pub(super) meta: ThreadMeta,
    pub(super) blocks: Vec<BlockRef<'a>>,
    /// File function id → global id.
    pub(super) ids: Arc<FileIds>,
}

/// Groups a file's blocks by thread (file order is each thread's order) and reads its function definitions;
/// with the units, the damage and the notes to report, and the trace joined after this one in the file.
pub(super) fn plan_binary<'a>(
    path: &std::path::Path,
    trace: Trace<'a>,
    funcs: &RwLock<Funcs>,
    ordinal: &mut u32,
) -> (Vec<BinaryUnit<'a>>, Vec<String>, Vec<String>, Option<Trace<'a>>) {
    let mut damage = Vec::new();
    // A block cut at the end of the file (a writer still running, or killed): read up to the cut, a note.
    let mut notes = Vec::new();
    let file_len = trace.bytes().len() as u64;
    let mut per_thread: std::collections::BTreeMap<u64, Vec<BlockRef<'a>>> = Default::default();
    let mut good = Vec::new();
    let mut next = None;
    for b in trace.blocks() {
        match b {
            Ok(b) => good.push(b),
            // Traces joined with `cat`: the next one reads with its own header and function ids.
            Err(e) if e.kind == BlockErrorKind::AnotherTrace => match Trace::parse_at(trace.bytes(), e.offset as usize)
            {
                Ok(t) => next = Some(t),
                Err(err) => damage.push(format!("{}: offset {}: {err}", path.display(), e.offset)),
            },
            Err(e) => damage.push(format!("{}: offset {}: {}", path.display(), e.offset, e.kind)),
        }
    }
    // Definitions can come in any block of the file (the thread that first called the function sealed it),
    // so all are read first, in parallel; their records are decoded again by the replay. Each block's checksum
    // is checked here, once: a damaged block is left out of the replay.
    let defs: Vec<Result<BlockDefs, String>> = good
        .par_iter()
        .map(|b| {
            let mut out = Vec::new();
            let read = |out: &mut Vec<Def>| {
                let _ = b.records().try_for_each(&mut DefSink(out));
            };
            match (b.verify(), b.cut_damage()) {
                (Ok(()), _) => {
                    read(&mut out);
                    Ok((out, None))
                }
                // A torn block: its records up to the cut still count.
                (Err(e), Some(what)) => {
                    read(&mut out);
                    Ok((out, Some(format!("{}: offset {}: {what}", path.display(), e.offset))))
                }
                (Err(e), None) => Err(format!("{}: offset {}: {}", path.display(), e.offset, e.kind)),
            }
        })
        .collect();
    let mut ids = FileIds::default();
    {
        let mut f = funcs.write().expect("not poisoned");
        for (b, defs) in good.into_iter().zip(defs) {
            match defs {
                Ok((defs, cut)) => {
                    match b.cut {
                        Some(c) if b.offset + c.have == file_len => notes.extend(cut),
                        _ => damage.extend(cut),
                    }
                    for (id, module, qualname, file, line) in defs {
                        ids.insert(id, f.intern(&module, &qualname, &file, line));
                    }
                    per_thread.entry(b.thread_id).or_default().push(b);
                }
                Err(e) => damage.push(e),
            }
        }
    }
    let ids = Arc::new(ids);
    let host: Arc<str> = Arc::from(trace.header.hostname.as_str());
    let units = per_thread
        .into_iter()
        .map(|(tid, mut blocks)| {
            blocks.sort_by_key(|b| b.offset);
            let meta =
                ThreadMeta { host: host.clone(), pid: trace.header.pid, tid, ordinal: *ordinal, text_log: false };
            *ordinal += 1;
            BinaryUnit { path: path.to_owned(), trace: trace.clone(), meta, blocks, ids: ids.clone() }
        })
        .collect();
    (units, damage, notes, next)
}

/// A file's function ids → the export's. Ids are small and dense as the stub assigns them, so a list indexed by
/// id is the hot path's lookup; an id past [`FileIds::DENSE_MAX`] (only a damaged or crafted file has one) goes
/// to a map, so it cannot make the list allocate gigabytes.
#[derive(Default)]
pub(super) struct FileIds {
    dense: Vec<u32>,
    sparse: FxHashMap<u32, u32>,
}

impl FileIds {
    const DENSE_MAX: u32 = 1 << 22;

    fn insert(&mut self, id: u32, g: u32) {
        if id >= Self::DENSE_MAX {
            self.sparse.insert(id, g);
            return;
        }
        if self.dense.len() <= id as usize {
            self.dense.resize(id as usize + 1, u32::MAX);
        }
        self.dense[id as usize] = g;
    }

    #[inline]
    fn get(&self, id: u32) -> Option<u32> {
        match self.dense.get(id as usize) {
            Some(&g) if g != u32::MAX => Some(g),
            Some(_) => None,
            None => self.sparse.get(&id).copied(),
        }
    }
}

/// A function definition as read: file id, module, qualname, file, first line.
pub(super) type Def = (u32, String, String, String, u32);

/// A block's definitions, and the damage to report for it when it was cut short (read all the same).
type BlockDefs = (Vec<Def>, Option<String>);

pub(super) struct DefSink<'o>(&'o mut Vec<Def>);

impl<'a> RecordSink<'a> for DefSink<'_> {
    fn call(&mut self, _op: CallOp, _func: u32, _time_ns: u64) {}
    fn suspend(&mut self, _func: u32, _time_ns: u64) {}
    fn resume(&mut self, _func: u32, _time_ns: u64) {}
    fn line(&mut self, _func: u32, _line: u32, _duration_ns: u64, _time_ns: u64) {}
    fn wants_debug(&self) -> bool {
        false
    }
    fn other(&mut self, rec: Record<'a>) {
        if let EventKind::FuncDef(d) = rec.kind {
            self.0.push((d.id, d.module.to_owned(), d.qualname.to_owned(), d.file.to_owned(), d.first_line));
        }
    }
}

/// A function id no definition named: a placeholder function `fn#id`, interned on first use.
pub(super) fn unknown_func(funcs: &RwLock<Funcs>, id: u32) -> u32 {
    funcs.write().expect("not poisoned").intern("", &format!("fn#{id}"), "", 0)
}

pub(super) struct ThreadSink<'t, S> {
    th: &'t mut Thread<S>,
    ids: &'t FileIds,
    funcs: &'t RwLock<Funcs>,
}

impl<S: Sink> ThreadSink<'_, S> {
    #[inline]
    fn g(&self, id: u32) -> u32 {
        match self.ids.get(id) {
            Some(g) => g,
            None => unknown_func(self.funcs, id),
        }
    }
}

impl<'a, S: Sink> RecordSink<'a> for ThreadSink<'_, S> {
    #[inline]
    fn call(&mut self, op: CallOp, func: u32, t: u64) {
        let f = self.g(func);
        match op {
            CallOp::Enter => self.th.enter(f, t),
            CallOp::Exit => self.th.exit(f, t, false, None),
            CallOp::ExitRaised => self.th.exit(f, t, true, None),
        }
    }
    fn suspend(&mut self, func: u32, t: u64) {
        let f = self.g(func);
        self.th.suspend(f, t)
    }
    fn resume(&mut self, func: u32, t: u64) {
        let f = self.g(func);
        self.th.resume(f, t)
    }
    fn line(&mut self, _func: u32, _line: u32, _duration_ns: u64, _t: u64) {}
    fn wants_debug(&self) -> bool {
        true
    }
    fn other(&mut self, r: Record<'a>) {
        match r.kind {
            EventKind::ThreadName(n) => self.th.sink.thread_name(n),
            EventKind::Update { id, action, description } => {
                let t = self.th.clock.wall(r.time_ns);
                self.th.sink.update(t, id, action, description)
            }
            EventKind::Debug { func: FuncRef::Id(f), line, kind, name, value, truncated } => {
                let f = self.g(f);
                let arg = DebugArg { kind, name: name.to_owned(), value: value.to_owned(), line, truncated };
                self.th.debug(r.time_ns, f, arg)
            }
            _ => {}
        }
    }
}

pub(super) fn run_binary_thread<S: Sink>(u: &BinaryUnit<'_>, th: &mut Thread<S>, funcs: &RwLock<Funcs>) -> Vec<String> {
    let mut damage = Vec::new();
    // The blocks' checksums were checked by `plan_binary`.
    for b in &u.blocks {
        let mut sink = ThreadSink { th, ids: &u.ids, funcs };
        // A cut block ends in its torn record, which `plan_binary` reported.
        if let (Err(e), None) = (b.records().try_for_each(&mut sink), b.cut) {
            damage.push(format!("{}: offset {}: {}", u.path.display(), e.offset, e.what));
        }
    }
    damage
}

#[cfg(test)]
mod tests {
    use super::FileIds;

    #[test]
    fn a_huge_function_id_is_mapped_without_a_huge_list() {
        let mut ids = FileIds::default();
        ids.insert(3, 30);
        ids.insert(u32::MAX - 1, 7);
        assert_eq!((ids.get(3), ids.get(u32::MAX - 1), ids.get(2), ids.get(5)), (Some(30), Some(7), None, None));
        assert_eq!(ids.dense.len(), 4);
    }
}
