//! Trace format v1: a file header, then append-only blocks of one thread's records each.
//!
//! The full specification is docs/FORMAT.md; each layout is also documented beside the code that writes it:
//! [`header`] (file header), [`block`] (block header and records), [`writer`] (how blocks reach the file) and
//! [`reader`] (how a reader finds blocks, checks them and skips damage; on AMD CPUs with AVX512-VBMI2 its call
//! records are decoded eight at a time by `avx512`).

#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod block;
pub mod header;
pub mod reader;
pub mod writer;
