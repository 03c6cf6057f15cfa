//! The analyzer's integration tests, in one binary (one link, one run).

mod bench;
mod binary_input;
mod cli;
mod common;
mod conventions;
mod deep;
mod diff;
mod export;
mod filtered;
mod golden;
mod handchecked;
mod inputs;
mod malloc_tuning;
#[cfg(feature = "parquet")]
mod parquet;
mod properties;
mod redefined;
mod threads;
mod unfinished;
