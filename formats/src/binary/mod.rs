//! Trace format v1: a file header, then append-only blocks of one thread's records each.
//!
//! The full specification is docs/FORMAT.md; each layout is also documented beside the code that writes it:
//! [`header`] (file header), [`block`] (block header and records), [`writer`] (how blocks reach the file) and
//! [`reader`] (how a reader finds blocks, checks them and skips damage, and decodes records by the loop measured
//! fastest on the CPU: portable, `pext`, or eight call records at a time with AVX-512).

pub mod block;
pub mod header;
pub mod reader;
pub mod writer;
