//! A deterministic generator of realistic traces, sized in bytes, for benchmarks and large tests.
//!
//! One simulated application (a function table shaped like a web service and its libraries) runs in
//! `processes` processes of `threads_per_process` threads each (see `sim` for the model: Zipf-distributed
//! calls, nested request trees, log-normal timings, exceptions that unwind, generators, line and debug
//! records, update markers). The same model renders as binary traces ([`write_binary`],
//! [`write_binary_dir`]) or as the original's text log ([`write_legacy`]). Same options → byte-identical
//! output: every random choice comes from ChaCha8, which is reproducible across platforms.

mod binary;
mod distributions;
mod functions;
mod legacy;
mod pyfloat;
mod sim;
mod values;

use std::path::PathBuf;

pub use binary::{write_binary, write_binary_dir};
pub use legacy::write_legacy;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    pub seed: u64,
    /// Total output size to reach, blocks not written yet included (the generator stops starting requests once it
    /// is reached, then lets the running ones finish, one per thread, so the result is slightly larger).
    pub target_bytes: u64,
    pub processes: u32,
    pub threads_per_process: u32,
    /// Distinct functions in the simulated application.
    pub functions: u32,
    /// Skew of function popularity (Zipf exponent; 0 = uniform).
    pub zipf_exponent: f64,
    /// Deepest call stack.
    pub max_depth: u32,
    /// Probability that a call raises (the exception then unwinds the caller half of the time, and so on).
    pub exception_rate: f64,
    /// Fraction of functions that are generators/coroutines (their calls suspend and resume).
    pub generator_rate: f64,
    /// Probability, per step of a running frame, of a profiled-line record.
    pub line_rate: f64,
    /// Probability, per step of a running frame, of a debugger value.
    pub debug_rate: f64,
    /// Seed of the timings and calls, apart from the application (`None`: `seed`): two runs of one program.
    pub run_seed: Option<u64>,
    /// One function (by index in the table) made slower: every time it spends in its own body is multiplied
    /// by the factor (an injected regression, for `pylu-analyze diff`).
    pub slowdown: Option<(u32, f64)>,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            seed: 1,
            target_bytes: 64 << 20,
            processes: 4,
            threads_per_process: 4,
            functions: 2000,
            zipf_exponent: 1.1,
            max_depth: 24,
            exception_rate: 0.02,
            generator_rate: 0.03,
            line_rate: 0.01,
            debug_rate: 0.01,
            run_seed: None,
            slowdown: None,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Bytes written (headers included).
    pub bytes: u64,
    /// Profiled calls (enters).
    pub calls: u64,
    /// Records (binary: every record incl. definitions and thread names) or lines (legacy).
    pub records: u64,
    /// Calls that ended by an exception.
    pub exceptions: u64,
    /// Files written by [`write_binary_dir`], in process order.
    pub files: Vec<PathBuf>,
}

impl GenStats {
    fn add(&mut self, other: GenStats) {
        self.bytes += other.bytes;
        self.calls += other.calls;
        self.records += other.records;
        self.exceptions += other.exceptions;
        self.files.extend(other.files);
    }

    /// Average bytes per profiled call (all records and headers included).
    pub fn bytes_per_call(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.bytes as f64 / self.calls as f64
        }
    }
}

/// The process ids the generator uses, one per process.
pub fn process_ids(opts: &GenOptions) -> Vec<u32> {
    (0..opts.processes.max(1)).map(|i| 4510 + 17 * i).collect()
}

/// Each function's `(module, qualname)`, by index (what [`GenOptions::slowdown`] names).
pub fn function_names(opts: &GenOptions) -> Vec<(String, String)> {
    function_table(opts).into_iter().map(|f| (f.module, f.qualname)).collect()
}

/// The simulated application's functions (the same for every process of a run).
fn function_table(opts: &GenOptions) -> Vec<functions::Function> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    functions::make_functions(&mut rng, opts.functions.max(1), opts.generator_rate)
}
