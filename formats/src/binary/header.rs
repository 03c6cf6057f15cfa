//! The file header: who wrote the trace, and how to turn its monotonic clock into wall-clock time.
//!
//! Layout (little-endian; "varint" is LEB128, "str" is a varint byte length then UTF-8 bytes):
//!
//! ```text
//! offset  size  field
//!      0     8  magic "PYLUTRC\0"
//!      8     2  format major (u16)            readers refuse another major
//!     10     2  format minor (u16)            readers accept any minor of their major
//!     12     4  header_len (u32)              bytes from offset 0 to the first block
//!     16     4  CRC32C of bytes [20, header_len)
//!     20     …  varint pid, varint ppid, varint clock.monotonic_ns, varint clock.wall_ns,
//!               str hostname, str python_version, varint argc, argc × str argv
//!               (a later minor may append fields here; header_len skips them)
//! ```

use crate::error::FileError;
use crate::varint;

pub const MAGIC: &[u8; 8] = b"PYLUTRC\0";
pub const FORMAT_MAJOR: u16 = 1;
pub const FORMAT_MINOR: u16 = 2;
const FIXED_LEN: usize = 20;
/// A header larger than this is taken as corrupt (it holds a few names and the argv).
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// Pairs one reading of the monotonic clock (what records are stamped with) with the wall clock at the same
/// moment, so readers can show real times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockAnchor {
    pub monotonic_ns: u64,
    /// Nanoseconds since the Unix epoch.
    pub wall_ns: u64,
}

impl ClockAnchor {
    /// Wall-clock nanoseconds since the epoch for a monotonic reading.
    #[inline(always)]
    pub fn to_wall(&self, monotonic_ns: u64) -> i64 {
        (self.wall_ns as i64).wrapping_add(monotonic_ns.wrapping_sub(self.monotonic_ns) as i64)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileHeader {
    pub version_major: u16,
    pub version_minor: u16,
    pub pid: u32,
    pub ppid: u32,
    pub hostname: String,
    /// e.g. `3.11.7`.
    pub python_version: String,
    pub argv: Vec<String>,
    pub clock: ClockAnchor,
    /// Bytes from the start of the file to the first block.
    pub header_len: usize,
}

impl FileHeader {
    /// A header for this format version (`header_len` is filled in by [`FileHeader::encode`]).
    pub fn new(pid: u32, ppid: u32, hostname: &str, python_version: &str, argv: &[String], clock: ClockAnchor) -> Self {
        FileHeader {
            version_major: FORMAT_MAJOR,
            version_minor: FORMAT_MINOR,
            pid,
            ppid,
            hostname: hostname.to_owned(),
            python_version: python_version.to_owned(),
            argv: argv.to_vec(),
            clock,
            header_len: 0,
        }
    }

    /// The header's bytes, as they start a trace file.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_MAJOR.to_le_bytes());
        out.extend_from_slice(&FORMAT_MINOR.to_le_bytes());
        out.extend_from_slice(&[0u8; 8]); // header_len and CRC, filled below
        varint::put(&mut out, self.pid as u64);
        varint::put(&mut out, self.ppid as u64);
        varint::put(&mut out, self.clock.monotonic_ns);
        varint::put(&mut out, self.clock.wall_ns);
        varint::put_bytes(&mut out, self.hostname.as_bytes());
        varint::put_bytes(&mut out, self.python_version.as_bytes());
        varint::put(&mut out, self.argv.len() as u64);
        for a in &self.argv {
            varint::put_bytes(&mut out, a.as_bytes());
        }
        let len = out.len() as u32;
        out[12..16].copy_from_slice(&len.to_le_bytes());
        let crc = crate::crc::crc32c(&out[FIXED_LEN..]);
        out[16..20].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses the header at the start of `data`.
    pub fn decode(data: &[u8]) -> Result<FileHeader, FileError> {
        if data.is_empty() {
            return Err(FileError::Empty);
        }
        if data.len() < FIXED_LEN {
            if MAGIC.starts_with(data) || data.starts_with(MAGIC) {
                return Err(FileError::HeaderTruncated { expected: FIXED_LEN, have: data.len() });
            }
            return Err(FileError::UnknownFormat(preview(data)));
        }
        if &data[..8] != MAGIC {
            return Err(FileError::UnknownFormat(preview(data)));
        }
        let major = u16::from_le_bytes([data[8], data[9]]);
        let minor = u16::from_le_bytes([data[10], data[11]]);
        if major != FORMAT_MAJOR {
            return Err(FileError::UnsupportedVersion { major, minor });
        }
        let header_len = u32::from_le_bytes(data[12..16].try_into().unwrap()) as usize;
        if !(FIXED_LEN..=MAX_HEADER_LEN).contains(&header_len) {
            return Err(FileError::HeaderCorrupt { offset: 12, what: "header length out of range" });
        }
        if data.len() < header_len {
            return Err(FileError::HeaderTruncated { expected: header_len, have: data.len() });
        }
        let crc = u32::from_le_bytes(data[16..20].try_into().unwrap());
        if crate::crc::crc32c(&data[FIXED_LEN..header_len]) != crc {
            return Err(FileError::HeaderCorrupt { offset: 16, what: "header checksum mismatch" });
        }
        let mut r = FieldReader { data: &data[..header_len], pos: FIXED_LEN };
        let pid = r.u32()?;
        let ppid = r.u32()?;
        let monotonic_ns = r.u64()?;
        let wall_ns = r.u64()?;
        let hostname = r.string()?;
        let python_version = r.string()?;
        let argc = r.u64()?;
        let mut argv = Vec::new();
        for _ in 0..argc {
            argv.push(r.string()?);
        }
        Ok(FileHeader {
            version_major: major,
            version_minor: minor,
            pid,
            ppid,
            hostname,
            python_version,
            argv,
            clock: ClockAnchor { monotonic_ns, wall_ns },
            header_len,
        })
    }
}

/// The first bytes of an unknown file, printable, for the error line.
fn preview(data: &[u8]) -> String {
    String::from_utf8_lossy(&data[..data.len().min(16)]).into_owned()
}

struct FieldReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl FieldReader<'_> {
    fn err(&self, what: &'static str) -> FileError {
        FileError::HeaderCorrupt { offset: self.pos as u64, what }
    }

    fn u64(&mut self) -> Result<u64, FileError> {
        let (v, n) = varint::get(&self.data[self.pos..]).ok_or_else(|| self.err("bad varint in header"))?;
        self.pos += n;
        Ok(v)
    }

    fn u32(&mut self) -> Result<u32, FileError> {
        let v = self.u64()?;
        u32::try_from(v).map_err(|_| self.err("header field out of range"))
    }

    fn string(&mut self) -> Result<String, FileError> {
        let len = self.u64()? as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| self.err("header string past its end"))?;
        let s = std::str::from_utf8(&self.data[self.pos..end]).map_err(|_| self.err("header string not UTF-8"))?;
        self.pos = end;
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = FileHeader::new(
            4510,
            1,
            "web-1",
            "3.11.7",
            &["manage.py".into(), "runserver".into()],
            ClockAnchor { monotonic_ns: 123, wall_ns: 1_589_113_696_048_286_000 },
        );
        let bytes = h.encode();
        let back = FileHeader::decode(&bytes).unwrap();
        assert_eq!(back.header_len, bytes.len());
        assert_eq!(FileHeader { header_len: 0, ..back }, h);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = FileHeader::new(1, 0, "h", "3.9", &["a".into()], ClockAnchor::default()).encode();
        for cut in 0..bytes.len() {
            assert!(FileHeader::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn other_major_is_refused() {
        let mut bytes = FileHeader::default().encode();
        bytes[8] = 2;
        assert_eq!(FileHeader::decode(&bytes), Err(FileError::UnsupportedVersion { major: 2, minor: FORMAT_MINOR }));
    }
}
