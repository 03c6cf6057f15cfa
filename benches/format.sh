#!/usr/bin/env bash
# Trace format benchmark (not a test): generates a ~1 GB binary trace set and a ~1 GB original-format text log
# with the deterministic generator, then reports, in the same run:
#   - decode throughput of `pylu-analyze info` (decodes and counts every record, blocks/chunks in parallel),
#   - `wc -l` over the same files as the baseline (reading the bytes and counting newlines),
#   - peak memory (/usr/bin/time -v) and bytes per profiled call.
# Usage: benches/format.sh [SIZE (default 1G)] [WORKDIR (default bench-data/)]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1G}
work=${2:-bench-data}
mkdir -p "$work"

cargo build --release --locked -q -p pylu-gen -p pylu-analyzer
bin=target/release

bin_dir="$work/format-binary-$size"
legacy_log="$work/format-legacy-$size.log"
# Written afresh at every run (see benches/analyzer.sh: how the writer filled the page cache is part of what a
# reader pays).
rm -rf "$bin_dir"
"$bin/pylu-gen" --format binary --size "$size" --seed 1 -o "$bin_dir"
[ -f "$legacy_log" ] || "$bin/pylu-gen" --format legacy --size "$size" --seed 1 -o "$legacy_log"

# seconds and peak RSS (MB) of a command, output discarded; the files are read once before, so all runs see a
# warm page cache.
measure() {
    local tmp; tmp=$(mktemp)
    /usr/bin/time -v "$@" >/dev/null 2>"$tmp" || true
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$tmp")
    rm -f "$tmp"
    echo "$wall $rss"
}

report() {
    local label=$1 bytes=$2; shift 2
    read -r wc_s _ < <(measure wc -l "$@")
    read -r info_s info_rss < <(measure "$bin/pylu-analyze" info "$@")
    awk -v l="$label" -v b="$bytes" -v w="$wc_s" -v i="$info_s" -v r="$info_rss" 'BEGIN {
        printf "%-8s %6.0f MB   wc -l: %6.2f s (%5.2f GB/s)   pylu-analyze info: %6.2f s (%5.2f GB/s, peak RSS %s MB)\n",
            l, b/1e6, w, b/w/1e9, i, b/i/1e9, r }'
}

cat "$bin_dir"/* "$legacy_log" >/dev/null
bin_bytes=$(cat "$bin_dir"/* | wc -c)
legacy_bytes=$(wc -c <"$legacy_log")
echo "cores: $(nproc); rayon threads: ${RAYON_NUM_THREADS:-default}"
report binary "$bin_bytes" "$bin_dir"/*
report legacy "$legacy_bytes" "$legacy_log"

calls=$("$bin/pylu-analyze" info "$bin_dir"/* | awk '/^profiled calls:/ {s += $3} END {print s}')
awk -v b="$bin_bytes" -v c="$calls" 'BEGIN { printf "binary: %d profiled calls, %.2f bytes per call (all records included)\n", c, b/c }'
