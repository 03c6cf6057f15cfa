//! Code object address → what the native callbacks know of it: the call probes' function ids (sys.monitoring,
//! [`crate::probes`]) and the line timer's chosen lines ([`crate::lines`]).
//!
//! Guarded by the GIL instead of a lock: it is read by callbacks and written by control-side functions, all of
//! which run only while holding the GIL (the stub is built for GIL-ful CPython only), and none of them runs
//! Python code while touching it. Each entry keeps a strong reference to its code object, so an address stays
//! unique while it is a key.

use std::cell::UnsafeCell;

use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::{FxBuildHasher, FxHashMap};

pub struct CodeMap<T>(UnsafeCell<FxHashMap<usize, (T, *mut ffi::PyObject)>>);

// SAFETY: every access happens with the GIL held (see above), which serialises them; the raw pointers are
// strong references only ever released with the GIL held.
unsafe impl<T: Send> Sync for CodeMap<T> {}

impl<T> CodeMap<T> {
    pub const fn new() -> Self {
        CodeMap(UnsafeCell::new(FxHashMap::with_hasher(FxBuildHasher)))
    }

    /// Sets what is known of `code`, replacing what was.
    pub fn insert(&self, _py: Python<'_>, code: &Bound<'_, PyAny>, value: T) {
        // SAFETY: the GIL is held (the `Python` token proves it) so no other access runs concurrently.
        let map = unsafe { &mut *self.0.get() };
        let owned = code.clone().into_ptr();
        if let Some((_, old)) = map.insert(code.as_ptr() as usize, (value, owned)) {
            // SAFETY: `old` is the strong reference taken when it was inserted; the GIL is held.
            unsafe { ffi::Py_DecRef(old) };
        }
    }

    /// Forgets `code`; returns whether it was known.
    pub fn remove(&self, _py: Python<'_>, code: &Bound<'_, PyAny>) -> bool {
        // SAFETY: the GIL is held, as in `insert`.
        let map = unsafe { &mut *self.0.get() };
        match map.remove(&(code.as_ptr() as usize)) {
            Some((_, old)) => {
                // SAFETY: the reference taken at insert; dropped after the entry left the map.
                unsafe { ffi::Py_DecRef(old) };
                true
            }
            None => false,
        }
    }

    /// # Safety
    /// The caller holds the GIL and does not insert or remove while the reference lives.
    #[inline(always)]
    pub unsafe fn get(&self, code: *mut ffi::PyObject) -> Option<&T> {
        // SAFETY: per this function's contract.
        unsafe { (*self.0.get()).get(&(code as usize)).map(|(value, _)| value) }
    }
}
