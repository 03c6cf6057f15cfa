//! A row group of `calls.parquet` turned into compressed pages, column by column: one thread's rows (the
//! sink's own row group) or the last rows of many small threads one after another (a shared row group,
//! [`super::shared`]). What differs between the two is only whether `host`, `pid`, `tid` and `thread` hold one
//! value or runs of them.
//!
//! Columns repeat little work: `function`, `module`, `file` and `first_line` are dictionaries indexed by the
//! same keys (the row group's functions, in order of first use), so their data pages are one page encoded and
//! compressed once; `start` is `start_ns`'s page; `depth` is its own dictionary key.

use std::sync::{Arc, RwLock};

use polars_parquet::parquet::encoding::Encoding;
use polars_parquet::parquet::error::ParquetResult;
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::CompressedPage;

use super::calls::CallsLayout;
use super::encode::{self, DataPage, Pages};
use crate::export::replay::Funcs;

/// Row groups a 64-bit column's pages are stored uncompressed after compression failed to shrink one: trying
/// zstd on delta-packed durations (noise in the low bits) cost a tenth of the export and saved nothing.
const RAW_GROUPS: u8 = 7;

/// A dictionary column's values: its dictionary and each row's key (`None`: key 0 throughout).
pub(super) struct Keyed<'a> {
    pub dict: &'a [Arc<str>],
    pub keys: Option<&'a [u32]>,
}

/// An integer column that is one value throughout, or one per row.
pub(super) enum Ints<'a> {
    One(i64),
    Each(&'a [i64]),
}

/// The rows of a row group, column by column. The optional columns (`parent`, `dur`, `selfs`) hold only the
/// values present, in order (as their pages do).
pub(super) struct Group<'a> {
    pub n: usize,
    pub host: Keyed<'a>,
    pub pid: Ints<'a>,
    pub tid: Ints<'a>,
    pub thread: Keyed<'a>,
    /// The row group's functions (global ids) by key: the function dictionaries' order.
    pub funcs: &'a [u32],
    /// Each row's key among `funcs`.
    pub func: &'a [u32],
    pub depth: &'a [u32],
    pub call_id: &'a [i64],
    pub parent: &'a [i64],
    pub has_parent: &'a [bool],
    pub start: &'a [i64],
    pub dur: &'a [i64],
    pub selfs: &'a [i64],
    pub closed: &'a [bool],
    pub raised: &'a [bool],
    pub suspensions: &'a [i64],
}

/// What encoding keeps from one row group to the next of the same writer: buffers, and per 64-bit column
/// (call_id, parent_id, start_ns, duration_ns, self_ns) the row groups left whose page is stored without
/// trying compression.
#[derive(Default)]
pub(super) struct Scratch {
    buf: Vec<u8>,
    levels: Vec<u8>,
    raw: [u8; 5],
}

/// The row group's column chunks, in the schema's order.
pub(super) fn encode(
    layout: &CallsLayout,
    funcs: &RwLock<Funcs>,
    g: &Group<'_>,
    scratch: &mut Scratch,
) -> ParquetResult<Vec<Vec<CompressedPage>>> {
    let p = layout.pages;
    let n = g.n;
    let mut out: Vec<Vec<CompressedPage>> = Vec::with_capacity(layout.descriptors.len());
    let mut descs = layout.descriptors.iter();
    let mut next = || descs.next().expect("a descriptor per column");
    let Scratch { buf, levels, raw } = scratch;
    // A string dictionary column: a thread's (its names) or a shared row group's, whose keys run thread by
    // thread; one key throughout (the host, a thread's name most of the time) is one RLE run.
    let keyed = |k: &Keyed<'_>, d: &Descriptor, buf: &mut Vec<u8>| -> ParquetResult<Vec<CompressedPage>> {
        let max = k.keys.map_or(0, |keys| keys.iter().copied().max().unwrap_or(0));
        buf.clear();
        encode::plain_strings(k.dict[..=max as usize].iter().map(|s| &**s), buf);
        let dict = p.dict(buf, max as usize + 1)?;
        buf.clear();
        match k.keys {
            Some(keys) => encode::dict_runs(keys, max, buf),
            None => {
                buf.push(1);
                encode::rle_run(n, 0, 1, buf);
            }
        }
        Ok(vec![dict, p.data(Encoding::RleDictionary, &[], buf, n, 0, None)?.page(d)])
    };
    // pid, tid: constant within a thread's row group (every delta 0, a few bytes per block), in runs in a
    // shared one; with their least and greatest values.
    let ints = |v: &Ints<'_>, d: &Descriptor, buf: &mut Vec<u8>| -> ParquetResult<CompressedPage> {
        buf.clear();
        let stats = match *v {
            Ints::One(v) => {
                encode::delta_constant(v, n, buf);
                Some((v, v))
            }
            Ints::Each(vals) => encode::delta(vals, buf),
        };
        let stats = stats.map(|(lo, hi)| (&d.primitive_type, lo, hi));
        Ok(p.data(Encoding::DeltaBinaryPacked, &[], buf, n, 0, stats)?.page(d))
    };
    if !layout.partitioned {
        let d = next();
        out.push(keyed(&g.host, d, buf)?);
        out.push(vec![ints(&g.pid, next(), buf)?]);
    }
    out.push(vec![ints(&g.tid, next(), buf)?]);
    let d = next();
    out.push(keyed(&g.thread, d, buf)?);
    // function, module, file, first_line: one page of keys under four dictionaries.
    let nf = g.funcs.len();
    buf.clear();
    encode::dict_keys(g.func, nf.saturating_sub(1) as u32, buf);
    let keys = p.data(Encoding::RleDictionary, &[], buf, n, 0, None)?;
    {
        let funcs = funcs.read().expect("not poisoned");
        let list = &funcs.list;
        let f = |k: &u32| &list[*k as usize];
        buf.clear();
        encode::plain_strings(g.funcs.iter().map(|k| f(k).name.as_str()), buf);
        out.push(vec![p.dict(buf, nf)?, keys.clone().page(next())]);
        buf.clear();
        encode::plain_strings(g.funcs.iter().map(|k| f(k).module.as_str()), buf);
        out.push(vec![p.dict(buf, nf)?, keys.clone().page(next())]);
        buf.clear();
        encode::plain_strings(g.funcs.iter().map(|k| f(k).file.as_str()), buf);
        out.push(vec![p.dict(buf, nf)?, keys.clone().page(next())]);
        buf.clear();
        encode::plain_i32(g.funcs.iter().map(|k| f(k).first_line as i32), buf);
        out.push(vec![p.dict(buf, nf)?, keys.page(next())]);
    }
    // depth: its own key into 0..=max.
    let max_depth = g.depth.iter().copied().max().unwrap_or(0);
    buf.clear();
    encode::plain_i32(0..=max_depth as i32, buf);
    let dict = p.dict(buf, max_depth as usize + 1)?;
    buf.clear();
    encode::dict_keys(g.depth, max_depth, buf);
    out.push(vec![dict, p.data(Encoding::RleDictionary, &[], buf, n, 0, None)?.page(next())]);
    // call_id, parent_id, start_ns and start (one page), duration_ns, self_ns: delta-packed, with their
    // least and greatest values as statistics.
    // A column whose page compression did not shrink is stored as it is for the next row groups
    // (`skip`: how many are left), then tried again.
    let int64 = |vals: &[i64],
                 defined: Option<&[bool]>,
                 d: &Descriptor,
                 (buf, levels): (&mut Vec<u8>, &mut Vec<u8>),
                 skip: &mut u8| {
        buf.clear();
        levels.clear();
        if let Some(defined) = defined {
            encode::levels(defined, levels);
        }
        let stats = encode::delta(vals, buf).map(|(lo, hi)| (&d.primitive_type, lo, hi));
        let pages = Pages { squeeze: *skip == 0, ..p };
        *skip = skip.saturating_sub(1);
        let page = pages.data(Encoding::DeltaBinaryPacked, levels, buf, n, n - vals.len(), stats)?;
        if pages.squeeze && !page.compressed() {
            *skip = RAW_GROUPS;
        }
        ParquetResult::Ok(page)
    };
    let d = next();
    out.push(vec![int64(g.call_id, None, d, (buf, levels), &mut raw[0])?.page(d)]);
    let d = next();
    out.push(vec![int64(g.parent, Some(g.has_parent), d, (buf, levels), &mut raw[1])?.page(d)]);
    let d = next();
    let start: DataPage = int64(g.start, None, d, (buf, levels), &mut raw[2])?;
    out.push(vec![start.clone().page(d)]);
    out.push(vec![start.page(next())]);
    let d = next();
    out.push(vec![int64(g.dur, Some(g.closed), d, (buf, levels), &mut raw[3])?.page(d)]);
    let d = next();
    out.push(vec![int64(g.selfs, Some(g.closed), d, (buf, levels), &mut raw[4])?.page(d)]);
    buf.clear();
    encode::plain_bools(g.raised, buf);
    out.push(vec![p.data(Encoding::Plain, &[], buf, n, 0, None)?.page(next())]);
    buf.clear();
    encode::delta(g.suspensions, buf);
    out.push(vec![p.data(Encoding::DeltaBinaryPacked, &[], buf, n, 0, None)?.page(next())]);
    Ok(out)
}
