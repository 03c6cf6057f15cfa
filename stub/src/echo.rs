//! The optional per-call echo to stderr (the original printed every call; here it is opt-in per function,
//! because writing a line costs far more than the measurement).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use rustc_hash::{FxBuildHasher, FxHashSet};

use crate::functions;

static ANY: AtomicBool = AtomicBool::new(false);
static IDS: RwLock<FxHashSet<u32>> = RwLock::new(FxHashSet::with_hasher(FxBuildHasher));

#[derive(Clone, Copy)]
pub enum CallEdge {
    Enter,
    Exit,
    Raised,
}

pub fn set(id: u32, on: bool) {
    let mut ids = IDS.write().unwrap_or_else(|p| p.into_inner());
    if on {
        ids.insert(id);
    } else {
        ids.remove(&id);
    }
    ANY.store(!ids.is_empty(), Ordering::Relaxed);
}

#[inline(always)]
pub fn maybe(id: u32, edge: CallEdge) {
    if ANY.load(Ordering::Relaxed) {
        print(id, edge);
    }
}

#[cold]
fn print(id: u32, edge: CallEdge) {
    let on = IDS.read().map(|ids| ids.contains(&id)).unwrap_or(false);
    if !on {
        return;
    }
    let name = functions::display_name(id).unwrap_or_else(|| format!("#{id}"));
    let what = match edge {
        CallEdge::Enter => "enter",
        CallEdge::Exit => "exit",
        CallEdge::Raised => "exit (raised)",
    };
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    let _ = writeln!(std::io::stderr(), "pylu[{pid}] {what} {name}");
}
