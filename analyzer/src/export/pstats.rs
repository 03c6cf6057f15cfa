//! `export pstats`: the file `python -m cProfile -o` writes, so that `pstats.Stats`, snakeviz, tuna and
//! gprof2dot open a pylu trace as they open a cProfile run.
//!
//! The file is `marshal.dump` of `{(file, line, name): (cc, nc, tt, ct, callers)}` with `callers`
//! `{(file, line, name): (nc, cc, tt, ct)}` (cProfile's `snapshot_stats` puts `nc` first there, and
//! pstats reads it so). The counts follow `_lsprof`: `nc` counts every call, `cc` (primitive calls) only
//! those made while no other call of the function was open; `tt` is self time, summed over all calls; `ct`
//! adds a call's whole time only when it was the outermost one of its function (so recursion is counted
//! once), and for a caller pair when it was the outermost call of that pair. Times are seconds. Calls never
//! closed are not counted (they have no duration); a function with no other call is listed with zeros. A call
//! that ended inside calls of its function that all never closed is an outermost one (as cProfile, which closes
//! every call when it stops, would count it under the outer call; here the outer call is not counted): so
//! `cumtime` ≥ `tottime`, and a function with calls has primitive calls.

use std::collections::HashMap;
use std::io::{self, Write};

use super::replay::{CallRow, Func, Sink};

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Primitive (non-recursive) calls.
    pub cc: u64,
    pub nc: u64,
    pub tt_ns: u64,
    pub ct_ns: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.cc += o.cc;
        self.nc += o.nc;
        self.tt_ns += o.tt_ns;
        self.ct_ns += o.ct_ns;
    }
}

/// Per function and per (caller, callee), over the threads replayed into it.
#[derive(Debug, Default)]
pub struct PstatsSink {
    pub funcs: HashMap<u32, Counts>,
    pub pairs: HashMap<(u32, u32), Counts>,
}

impl Sink for PstatsSink {
    fn call(&mut self, row: &CallRow<'_>) {
        let (Some(dur), Some(own)) = (row.dur_ns, row.self_ns) else {
            // Never closed: no call to count, but the function is listed (its callees name it as their caller,
            // as every function cProfile saw has an entry).
            self.funcs.entry(row.func).or_default();
            return;
        };
        let e = self.funcs.entry(row.func).or_default();
        e.nc += 1;
        e.tt_ns += own;
        if !row.recursive {
            e.cc += 1;
            e.ct_ns += dur;
        }
        if let Some(caller) = row.parent_func {
            let p = self.pairs.entry((caller, row.func)).or_default();
            p.nc += 1;
            p.tt_ns += own;
            if !row.pair_recursive {
                p.cc += 1;
                p.ct_ns += dur;
            }
        }
    }

    fn outermost_after_all(&mut self, func: u32, caller: Option<u32>, calls: u64, ns: u64) {
        let c = match caller {
            None => self.funcs.entry(func).or_default(),
            Some(caller) => self.pairs.entry((caller, func)).or_default(),
        };
        c.cc += calls;
        c.ct_ns += ns;
    }
}

impl PstatsSink {
    pub fn merge(&mut self, o: PstatsSink) {
        for (k, v) in o.funcs {
            self.funcs.entry(k).or_default().add(&v);
        }
        for (k, v) in o.pairs {
            self.pairs.entry(k).or_default().add(&v);
        }
    }
}

/// The key pstats shows as `file:line(name)`. Text logs name no file: their module stands in, so functions of
/// different modules stay apart.
fn label(f: &Func) -> (&str, u32, &str) {
    let file = if f.file.is_empty() { f.module.as_str() } else { f.file.as_str() };
    let name = if f.qualname.is_empty() { f.name.as_str() } else { f.qualname.as_str() };
    (file, f.first_line, name)
}

/// Writes the marshalled stats dict. Functions whose labels coincide are added together.
pub fn write(stats: &PstatsSink, funcs: &[Func], out: &mut dyn Write) -> io::Result<()> {
    type Key<'f> = (&'f str, u32, &'f str);
    let mut by: std::collections::BTreeMap<Key<'_>, (Counts, std::collections::BTreeMap<Key<'_>, Counts>)> =
        Default::default();
    for (&f, c) in &stats.funcs {
        by.entry(label(&funcs[f as usize])).or_default().0.add(c);
    }
    for (&(caller, callee), c) in &stats.pairs {
        let e = by.entry(label(&funcs[callee as usize])).or_default();
        e.1.entry(label(&funcs[caller as usize])).or_default().add(c);
    }
    let mut m = Marshal(Vec::with_capacity(64 * by.len()));
    m.dict_start();
    for (key, (c, callers)) in &by {
        m.key(key);
        m.tuple(5);
        m.int(c.cc);
        m.int(c.nc);
        m.float(secs(c.tt_ns));
        m.float(secs(c.ct_ns));
        m.dict_start();
        for (ck, cc) in callers {
            m.key(ck);
            m.tuple(4);
            m.int(cc.nc);
            m.int(cc.cc);
            m.float(secs(cc.tt_ns));
            m.float(secs(cc.ct_ns));
        }
        m.dict_end();
    }
    m.dict_end();
    out.write_all(&m.0)
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The few marshal types the stats dict uses (CPython's Python/marshal.c, format version 2 and later).
struct Marshal(Vec<u8>);

impl Marshal {
    fn dict_start(&mut self) {
        self.0.push(b'{');
    }
    /// TYPE_NULL ends a dict.
    fn dict_end(&mut self) {
        self.0.push(b'0');
    }
    fn tuple(&mut self, n: u8) {
        // TYPE_SMALL_TUPLE (version 4): one length byte.
        self.0.push(b')');
        self.0.push(n);
    }
    fn key(&mut self, k: &(&str, u32, &str)) {
        self.tuple(3);
        self.str(k.0);
        self.int(u64::from(k.1));
        self.str(k.2);
    }
    fn str(&mut self, s: &str) {
        // TYPE_UNICODE: 32-bit length and UTF-8 bytes.
        self.0.push(b'u');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn int(&mut self, v: u64) {
        if v <= i32::MAX as u64 {
            // TYPE_INT: a signed 32-bit little-endian integer.
            self.0.push(b'i');
            self.0.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            // TYPE_LONG: a count of 15-bit digits (its sign is the number's), least significant first.
            let mut digits = Vec::new();
            let mut x = v;
            while x > 0 {
                digits.push((x & 0x7fff) as u16);
                x >>= 15;
            }
            self.0.push(b'l');
            self.0.extend_from_slice(&(digits.len() as i32).to_le_bytes());
            for d in digits {
                self.0.extend_from_slice(&d.to_le_bytes());
            }
        }
    }
    fn float(&mut self, v: f64) {
        // TYPE_BINARY_FLOAT: the IEEE 754 double, little-endian.
        self.0.push(b'g');
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_past_32_bits_are_longs_of_15_bit_digits() {
        let mut m = Marshal(Vec::new());
        m.int(1 << 31);
        // 2^31 = 2 * 2^30: digits 0, 0, 2.
        assert_eq!(m.0, [b'l', 3, 0, 0, 0, 0, 0, 0, 0, 2, 0]);
        let mut m = Marshal(Vec::new());
        m.int(5);
        assert_eq!(m.0, [b'i', 5, 0, 0, 0]);
    }
}
