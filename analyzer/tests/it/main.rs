//! The analyzer's integration tests, in one binary (one link, one run).

mod bench;
mod cli;
mod common;
mod deep;
mod export;
mod golden;
mod handchecked;
mod properties;
