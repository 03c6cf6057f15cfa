//! `pylu-gen`: writes realistic synthetic traces for benchmarks and large tests.
//!
//! ```text
//! pylu-gen --format binary --size 1G -o bench-data/traces      # one trace-<pid>.pylu per process
//! pylu-gen --format legacy --size 200M -o bench-data/pyliveupdate.log
//! ```

use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use pylu_gen::{write_binary_dir, write_legacy, GenOptions};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    /// pylu trace format v1: PATH is a directory, one file per process.
    Binary,
    /// The original pyliveupdate text log: PATH is a file.
    Legacy,
}

#[derive(Debug, Parser)]
#[command(version, about = "Generate realistic synthetic pylu traces (deterministic for a given seed)")]
struct Args {
    /// binary: a directory of pylu traces, one per process; legacy: one text log in the original's format.
    #[arg(long, value_enum)]
    format: OutputFormat,
    /// Approximate total size: a number of bytes with an optional K, M or G suffix (powers of 1024). The
    /// generator stops starting requests there and lets every thread finish the one it is running, so with many
    /// threads and a small size the output is larger (it says so).
    #[arg(long, value_parser = parse_size)]
    size: u64,
    /// Seed of the random streams: the same seed and options give the same bytes.
    #[arg(long, default_value_t = GenOptions::default().seed)]
    seed: u64,
    /// Seed of the timings and calls alone (default: --seed): another run of the same application.
    #[arg(long)]
    run_seed: Option<u64>,
    /// Simulated processes (each its own trace file, or its own pid in the text log).
    #[arg(long, default_value_t = GenOptions::default().processes)]
    processes: u32,
    /// Threads per process.
    #[arg(long, default_value_t = GenOptions::default().threads_per_process)]
    threads: u32,
    /// Distinct functions in the simulated application.
    #[arg(long, default_value_t = GenOptions::default().functions)]
    functions: u32,
    /// Where to write: a directory for binary traces, a file for a text log.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, multiplier) = match text.char_indices().last() {
        Some((i, 'K' | 'k')) => (&text[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&text[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&text[..i], 1 << 30),
        _ => (text, 1),
    };
    let value: u64 = digits.trim().parse().map_err(|_| format!("not a size: {text:?} (e.g. 1G, 200M, 4096)"))?;
    value.checked_mul(multiplier).ok_or_else(|| format!("size too large: {text:?}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = GenOptions {
        seed: args.seed,
        run_seed: args.run_seed,
        target_bytes: args.size,
        processes: args.processes,
        threads_per_process: args.threads,
        functions: args.functions,
        ..GenOptions::default()
    };
    let started = Instant::now();
    let result = match args.format {
        OutputFormat::Binary => write_binary_dir(&opts, &args.output),
        OutputFormat::Legacy => File::create(&args.output).and_then(|file| write_legacy(&opts, file)),
    };
    let stats = match result {
        Ok(stats) => stats,
        Err(err) => {
            eprintln!("pylu-gen: writing {}: {err}", args.output.display());
            return ExitCode::FAILURE;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "wrote {} bytes to {}: {} calls, {} records, {} exceptions, {:.2} bytes/call, {:.1} s ({:.0} MB/s)",
        stats.bytes,
        args.output.display(),
        stats.calls,
        stats.records,
        stats.exceptions,
        stats.bytes_per_call(),
        seconds,
        stats.bytes as f64 / 1e6 / seconds.max(1e-9)
    );
    for file in &stats.files {
        println!("  {}", file.display());
    }
    // The floor: the requests running when the size was reached, one per thread, all finish.
    if stats.bytes > args.size + args.size / 4 {
        let threads = u64::from(opts.processes.max(1)) * u64::from(opts.threads_per_process.max(1));
        eprintln!(
            "pylu-gen: note: {} bytes, more than --size {}: each of the {threads} threads finished the request it was \
             running when the size was reached",
            stats.bytes, args.size
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("200M"), Ok(200 << 20));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}
