//! Process-global function ids: dense from 0 (small ids encode in fewer bytes), one per distinct function,
//! stable across revert and re-apply, and re-announced in a forked child's new file.

use std::sync::Mutex;

use pylu_formats::FuncDef;
use pyo3::prelude::*;
use rustc_hash::FxHashMap;

use crate::recorder::{self, lock};

struct OwnedDef {
    qualname: String,
    module: String,
    file: String,
    first_line: u32,
}

impl OwnedDef {
    fn as_def(&self, id: u32) -> FuncDef<'_> {
        FuncDef { id, qualname: &self.qualname, module: &self.module, file: &self.file, first_line: self.first_line }
    }
}

struct FunctionTable {
    defs: Vec<OwnedDef>,
    ids: FxHashMap<(String, String, String, u32), u32>,
}

static TABLE: Mutex<FunctionTable> =
    Mutex::new(FunctionTable { defs: Vec::new(), ids: FxHashMap::with_hasher(rustc_hash::FxBuildHasher) });

/// The id of a function, interning it (and writing its definition to the trace at once) the first time.
pub fn intern(py: Python<'_>, qualname: &str, module: &str, file: &str, first_line: u32) -> u32 {
    let key = (module.to_owned(), qualname.to_owned(), file.to_owned(), first_line);
    let id = {
        let mut table = lock(&TABLE);
        if let Some(&id) = table.ids.get(&key) {
            return id;
        }
        let id = table.defs.len() as u32;
        table.defs.push(OwnedDef { qualname: key.1.clone(), module: key.0.clone(), file: key.2.clone(), first_line });
        table.ids.insert(key, id);
        id
    };
    let table = lock(&TABLE);
    if let Some(def) = table.defs.get(id as usize) {
        recorder::record_and_flush(py, |enc, _| enc.func_def(&def.as_def(id)));
    }
    id
}

/// Writes every known definition into a freshly opened file (a forked child's), so its ids resolve.
pub fn announce_all(py: Python<'_>) {
    let table = lock(&TABLE);
    if table.defs.is_empty() {
        return;
    }
    recorder::record_and_flush(py, |enc, _| {
        for (id, def) in table.defs.iter().enumerate() {
            enc.func_def(&def.as_def(id as u32));
        }
    });
}

/// `module.qualname` of an id, for the echo and for errors.
pub fn display_name(id: u32) -> Option<String> {
    lock(&TABLE).defs.get(id as usize).map(|d| pylu_formats::event::join_name(&d.module, &d.qualname))
}
