//! Text logs in the replay: read in one pass, in order, each line going to its thread's state; functions are
//! interned by their spelled-out names.

use super::*;

pub(super) fn run_legacy<'i, S, N>(
    files: &[&'i Input],
    opts: ReplayOptions,
    funcs: &RwLock<Funcs>,
    mut ordinal: u32,
    new_sink: &N,
    damage: &Mutex<Vec<String>>,
) -> Vec<Thread<S>>
where
    S: Sink,
    N: Fn(&ThreadMeta) -> S,
{
    let host: Arc<str> = Arc::from("unknown");
    let mut threads: Vec<Thread<S>> = Vec::new();
    let mut by_key: FxHashMap<(u32, u64), usize> = FxHashMap::default();
    // Names borrow from the mapped logs: a lookup allocates nothing.
    let mut local: FxHashMap<(&'i str, &'i str, &'i str), u32> = FxHashMap::default();
    let mut bad_lines = 0u64;
    for input in files {
        for ev in pylu_formats::legacy::lines(input.bytes(), 1) {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    bad_lines += 1;
                    if bad_lines <= 20 {
                        damage.lock().expect("not poisoned").push(format!(
                            "{}: line {}: {}",
                            input.path.display(),
                            e.line_no,
                            e.what
                        ));
                    }
                    continue;
                }
            };
            let i = *by_key.entry((ev.pid, ev.tid)).or_insert_with(|| {
                let meta = ThreadMeta { host: host.clone(), pid: ev.pid, tid: ev.tid, ordinal, text_log: true };
                ordinal += 1;
                let sink = new_sink(&meta);
                threads.push(Thread::new(meta, Clock::Wall, opts, sink));
                threads.len() - 1
            });
            let th = &mut threads[i];
            let mut id = |f: FuncRef<'i>| -> u32 {
                match f {
                    FuncRef::Named { module, name, file } => {
                        let key = (module, name, file);
                        if let Some(&g) = local.get(&key) {
                            return g;
                        }
                        let g = funcs.write().expect("not poisoned").intern(module, name, file, 0);
                        local.insert(key, g);
                        g
                    }
                    FuncRef::Id(n) => funcs.write().expect("not poisoned").intern("", &format!("fn#{n}"), "", 0),
                }
            };
            let t = ev.time_ns.max(0) as u64;
            match ev.kind {
                EventKind::ThreadName(n) => th.sink.thread_name(n),
                EventKind::Enter(f) => th.enter(id(f), t),
                EventKind::Exit { func, exception, duration_ns } => th.exit(id(func), t, exception, duration_ns),
                EventKind::Suspend(f) => th.suspend(id(f), t),
                EventKind::Resume(f) => th.resume(id(f), t),
                EventKind::Debug { func, line, kind, name, value, truncated } => {
                    let f = id(func);
                    th.debug(t, f, DebugArg { kind, name: name.to_owned(), value: value.to_owned(), line, truncated })
                }
                EventKind::Update { id: uid, action, description } => {
                    th.sink.update(ev.time_ns, uid, action, description)
                }
                _ => {}
            }
        }
    }
    if bad_lines > 20 {
        damage.lock().expect("not poisoned").push(format!("{} more lines that do not parse", bad_lines - 20));
    }
    threads
}
