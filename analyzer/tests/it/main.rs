//! The analyzer's integration tests, in one binary (one link, one run).

mod cli;
mod bench;
mod common;
mod golden;
mod handchecked;
mod properties;
