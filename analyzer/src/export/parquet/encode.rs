//! Parquet pages made straight from typed slices, with polars-parquet's own encoders (DELTA_BINARY_PACKED,
//! the RLE/bit-packed hybrid) and compression: what `calls.parquet` is written with. Going through Arrow arrays
//! and polars' array writer cost most of the export (building arrays, hashing dictionary values, statistics,
//! a page per column chosen by polars); here each column gets the encoding that makes it small before
//! compression, and a page encoded once can serve several columns holding the same keys.

use polars_parquet::parquet::compression::{compress, Compression, CompressionOptions};
use polars_parquet::parquet::encoding::{bitpacked, Encoding};
use polars_parquet::parquet::error::ParquetResult;
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::{
    CompressedDataPage, CompressedDictPage, CompressedPage, DataPageHeader, DataPageHeaderV2,
};
use polars_parquet::parquet::schema::types::PrimitiveType;
use polars_parquet::parquet::statistics::PrimitiveStatistics;
use polars_parquet::parquet::CowBuffer;
use std::cell::RefCell;

/// The bits a dictionary key up to `max` needs (at least one: some readers reject width 0).
pub fn key_bits(max: u32) -> u32 {
    (32 - max.leading_zeros()).max(1)
}

/// Values per block of DELTA_BINARY_PACKED, and per miniblock (each with its own bit width).
const BLOCK: usize = 256;
const MINI: usize = 64;

fn uleb(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64, out: &mut Vec<u8>) {
    uleb(((v << 1) ^ (v >> 63)) as u64, out)
}

/// DELTA_BINARY_PACKED of `values` (INT64 or INT32 columns alike), appended to `out`: blocks of 256 deltas,
/// less their block's least, bit-packed in four miniblocks of 64 at the width each one needs (polars' own
/// encoder is not public, and it uses one width per block). Returns the least and greatest of `values` (None
/// when empty), found on the way: a pass of its own cost a third as much as the encoding.
pub fn delta(values: &[i64], out: &mut Vec<u8>) -> Option<(i64, i64)> {
    // One value throughout (`suspensions`, nearly always): every delta 0, without packing them.
    if let Some(&first) = values.first() {
        if values.iter().all(|&v| v == first) {
            delta_constant(first, values.len(), out);
            return Some((first, first));
        }
    }
    uleb(BLOCK as u64, out);
    uleb((BLOCK / MINI) as u64, out);
    uleb(values.len() as u64, out);
    let Some(&first) = values.first() else {
        zigzag(0, out);
        return None;
    };
    zigzag(first, out);
    let mut raw = [0i64; BLOCK];
    let mut packed = [0u64; BLOCK];
    let mut prev = first;
    let (mut lo, mut hi) = (first, first);
    for block in values[1..].chunks(BLOCK) {
        let mut min = i64::MAX;
        for (d, &v) in raw.iter_mut().zip(block) {
            *d = v.wrapping_sub(prev);
            prev = v;
            min = min.min(*d);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        zigzag(min, out);
        let mut widths = [0u8; BLOCK / MINI];
        for (m, w) in widths.iter_mut().enumerate().take(block.len().div_ceil(MINI)) {
            let len = (block.len() - m * MINI).min(MINI);
            let mut any = 0u64;
            for (p, &d) in packed[m * MINI..m * MINI + len].iter_mut().zip(&raw[m * MINI..]) {
                *p = d.wrapping_sub(min) as u64;
                any |= *p;
            }
            // The last miniblock is padded with zeros, which fit any width.
            packed[m * MINI + len..(m + 1) * MINI].fill(0);
            *w = (64 - any.leading_zeros()) as u8;
        }
        out.extend_from_slice(&widths);
        for (m, &w) in widths.iter().enumerate().take(block.len().div_ceil(MINI)) {
            let w = w as usize;
            if w > 0 {
                let at = out.len();
                out.resize(at + MINI * w / 8, 0);
                bitpacked::encode::<u64>(&packed[m * MINI..(m + 1) * MINI], w, &mut out[at..]);
            }
        }
    }
    Some((lo, hi))
}

/// DELTA_BINARY_PACKED of `n` copies of `v`: every delta 0, a block is its least delta and four zero widths.
pub fn delta_constant(v: i64, n: usize, out: &mut Vec<u8>) {
    uleb(BLOCK as u64, out);
    uleb((BLOCK / MINI) as u64, out);
    uleb(n as u64, out);
    zigzag(if n == 0 { 0 } else { v }, out);
    for _ in 0..n.saturating_sub(1).div_ceil(BLOCK) {
        out.extend_from_slice(&[0; 1 + BLOCK / MINI]);
    }
}

/// RLE_DICTIONARY data: the keys' bit width, then the keys as the RLE/bit-packed hybrid.
pub fn dict_keys(keys: &[u32], max: u32, out: &mut Vec<u8>) {
    let bits = key_bits(max);
    out.push(bits as u8);
    // One key throughout (a thread's name, most of the time): one run, without polars' value-by-value pass.
    match keys.first() {
        Some(&k) if keys.iter().all(|&x| x == k) => rle_run(keys.len(), k, bits, out),
        _ => bit_packed(keys.iter().copied(), bits, out),
    }
}

/// RLE_DICTIONARY data of keys that come in runs (a shared row group's threads and hosts, a few rows each): an
/// RLE run per run of equal keys where that is smaller than bit-packing them all.
pub fn dict_runs(keys: &[u32], max: u32, out: &mut Vec<u8>) {
    let bits = key_bits(max);
    let runs = 1 + keys.windows(2).filter(|w| w[0] != w[1]).count();
    // A run is its length (a byte or two) and its key in whole bytes; packed, a key is `bits` bits.
    if runs * (2 + bits.div_ceil(8) as usize) > keys.len() * bits as usize / 8 {
        return dict_keys(keys, max, out);
    }
    out.push(bits as u8);
    let mut at = 0;
    while at < keys.len() {
        let k = keys[at];
        let len = keys[at..].iter().take_while(|&&x| x == k).count();
        rle_run(len, k, bits, out);
        at += len;
    }
}

/// A nullable column's definition levels (V2 pages: the hybrid without a length prefix).
pub fn levels(defined: &[bool], out: &mut Vec<u8>) {
    if defined.iter().all(|&d| d) {
        // No nulls (most row groups of `duration_ns` and `self_ns`): one run of 1s.
        rle_run(defined.len(), 1, 1, out);
    } else {
        bit_packed(defined.iter().map(|&d| u32::from(d)), 1, out);
    }
}

/// The hybrid's bit-packed run of `values`, `bits` each (at most 32, every value fitting): all of them in one
/// run of groups of eight, the last group padded with zeros. polars' encoder looks for repeats value by value,
/// which took most of the keys' encoding (zstd finds the repeats afterwards anyway).
pub fn bit_packed(values: impl ExactSizeIterator<Item = u32>, bits: u32, out: &mut Vec<u8>) {
    let groups = values.len().div_ceil(8);
    uleb(((groups as u64) << 1) | 1, out);
    // Eight values of `bits` bits take `bits` bytes.
    let end = out.len() + groups * bits as usize;
    out.reserve(end + 8 - out.len());
    // Least significant bits first: the low bits of `acc` go out as they fill 32.
    let (mut acc, mut used) = (0u64, 0u32);
    for v in values {
        acc |= u64::from(v) << used;
        used += bits;
        if used >= 32 {
            out.extend_from_slice(&(acc as u32).to_le_bytes());
            acc >>= 32;
            used -= 32;
        }
    }
    out.extend_from_slice(&acc.to_le_bytes()[..used.div_ceil(8) as usize]);
    out.resize(end, 0);
}

/// The hybrid's RLE run of `n` copies of `value`: a ULEB128 of `n << 1`, then the value in whole bytes.
pub fn rle_run(n: usize, value: u32, bits: u32, out: &mut Vec<u8>) {
    uleb((n as u64) << 1, out);
    out.extend_from_slice(&value.to_le_bytes()[..bits.div_ceil(8) as usize]);
}

/// PLAIN booleans: one bit each, least significant first.
pub fn plain_bools(values: &[bool], out: &mut Vec<u8>) {
    for chunk in values.chunks(8) {
        out.push(chunk.iter().enumerate().fold(0u8, |b, (i, &v)| b | (u8::from(v) << i)));
    }
}

/// PLAIN byte arrays (a string dictionary's page): a 4-byte length, then the bytes.
pub fn plain_strings<'s>(values: impl Iterator<Item = &'s str>, out: &mut Vec<u8>) {
    for s in values {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
}

/// PLAIN INT32 (an integer dictionary's page).
pub fn plain_i32(values: impl Iterator<Item = i32>, out: &mut Vec<u8>) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// At least what compressing `n` bytes can take (zstd's and snappy's bounds), so that the page's buffer is
/// allocated once: growing it cost 6 % of the export in `realloc`.
fn bound(n: usize) -> usize {
    n + n / 6 + 1024
}

thread_local! {
    /// The worker's zstd context (at its level) and output buffer, kept from page to page: polars' `compress`
    /// makes a context per page, whose allocation and set-up was a tenth of the compression's time.
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>, Vec<u8>)>> = const { RefCell::new(None) };
}

/// Appends `data` compressed by zstd at `level` to `out`.
fn zstd_to(level: i32, data: &[u8], out: &mut Vec<u8>) -> ParquetResult<()> {
    ZSTD.with(|z| {
        let mut z = z.borrow_mut();
        if z.as_ref().is_none_or(|(l, ..)| *l != level) {
            *z = Some((level, zstd::bulk::Compressor::new(level)?, Vec::new()));
        }
        let (_, cctx, buf) = z.as_mut().expect("set above");
        buf.clear();
        buf.reserve(zstd::zstd_safe::compress_bound(data.len()));
        cctx.compress_to_buffer(data, buf)?;
        out.extend_from_slice(buf);
        Ok(())
    })
}

/// How a column's pages are compressed.
#[derive(Debug, Clone, Copy)]
pub struct Pages {
    pub compression: CompressionOptions,
    /// Compress data pages' values (false: store them as they are, the page saying so).
    pub squeeze: bool,
}

impl Pages {
    fn squeeze(&self, data: &[u8], out: &mut Vec<u8>) -> ParquetResult<()> {
        match self.compression {
            CompressionOptions::Uncompressed => {
                out.extend_from_slice(data);
                Ok(())
            }
            CompressionOptions::Zstd(level) => {
                zstd_to(level.map_or(zstd::DEFAULT_COMPRESSION_LEVEL, |l| l.compression_level()), data, out)
            }
            other => compress(other, data, out),
        }
    }

    /// A V2 data page of `rows` values (`nulls` of them null): `levels` (empty for a required column) are
    /// stored as they are, `values` compressed. `min_max`: an INT64 column's least and greatest non-null
    /// values, its statistics (they become the column chunk's, which readers prune row groups with).
    pub fn data(
        &self,
        encoding: Encoding,
        levels: &[u8],
        values: &[u8],
        rows: usize,
        nulls: usize,
        min_max: Option<(&PrimitiveType, i64, i64)>,
    ) -> ParquetResult<DataPage> {
        let mut buf = Vec::with_capacity(levels.len() + bound(values.len()));
        buf.extend_from_slice(levels);
        let mut compressed = self.squeeze && self.compression != CompressionOptions::Uncompressed;
        if compressed {
            self.squeeze(values, &mut buf)?;
            // Values that compression does not shrink by a thirty-second (delta-packed durations: noise in the
            // low bits) are stored as they are: V2 pages say per page whether they are compressed, so a reader
            // does not decompress them either.
            if buf.len() - levels.len() > values.len() - values.len() / 32 {
                compressed = false;
            }
        }
        if !compressed {
            buf.truncate(levels.len());
            buf.extend_from_slice(values);
        }
        let header = DataPageHeaderV2 {
            num_values: rows as i32,
            num_nulls: nulls as i32,
            num_rows: rows as i32,
            encoding: encoding.into(),
            definition_levels_byte_length: levels.len() as i32,
            repetition_levels_byte_length: 0,
            is_compressed: Some(compressed),
            statistics: min_max.map(|(t, min, max)| {
                PrimitiveStatistics {
                    primitive_type: t.clone(),
                    null_count: Some(nulls as i64),
                    distinct_count: None,
                    min_value: Some(min),
                    max_value: Some(max),
                }
                .serialize()
            }),
        };
        Ok(DataPage { header, buf, uncompressed: levels.len() + values.len(), rows, compression: self.compression })
    }

    /// A dictionary page of `n` values, PLAIN-encoded in `values`.
    pub fn dict(&self, values: &[u8], n: usize) -> ParquetResult<CompressedPage> {
        let mut buf = Vec::with_capacity(bound(values.len()));
        self.squeeze(values, &mut buf)?;
        Ok(CompressedPage::Dict(CompressedDictPage::new(
            CowBuffer::Owned(buf),
            Compression::from(self.compression),
            values.len(),
            n,
            false,
        )))
    }
}

/// An encoded, compressed data page not yet tied to its column: columns holding the same keys under different
/// dictionaries (a function's name, module, file) share one, encoded and compressed once.
#[derive(Debug, Clone)]
pub struct DataPage {
    header: DataPageHeaderV2,
    buf: Vec<u8>,
    uncompressed: usize,
    rows: usize,
    compression: CompressionOptions,
}

impl DataPage {
    /// The page's values are compressed (see [`Pages::data`]).
    pub fn compressed(&self) -> bool {
        self.header.is_compressed == Some(true)
    }

    pub fn page(self, descriptor: &Descriptor) -> CompressedPage {
        CompressedPage::Data(CompressedDataPage::new(
            DataPageHeader::V2(self.header),
            CowBuffer::Owned(self.buf),
            Compression::from(self.compression),
            self.uncompressed,
            descriptor.clone(),
            self.rows,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars_parquet::parquet::encoding::hybrid_rle;

    /// Without eight equal values in a row polars' encoder writes one bit-packed run too: the same bytes.
    #[test]
    fn bit_packed_runs_are_polars_runs() {
        for bits in [1u32, 3, 7, 8, 13, 31, 32] {
            let max = if bits == 32 { u32::MAX } else { (1 << bits) - 1 };
            for n in [8usize, 64, 1000, 8192] {
                let mut x = 0x9e37_79b9_u32 ^ bits;
                let mut prev = u32::MAX;
                let values: Vec<u32> = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        let mut v = x & max;
                        if v == prev {
                            v ^= 1;
                        }
                        prev = v;
                        v
                    })
                    .collect();
                let mut ours = Vec::new();
                bit_packed(values.iter().copied(), bits, &mut ours);
                let mut theirs = Vec::new();
                hybrid_rle::encode::<u32, _, _>(&mut theirs, values.iter().copied(), bits).unwrap();
                assert_eq!(ours, theirs, "{bits} bits, {n} values");
            }
        }
    }

    /// Keys in runs (a shared row group's threads) read back as they were, whether written as runs or packed.
    #[test]
    fn dict_runs_read_back() {
        let mut cases: Vec<Vec<u32>> = vec![vec![], vec![3], vec![0; 1000], (0..300).collect()];
        // Runs of 1 to 6 keys of up to 2^k.
        for k in [1u32, 5, 13, 20] {
            let mut keys = Vec::new();
            for (i, len) in (0..500u32).map(|i| (i, 1 + (i * 7) % 6)) {
                keys.extend(std::iter::repeat_n(i.wrapping_mul(2_654_435_761) % (1 << k), len as usize));
            }
            cases.push(keys);
        }
        for keys in cases {
            let max = keys.iter().copied().max().unwrap_or(0);
            let mut out = Vec::new();
            dict_runs(&keys, max, &mut out);
            let bits = u32::from(out[0]);
            assert_eq!(bits, key_bits(max));
            let got = hybrid_rle::HybridRleDecoder::new(&out[1..], bits, keys.len()).collect().unwrap();
            assert_eq!(got, keys, "{max}");
        }
    }

    /// DELTA_BINARY_PACKED read back, as the format defines it (polars' decoder is not public).
    fn undelta(b: &[u8]) -> Vec<i64> {
        let mut pos = 0;
        let uleb = |pos: &mut usize| {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let byte = b[*pos];
                *pos += 1;
                v |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    return v;
                }
            }
        };
        let unzig = |v: u64| ((v >> 1) as i64) ^ -((v & 1) as i64);
        let (block, minis, n) = (uleb(&mut pos) as usize, uleb(&mut pos) as usize, uleb(&mut pos) as usize);
        let mut out = vec![unzig(uleb(&mut pos))];
        let per = block / minis;
        while out.len() < n {
            let min = unzig(uleb(&mut pos));
            let widths = b[pos..pos + minis].to_vec();
            pos += minis;
            for w in widths {
                let w = w as usize;
                if out.len() >= n {
                    break;
                }
                let bit = |i: usize| u64::from((b[pos + i / 8] >> (i % 8)) & 1);
                for j in 0..per {
                    let d = (0..w).fold(0u64, |d, k| d | (bit(j * w + k) << k));
                    if out.len() < n {
                        out.push(out.last().unwrap().wrapping_add(min).wrapping_add(d as i64));
                    }
                }
                pos += per * w / 8;
            }
        }
        out.truncate(n);
        out
    }

    #[test]
    fn delta_reads_back_with_its_least_and_greatest() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut cases: Vec<Vec<i64>> = vec![vec![], vec![5], vec![7; 1000], vec![i64::MIN, i64::MAX, 0, -1]];
        for n in [2usize, 63, 64, 65, 257, 1000, 4099] {
            let mut t = 1_700_000_000_000_000_000i64;
            cases.push(
                (0..n)
                    .map(|_| {
                        t += (rand() % 5000) as i64;
                        t
                    })
                    .collect(),
            );
            cases.push((0..n).map(|_| (rand() % (1 << (rand() % 40))) as i64).collect());
            cases.push((0..n).map(|_| rand() as i64).collect());
        }
        for values in cases {
            let mut out = Vec::new();
            let stats = delta(&values, &mut out);
            assert_eq!(undelta(&out), values);
            let want = values.iter().min().map(|&lo| (lo, *values.iter().max().unwrap()));
            assert_eq!(stats, want);
        }
    }
}
