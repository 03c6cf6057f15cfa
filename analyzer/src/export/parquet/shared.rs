//! Row groups shared by small threads. A row group per thread costs the file writer ~2.4 KB of metadata per
//! column chunk until the footer, ~40 KB per row group: a thread-per-request server's tens of thousands of
//! threads of a few calls each took gigabytes. So a thread's last rows, when fewer than
//! [`CallsLayout::shared_rows`], are copied here instead, after the last rows of the threads that ended
//! before it, and become a row group when `--row-group-size` rows are in (or at the end of the replay).
//!
//! Each thread's rows stay together and in the order they began; a thread's rows that do not fit the row
//! group being filled begin the next one. Partitioned, each process (host and pid) has its rows here; the
//! rows held over all processes are at most two row groups', the largest process' going first when more come.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, RwLock};

use super::calls::CallsLayout;
use super::group::{self, Group, Ints, Keyed, Scratch};
use super::rows::{compact, Rows};
use super::Msg;
use crate::export::replay::{Funcs, ThreadMeta};

/// The rows of a shared row group as they come, thread after thread.
#[derive(Default)]
pub(super) struct Shared {
    host: Vec<u32>,
    pid: Vec<i64>,
    tid: Vec<i64>,
    thread: Vec<u32>,
    func: Vec<u32>,
    depth: Vec<u32>,
    call_id: Vec<i64>,
    /// 0 where `has_parent` is not set, `dur` and `selfs` 0 where `closed` is not (compacted when encoded).
    parent: Vec<i64>,
    has_parent: Vec<bool>,
    start: Vec<i64>,
    dur: Vec<i64>,
    selfs: Vec<i64>,
    closed: Vec<bool>,
    raised: Vec<bool>,
    suspensions: Vec<i64>,
    hosts: Vec<Arc<str>>,
    /// The thread names of the row group, each once.
    names: Vec<Arc<str>>,
    name_keys: HashMap<Arc<str>, u32>,
    /// The row group's functions (global ids) in order of first use, and global id → key.
    funcs: Vec<u32>,
    key_of: HashMap<u32, u32>,
}

impl Shared {
    fn len(&self) -> usize {
        self.call_id.len()
    }

    fn clear(&mut self) {
        let Shared {
            host,
            pid,
            tid,
            thread,
            func,
            depth,
            call_id,
            parent,
            has_parent,
            start,
            dur,
            selfs,
            closed,
            raised,
            suspensions,
            hosts,
            names,
            name_keys,
            funcs,
            key_of,
        } = self;
        for v in [host, thread, func, depth] {
            v.clear();
        }
        for v in [pid, tid, call_id, parent, start, dur, selfs, suspensions] {
            v.clear();
        }
        for v in [has_parent, closed, raised] {
            v.clear();
        }
        hosts.clear();
        names.clear();
        name_keys.clear();
        funcs.clear();
        key_of.clear();
    }

    /// Appends the thread's rows `at` (its row group cut, not compacted; `names`: the thread's names).
    fn append(&mut self, meta: &ThreadMeta, names: &[Arc<str>], rows: &Rows, at: Range<usize>) {
        let k = at.len();
        let host = match self.hosts.iter().position(|h| *h == meta.host) {
            Some(i) => i as u32,
            None => {
                self.hosts.push(meta.host.clone());
                (self.hosts.len() - 1) as u32
            }
        };
        self.host.resize(self.host.len() + k, host);
        self.pid.resize(self.pid.len() + k, i64::from(meta.pid));
        self.tid.resize(self.tid.len() + k, meta.tid as i64);
        // The thread's names and functions by their keys here, looked up once each.
        let mut name_key: Vec<Option<u32>> = vec![None; names.len()];
        for &t in &rows.thread[at.clone()] {
            let key = *name_key[t as usize].get_or_insert_with(|| {
                let name = &names[t as usize];
                *self.name_keys.entry(name.clone()).or_insert_with(|| {
                    self.names.push(name.clone());
                    (self.names.len() - 1) as u32
                })
            });
            self.thread.push(key);
        }
        let func_key: Vec<u32> = rows
            .local
            .iter()
            .map(|&f| {
                *self.key_of.entry(f).or_insert_with(|| {
                    self.funcs.push(f);
                    (self.funcs.len() - 1) as u32
                })
            })
            .collect();
        self.func.extend(rows.func[at.clone()].iter().map(|&k| func_key[k as usize]));
        self.depth.extend_from_slice(&rows.depth[at.clone()]);
        self.call_id.extend_from_slice(&rows.call_id[at.clone()]);
        self.parent.extend_from_slice(&rows.parent[at.clone()]);
        self.has_parent.extend_from_slice(&rows.has_parent[at.clone()]);
        self.start.extend_from_slice(&rows.start[at.clone()]);
        self.dur.extend_from_slice(&rows.dur[at.clone()]);
        self.selfs.extend_from_slice(&rows.selfs[at.clone()]);
        self.closed.extend_from_slice(&rows.closed[at.clone()]);
        self.raised.extend_from_slice(&rows.raised[at.clone()]);
        self.suspensions.extend_from_slice(&rows.suspensions[at]);
    }

    /// Encodes the rows and sends them; false when the writer has gone.
    fn send(
        &mut self,
        layout: &CallsLayout,
        funcs: &RwLock<Funcs>,
        scratch: &mut Scratch,
        tx: &SyncSender<Msg>,
    ) -> bool {
        let n = self.len();
        if n == 0 {
            return true;
        }
        let parents = compact(&mut self.parent, &self.has_parent);
        let closed = compact(&mut self.dur, &self.closed);
        compact(&mut self.selfs, &self.closed);
        let g = Group {
            n,
            host: Keyed { dict: &self.hosts, keys: (self.hosts.len() > 1).then_some(&self.host[..]) },
            // Runs of one value each: deltas mostly 0 (one value throughout is delta-packed as a constant).
            pid: Ints::Each(&self.pid),
            tid: Ints::Each(&self.tid),
            thread: Keyed { dict: &self.names, keys: Some(&self.thread) },
            funcs: &self.funcs,
            func: &self.func,
            depth: &self.depth,
            call_id: &self.call_id,
            parent: &self.parent[..parents],
            has_parent: &self.has_parent,
            start: &self.start,
            dur: &self.dur[..closed],
            selfs: &self.selfs[..closed],
            closed: &self.closed,
            raised: &self.raised,
            suspensions: &self.suspensions,
        };
        let msg = match group::encode(layout, funcs, &g, scratch) {
            // Unpartitioned, the writer takes any host and pid (the file is one); partitioned, they are the
            // group's.
            Ok(columns) => Msg::Calls { host: self.hosts[0].clone(), pid: self.pid[0] as u32, columns, len: n },
            Err(e) => Msg::Failed(e.to_string()),
        };
        self.clear();
        tx.send(msg).is_ok()
    }
}

/// The shared row groups being filled: one, or one per process when partitioned.
#[derive(Default)]
pub(super) struct Pool {
    filling: HashMap<(Arc<str>, u32), Shared>,
    /// Rows held over all of `filling`.
    held: usize,
    /// Emptied row groups, for their memory; and what encoding keeps between row groups.
    spare: Vec<Shared>,
    scratch: Vec<Scratch>,
}

/// Adds the thread's last rows (`n` of them, cut and not compacted) to the shared row groups, and encodes
/// and sends those that fill up; false when the writer has gone.
pub(super) fn share(
    layout: &CallsLayout,
    funcs: &RwLock<Funcs>,
    meta: &ThreadMeta,
    names: &[Arc<str>],
    rows: &Rows,
    n: usize,
    tx: &SyncSender<Msg>,
) -> bool {
    let cap = layout.group_rows.max(1);
    let key = if layout.partitioned { (meta.host.clone(), meta.pid) } else { (Arc::from(""), 0) };
    let mut at = 0;
    while at < n {
        // A full row group is taken out, and encoded outside the lock.
        let full = {
            let mut pool = lock(&layout.shared);
            let pool = &mut *pool;
            let spare = &mut pool.spare;
            let s = pool.filling.entry(key.clone()).or_insert_with(|| spare.pop().unwrap_or_default());
            let k = (cap - s.len().min(cap)).min(n - at).max(1);
            s.append(meta, names, rows, at..at + k);
            at += k;
            pool.held += k;
            let take = if s.len() >= cap {
                Some(key.clone())
            } else if pool.held > 2 * cap {
                // Partitioned, many processes' rows: the largest process' go first.
                pool.filling.iter().max_by_key(|(_, s)| s.len()).map(|(k, _)| k.clone())
            } else {
                None
            };
            take.and_then(|k| pool.filling.remove(&k)).map(|s| {
                pool.held -= s.len();
                (s, pool.scratch.pop().unwrap_or_default())
            })
        };
        if let Some((mut s, mut scratch)) = full {
            let ok = s.send(layout, funcs, &mut scratch, tx);
            let mut pool = lock(&layout.shared);
            pool.spare.push(s);
            pool.scratch.push(scratch);
            if !ok {
                return false;
            }
        }
    }
    true
}

/// Encodes and sends what the shared row groups hold (the replay is over); false when the writer has gone.
pub(super) fn finish(layout: &CallsLayout, funcs: &RwLock<Funcs>, tx: &SyncSender<Msg>) -> bool {
    let mut pool = std::mem::take(&mut *lock(&layout.shared));
    let mut scratch = Scratch::default();
    let mut filling: Vec<_> = pool.filling.drain().collect();
    // Processes in a fixed order (the writer appends them as they come).
    filling.sort_by(|a, b| a.0.cmp(&b.0));
    filling.into_iter().all(|(_, mut s)| s.send(layout, funcs, &mut scratch, tx))
}

fn lock(m: &Mutex<Pool>) -> std::sync::MutexGuard<'_, Pool> {
    m.lock().expect("not poisoned")
}
