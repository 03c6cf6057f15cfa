#!/usr/bin/env bash
# Export benchmark (not a timed test): generates SIZE of binary trace with pylu-gen (or reuses benches/analyzer.sh's
# set in WORKDIR), then reports in one run, on the same files:
#   - `wc -l` (the floor of reading the bytes), `pylu-analyze summary` (parse + aggregate),
#   - `pylu-analyze export parquet` (calls.parquet streamed in row groups, plus the aggregate tables),
#   - each one's wall and CPU time and peak memory (/usr/bin/time -v; the mapped input counts in the RSS as it is
#     read, so the peak beyond the mapped files is also shown: peak minus the input's size, when positive),
#   - the Parquet output's size, its bytes per call and the input's MB/s.
# Each step runs PYLU_BENCH_REPS times (default 3) and reports the median (benches/measure.sh).
# PYLU_BENCH_BASE=DIR (a directory holding another build's pylu-analyze, e.g. main's built with its own
# CARGO_TARGET_DIR) adds that build's export to the same run, before this one's: a before/after on one load.
# Usage: benches/export.sh [SIZE=1G] [WORKDIR=/tmp/pylu-bench]
set -euo pipefail
SIZE=${1:-1G}
WORK=${2:-/tmp/pylu-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q --workspace --exclude pylu-stub --bins --manifest-path "$ROOT/Cargo.toml"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
mkdir -p "$WORK"
cd "$WORK"
IN="bin-$SIZE"
[ -d "$IN" ] || "$BIN/pylu-gen" --format binary --size "$SIZE" -o "$IN" | tail -n 1
FILES=("$IN"/*)
bytes=$(cat "${FILES[@]}" | wc -c)
cat "${FILES[@]}" >/dev/null

# Three runs by default (an export of 1 GB takes a while): PYLU_BENCH_REPS overrides.
REPS=${PYLU_BENCH_REPS:-3}
# shellcheck source=measure.sh
source "$ROOT/benches/measure.sh"

in_mib=$((bytes / 1048576))
calls=$("$BIN/pylu-analyze" summary -q --format json --top 0 --func '^$' "$IN" 2> >(grep -v 'note: --func' >&2) | grep '"calls"' | tr -dc 0-9)
echo "input: $IN, $bytes bytes ($in_mib MiB), $calls calls; median of $REPS runs; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-24s %8s %8s %9s %12s %12s\n' step wall_s cpu_s peak_MiB beyond_MiB throughput
row() {
    local name=$1 s=$2 m=$3 c=$4 beyond=$(( $3 - in_mib ))
    [ $beyond -lt 0 ] && beyond=0
    printf '%-24s %8s %8s %9s %12s %9.0f MB/s\n' "$name" "$s" "$c" "$m" "$beyond" "$(echo "$bytes / $s / 1000000" | bc -l)"
}
read -r s m c _ < <(measure sh -c "cat ${FILES[*]} | wc -l"); row "wc -l" "$s" "$m" "$c"
read -r s m c _ < <(measure "$BIN/pylu-analyze" summary -q --format csv --top 1 "$IN"); row "summary" "$s" "$m" "$c"
if [ -n "${PYLU_BENCH_BASE:-}" ]; then
    rm -rf pq-out
    read -r s m c _ < <(measure "$PYLU_BENCH_BASE/pylu-analyze" export parquet -q "$IN" -o pq-out)
    row "export parquet (base)" "$s" "$m" "$c"
    base_bytes=$(stat -c %s pq-out/calls.parquet)
    printf 'base calls.parquet: %s bytes = %.2f bytes per call\n' "$base_bytes" "$(echo "$base_bytes / $calls" | bc -l)"
fi
rm -rf pq-out
read -r s m c _ < <(measure "$BIN/pylu-analyze" export parquet -q "$IN" -o pq-out); row "export parquet" "$s" "$m" "$c"
out_bytes=$(du -cb pq-out/*.parquet | tail -n 1 | cut -f1)
calls_bytes=$(stat -c %s pq-out/calls.parquet)
printf 'parquet: %s bytes in all, calls.parquet %s bytes = %.2f bytes per call (zstd)\n' "$out_bytes" "$calls_bytes" \
    "$(echo "$calls_bytes / $calls" | bc -l)"
