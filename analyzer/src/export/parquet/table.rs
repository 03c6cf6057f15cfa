//! Parquet files written a row group at a time with polars' writer (polars-parquet over polars-arrow arrays):
//! column buffers ([`Col`]), a table's columns ([`Spec`]), and a table that flushes a row group whenever it
//! holds `row_group_size` rows, into one file or one file per host and process (`host=…/pid=…/`, hive style).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars_arrow::array::{Array, BooleanArray, DictionaryArray, MutableBinaryViewArray, PrimitiveArray};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, Field, IntegerType, TimeUnit};
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::write::{
    array_to_columns, compress, fallible_streaming_iterator, get_dtype_encoding, to_parquet_schema, CompressedPage,
    CompressionOptions, DynIter, DynStreamingIterator, Encoding, FileWriter, ParquetType, StatisticsOptions, Version,
    WriteOptions, ZstdLevel,
};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::export::ExportError;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    I64,
    /// Nullable 64-bit integer.
    OptI64,
    I32,
    F64,
    Bool,
    Str,
    /// A string column of mostly distinct values, written without a dictionary.
    Text,
    /// A string column written with a dictionary (few distinct values: functions, threads, hosts).
    Dict,
    /// Nanoseconds since the epoch, UTC.
    Ts,
}

impl Kind {
    fn dtype(self) -> ArrowDataType {
        match self {
            Kind::I64 | Kind::OptI64 => ArrowDataType::Int64,
            Kind::I32 => ArrowDataType::Int32,
            Kind::F64 => ArrowDataType::Float64,
            Kind::Bool => ArrowDataType::Boolean,
            Kind::Str | Kind::Text => ArrowDataType::Utf8View,
            Kind::Dict => ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::Utf8View), false),
            Kind::Ts => ArrowDataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        }
    }
}

/// A table's columns (name, type), `host` and `pid` first unless the files are partitioned by them.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: &'static str,
    pub cols: Vec<(&'static str, Kind)>,
    /// Write min/max statistics and page indexes (polars computes them from the arrays; pages encoded
    /// elsewhere carry none).
    pub statistics: bool,
}

impl Spec {
    pub fn new(name: &'static str, partitioned: bool, cols: &[(&'static str, Kind)]) -> Spec {
        let mut all = Vec::new();
        if !partitioned {
            all.push(("host", Kind::Dict));
            all.push(("pid", Kind::I64));
        }
        all.extend_from_slice(cols);
        Spec { name, cols: all, statistics: true }
    }

    pub fn empty_cols(&self) -> Vec<Col> {
        self.cols.iter().map(|&(_, k)| Col::new(k)).collect()
    }

    /// Each column's Parquet descriptor (what its pages are written for), in order.
    pub fn descriptors(&self) -> Result<Vec<Descriptor>, String> {
        let schema = to_parquet_schema(&self.schema()).map_err(|e| e.to_string())?;
        Ok(schema.columns().iter().map(|c| c.descriptor.clone()).collect())
    }

    fn schema(&self) -> ArrowSchema {
        self.cols.iter().map(|&(n, k)| Field::new(n.into(), k.dtype(), matches!(k, Kind::OptI64))).collect()
    }
}

/// One column's values in a row group being built.
#[derive(Debug)]
pub enum Col {
    I64(Vec<i64>),
    OptI64(Vec<i64>, Vec<bool>),
    I32(Vec<i32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    /// Straight into Arrow's buffers: a `String` per cell was a tenth of the export in malloc and free.
    Str(MutableBinaryViewArray<str>),
    /// Keys into `values`; `ids` names each value by the caller's id (a function's number, a thread's), so that
    /// a value is looked up by number, not by hashing its text, and batches merge by id.
    Dict {
        keys: Vec<u32>,
        ids: Vec<u64>,
        map: DictIds,
        values: Vec<String>,
    },
    Ts(Vec<i64>),
}

impl Col {
    pub fn new(k: Kind) -> Col {
        match k {
            Kind::I64 => Col::I64(Vec::new()),
            Kind::OptI64 => Col::OptI64(Vec::new(), Vec::new()),
            Kind::I32 => Col::I32(Vec::new()),
            Kind::F64 => Col::F64(Vec::new()),
            Kind::Bool => Col::Bool(Vec::new()),
            Kind::Str | Kind::Text => Col::Str(MutableBinaryViewArray::new()),
            Kind::Dict => Col::Dict { keys: Vec::new(), ids: Vec::new(), map: DictIds::default(), values: Vec::new() },
            Kind::Ts => Col::Ts(Vec::new()),
        }
    }

    fn into_array(self, k: Kind) -> Box<dyn Array> {
        match self {
            Col::I64(v) => PrimitiveArray::from_vec(v).boxed(),
            Col::Ts(v) => PrimitiveArray::from_vec(v).to(k.dtype()).boxed(),
            Col::OptI64(v, valid) => PrimitiveArray::from_vec(v).with_validity(Some(Bitmap::from_iter(valid))).boxed(),
            Col::I32(v) => PrimitiveArray::from_vec(v).boxed(),
            Col::F64(v) => PrimitiveArray::from_vec(v).boxed(),
            Col::Bool(v) => BooleanArray::from_slice(v).boxed(),
            Col::Str(m) => m.freeze().boxed(),
            Col::Dict { keys, values, .. } => {
                let mut m = MutableBinaryViewArray::<str>::with_capacity(values.len());
                for s in &values {
                    m.push_value(s.as_str());
                }
                DictionaryArray::<u32>::try_new(k.dtype(), PrimitiveArray::from_vec(keys), m.freeze().boxed())
                    .expect("keys index the values")
                    .boxed()
            }
        }
    }
}

/// A dictionary column's keys by the caller's id: small ids (functions) index a vector, others (threads,
/// hosts) are hashed. Three of the calls table's columns look a function up on every row.
#[derive(Debug, Default)]
pub struct DictIds {
    dense: Vec<u32>,
    sparse: FxHashMap<u64, u32>,
}

impl DictIds {
    const DENSE: u64 = 1 << 20;
    const NONE: u32 = u32::MAX;

    /// The key of value `id`, added to `ids` and `values` (made by `value`) the first time.
    fn key(&mut self, id: u64, ids: &mut Vec<u64>, values: &mut Vec<String>, value: impl FnOnce() -> String) -> u32 {
        let next = values.len() as u32;
        let slot = if id < Self::DENSE {
            let i = id as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, Self::NONE);
            }
            &mut self.dense[i]
        } else {
            self.sparse.entry(id).or_insert(Self::NONE)
        };
        if *slot == Self::NONE {
            *slot = next;
            ids.push(id);
            values.push(value());
        }
        *slot
    }
}

/// Pushes one row's values, column by column, in the spec's order.
pub struct Row<'c> {
    cols: &'c mut [Col],
    i: usize,
}

impl<'c> Row<'c> {
    pub fn new(cols: &'c mut [Col]) -> Self {
        Row { cols, i: 0 }
    }

    fn next(&mut self) -> &mut Col {
        self.i += 1;
        &mut self.cols[self.i - 1]
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        match self.next() {
            Col::I64(c) | Col::Ts(c) => c.push(v),
            c => unreachable!("i64 into {c:?}"),
        }
        self
    }

    pub fn opt(&mut self, v: Option<i64>) -> &mut Self {
        match self.next() {
            Col::OptI64(c, valid) => {
                c.push(v.unwrap_or(0));
                valid.push(v.is_some());
            }
            c => unreachable!("optional i64 into {c:?}"),
        }
        self
    }

    pub fn i32(&mut self, v: i32) -> &mut Self {
        match self.next() {
            Col::I32(c) => c.push(v),
            c => unreachable!("i32 into {c:?}"),
        }
        self
    }

    pub fn f64(&mut self, v: f64) -> &mut Self {
        match self.next() {
            Col::F64(c) => c.push(v),
            c => unreachable!("f64 into {c:?}"),
        }
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        match self.next() {
            Col::Bool(c) => c.push(v),
            c => unreachable!("bool into {c:?}"),
        }
        self
    }

    pub fn str(&mut self, v: &str) -> &mut Self {
        match self.next() {
            Col::Str(c) => c.push_value(v),
            c => unreachable!("str into {c:?}"),
        }
        self
    }

    /// A dictionary value known by `id` (its text is made only the first time).
    pub fn dict(&mut self, id: u64, value: impl FnOnce() -> String) -> &mut Self {
        match self.next() {
            Col::Dict { keys, ids, map, values } => {
                // Runs of one value (a batch's host and thread) skip the hash lookup.
                if let Some(&last) = keys.last().filter(|&&k| ids.get(k as usize) == Some(&id)) {
                    keys.push(last);
                    return self;
                }
                let k = map.key(id, ids, values, value);
                keys.push(k);
            }
            c => unreachable!("dictionary value into {c:?}"),
        }
        self
    }
}

/// An id for a host's name among dictionary values (a hash: hosts are few).
pub fn host_id(host: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    host.hash(&mut h);
    h.finish()
}

/// How the files are written.
#[derive(Debug, Clone)]
pub struct WriteSettings {
    pub dir: PathBuf,
    pub row_group_size: usize,
    pub compression: CompressionOptions,
    pub partition: bool,
    /// `calls.parquet`: a thread whose last row group would hold fewer rows than this puts them into a row
    /// group shared with other threads ([`shared_rows`]; 0: every thread's rows in row groups of their own).
    pub shared_rows: usize,
}

/// The default [`WriteSettings::shared_rows`]: a quarter of a row group. A row group costs the writer ~40 KB
/// of metadata until the footer, so row groups of their own, at least this big, cost it at most ~0.6 bytes per
/// row at the default size; the rows of smaller ones are copied once more.
pub fn shared_rows(row_group_size: usize) -> usize {
    row_group_size / 4
}

/// zstd's level when none is given. Level 1 against zstd's default 3 on a 128 MiB trace's export:
/// docs/performance-log.md, "Exports" (the pages are delta-packed and bit-packed first, so a stronger level
/// finds little more).
pub const ZSTD_LEVEL: i32 = 1;

/// `zstd`, `zstd:LEVEL` (1–22), `snappy` or `none`.
pub fn compression(name: &str) -> Option<CompressionOptions> {
    if let Some(level) = name.strip_prefix("zstd:") {
        let level = level.parse().ok().and_then(|l| ZstdLevel::try_new(l).ok())?;
        return Some(CompressionOptions::Zstd(Some(level)));
    }
    Some(match name {
        "zstd" => CompressionOptions::Zstd(Some(ZstdLevel::try_new(ZSTD_LEVEL).expect("a valid level"))),
        "snappy" => CompressionOptions::Snappy,
        "none" | "uncompressed" => CompressionOptions::Uncompressed,
        _ => return None,
    })
}

/// One Parquet file being written.
struct ParquetFile {
    path: PathBuf,
    w: FileWriter<BufWriter<File>>,
    schema: ArrowSchema,
    /// The columns' Parquet types, in the schema's order.
    types: Vec<ParquetType>,
    options: WriteOptions,
    rows: u64,
}

impl ParquetFile {
    fn create(path: PathBuf, spec: &Spec, s: &WriteSettings) -> Result<Self, ExportError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|error| ExportError::Io { path: dir.to_owned(), error })?;
        }
        let file = File::create(&path).map_err(|error| ExportError::Io { path: path.clone(), error })?;
        let options = WriteOptions {
            statistics: if spec.statistics { StatisticsOptions::default() } else { StatisticsOptions::empty() },
            version: Version::V2,
            compression: s.compression,
            data_page_size: None,
        };
        let schema = spec.schema();
        let types = to_parquet_schema(&schema).map_err(|e| perr(&path, e))?.fields().to_vec();
        // 64 KiB gathers page headers and small pages; a larger page (calls' columns: hundreds of KiB) goes to
        // the file directly (with 1 MiB, every page was copied into the buffer first: 1 % of the export).
        let w = FileWriter::try_new(BufWriter::with_capacity(1 << 16, file), schema.clone(), options)
            .map_err(|e| perr(&path, e))?;
        Ok(ParquetFile { path, w, schema, types, options, rows: 0 })
    }

    fn write(&mut self, spec: &Spec, cols: Vec<Col>, len: usize) -> Result<(), ExportError> {
        let path = &self.path;
        // 64-bit integers (times, ids, durations) are delta-packed: neighbouring rows' times and ids are close,
        // and even unrelated durations then take their bit width, not 64 bits, before compression. The rest
        // keep polars' choice (dictionaries where they pay).
        let encodings: Vec<_> = spec
            .cols
            .iter()
            .zip(self.schema.iter_values())
            .map(|(&(_, k), f)| match k {
                Kind::I64 | Kind::OptI64 | Kind::Ts => vec![Encoding::DeltaBinaryPacked],
                // Values mostly distinct (debugger values): polars would try a dictionary first, which cost
                // more than the rest of writing the table.
                Kind::Text => vec![Encoding::Plain],
                _ => get_dtype_encoding(&f.dtype),
            })
            .collect();
        let options = self.options;
        // The columns are encoded and compressed at once, one per worker of a pool of their own (the replay
        // fills the global pool, and waits for this writer when its channel is full).
        let encoded: Vec<Result<Vec<CompressedPage>, String>> = encoder_pool().install(|| {
            cols.into_par_iter()
                .zip(spec.cols.par_iter())
                .zip(self.types.par_iter())
                .zip(encodings.par_iter())
                .map(|(((c, &(_, k)), t), e)| encode_column(c.into_array(k), t.clone(), options, e))
                .collect()
        });
        let encoded = encoded.into_iter().collect::<Result<Vec<_>, _>>().map_err(|e| perr(path, e))?;
        self.write_pages(encoded, len)
    }

    /// Appends a row group: each column's compressed pages, in the schema's order.
    fn write_pages(&mut self, columns: Vec<Vec<CompressedPage>>, len: usize) -> Result<(), ExportError> {
        let columns =
            DynIter::new(columns.iter().map(|pages| {
                Ok(DynStreamingIterator::new(fallible_streaming_iterator::convert(pages.iter().map(Ok))))
            }));
        self.w.write(len as u64, columns).map_err(|e| perr(&self.path, e))?;
        self.rows += len as u64;
        Ok(())
    }

    fn finish(mut self) -> Result<(PathBuf, u64), ExportError> {
        // No Arrow schema in the footer: readers then take the Parquet types (plain strings, not categoricals).
        self.w.end(Some(Vec::new())).map_err(|e| perr(&self.path, e))?;
        let mut inner = self.w.into_inner();
        std::io::Write::flush(&mut inner).map_err(|error| ExportError::Io { path: self.path.clone(), error })?;
        Ok((self.path, self.rows))
    }
}

/// One column of a row group, encoded and compressed into its pages.
fn encode_column(
    array: Box<dyn Array>,
    t: ParquetType,
    options: WriteOptions,
    encoding: &[Encoding],
) -> Result<Vec<CompressedPage>, String> {
    let mut pages = Vec::new();
    // One leaf per column: the tables have no nested types.
    for leaf in array_to_columns(array, t, options, encoding).map_err(|e| e.to_string())? {
        for page in leaf {
            let page = page.map_err(|e| e.to_string())?;
            pages.push(compress(page, Vec::new(), options.compression).map_err(|e| e.to_string())?);
        }
    }
    Ok(pages)
}

/// The writer's own threads, as many as the cores.
fn encoder_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("parquet-encode-{i}"))
            .build()
            .expect("a thread pool starts")
    })
}

fn perr(path: &Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::Parquet { path: path.to_owned(), what: e.to_string() }
}

/// The rows of one file not yet written, and the file.
struct Part {
    cols: Vec<Col>,
    len: usize,
    file: Option<ParquetFile>,
}

/// A table written in row groups, to one file or to one per host and process.
pub struct Table {
    pub spec: Spec,
    settings: WriteSettings,
    parts: BTreeMap<(Arc<str>, u32), Part>,
    /// The key of the one file when not partitioned (made once: a new `Arc` per row was a malloc and a free).
    whole: Arc<str>,
}

/// A file written: where, and how many rows.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub rows: u64,
}

impl Table {
    pub fn new(spec: Spec, settings: &WriteSettings) -> Table {
        Table { spec, settings: settings.clone(), parts: BTreeMap::new(), whole: Arc::from("") }
    }

    fn key(&self, host: &Arc<str>, pid: u32) -> (Arc<str>, u32) {
        if self.settings.partition {
            (host.clone(), pid)
        } else {
            (self.whole.clone(), 0)
        }
    }

    /// Adds one row: `host` and `pid` (columns, or the partition), then `fill` pushes the rest.
    pub fn row(&mut self, host: &Arc<str>, pid: u32, fill: impl FnOnce(&mut Row<'_>)) -> Result<(), ExportError> {
        let key = self.key(host, pid);
        let spec = &self.spec;
        let part =
            self.parts.entry(key.clone()).or_insert_with(|| Part { cols: spec.empty_cols(), len: 0, file: None });
        let mut r = Row::new(&mut part.cols);
        if !self.settings.partition {
            r.dict(host_id(host), || host.to_string()).i64(i64::from(pid));
        }
        fill(&mut r);
        part.len += 1;
        if part.len >= self.settings.row_group_size {
            self.flush(&key)?;
        }
        Ok(())
    }

    /// Writes a row group encoded elsewhere (`columns` of this spec, `len` rows) of one host and process.
    pub fn append_pages(
        &mut self,
        host: &Arc<str>,
        pid: u32,
        columns: Vec<Vec<CompressedPage>>,
        len: usize,
    ) -> Result<(), ExportError> {
        let key = self.key(host, pid);
        let path = self.path_of(&key);
        let spec = &self.spec;
        let part =
            self.parts.entry(key.clone()).or_insert_with(|| Part { cols: spec.empty_cols(), len: 0, file: None });
        if part.file.is_none() {
            part.file = Some(ParquetFile::create(path, spec, &self.settings)?);
        }
        part.file.as_mut().expect("just opened").write_pages(columns, len)
    }

    fn path_of(&self, key: &(Arc<str>, u32)) -> PathBuf {
        let file = format!("{}.parquet", self.spec.name);
        if self.settings.partition {
            self.settings
                .dir
                .join(format!("host={}", partition_value(&key.0)))
                .join(format!("pid={}", key.1))
                .join(file)
        } else {
            self.settings.dir.join(file)
        }
    }

    fn flush(&mut self, key: &(Arc<str>, u32)) -> Result<(), ExportError> {
        let path = self.path_of(key);
        let spec = self.spec.clone();
        let part = self.parts.get_mut(key).expect("the part exists");
        if part.len == 0 && part.file.is_some() {
            return Ok(());
        }
        if part.file.is_none() {
            part.file = Some(ParquetFile::create(path, &spec, &self.settings)?);
        }
        let cols = std::mem::replace(&mut part.cols, spec.empty_cols());
        let len = std::mem::take(&mut part.len);
        part.file.as_mut().expect("just opened").write(&spec, cols, len)
    }

    /// Writes what is left and closes the files. A table with no rows still gets its (empty) file, so that
    /// readers find every table; partitioned, only the partitions that have rows exist.
    pub fn finish(mut self) -> Result<Vec<Written>, ExportError> {
        if self.parts.is_empty() && !self.settings.partition {
            let spec = &self.spec;
            self.parts.insert((self.whole.clone(), 0), Part { cols: spec.empty_cols(), len: 0, file: None });
        }
        let keys: Vec<_> = self.parts.keys().cloned().collect();
        let mut out = Vec::new();
        for k in keys {
            let part = &self.parts[&k];
            if part.len > 0 || part.file.is_none() {
                self.flush(&k)?;
            }
            let part = self.parts.get_mut(&k).expect("the part exists");
            let (path, rows) = part.file.take().expect("flushed").finish()?;
            out.push(Written { path, rows });
        }
        Ok(out)
    }
}

/// A partition directory's value: `/` and control characters would break the path, `%` escapes (hive style).
fn partition_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '/' || c == '\\' || c == '%' || c == '=' || c.is_control() || (c == '.' && s.chars().all(|x| x == '.'))
        {
            for b in c.to_string().bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        "unknown".into()
    } else {
        out
    }
}
