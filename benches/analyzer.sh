#!/usr/bin/env bash
# Analyzer benchmark (not a timed test): generates SIZE of each format with pylu-gen, then reports in one run
#   - pylu-processlogs end to end (folded + summary + SVG),
#   - parse + aggregate alone (`pylu-analyze summary --format csv --top 1`: no tree is printed),
#   - `wc -l` over the same bytes (the floor of "reading the file"),
#   - peak memory (/usr/bin/time -v, maximum resident set size; the mapped input counts in it as it is read).
#   - the same for a trace of many threads (2 processes × 500 threads, MANY_SIZE): per-thread state then
#     dominates memory.
# Each step runs PYLU_BENCH_REPS times (default 5) and reports the median (see `measure`).
# Usage: benches/analyzer.sh [SIZE=1G] [WORKDIR=/tmp/pylu-bench] [MANY_SIZE=128M]
#        (sizes as pylu-gen takes them: 256M, 1G, …)
set -euo pipefail
SIZE=${1:-1G}
WORK=${2:-/tmp/pylu-bench}
MANY_SIZE=${3:-128M}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q -p pylu-analyzer -p pylu-gen --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release"
mkdir -p "$WORK"
cd "$WORK"
# The binary sets are written afresh by this checkout's writer at every run: how the writer's writes filled the
# page cache decides what mapping the files costs (docs/FORMAT.md, "Writing"), so a set left by an older
# writer, or one whose cached pages have been evicted and read back, would measure something else.
rm -rf "bin-$SIZE" "many-threads-$MANY_SIZE"
"$BIN/pylu-gen" --format binary --size "$SIZE" -o "bin-$SIZE" | tail -n 1
"$BIN/pylu-gen" --format binary --size "$MANY_SIZE" --processes 2 --threads 500 -o "many-threads-$MANY_SIZE" | tail -n 1
[ -f "legacy-$SIZE.log" ] || "$BIN/pylu-gen" --format legacy --size "$SIZE" -o "legacy-$SIZE.log" | tail -n 1
# Files just written are still being written back to disk, which slows the first reads of them.
sync

# shellcheck source=measure.sh
source "$ROOT/benches/measure.sh"

echo "(each step: the median of $REPS runs, its CPU time, the largest peak, and the spread of the wall times)"
printf '%-8s %-28s %8s %8s %9s %11s %14s\n' format step wall_s cpu_s peak_MiB spread_s throughput
for fmt in binary legacy threads; do
    case $fmt in
        binary) IN="bin-$SIZE"; FILES=("$IN"/*) ;;
        legacy) IN="legacy-$SIZE.log"; FILES=("$IN") ;;
        threads) IN="many-threads-$MANY_SIZE"; FILES=("$IN"/*) ;;
    esac
    bytes=$(cat "${FILES[@]}" | wc -c)
    # Warm the page cache so every step reads from memory.
    cat "${FILES[@]}" >/dev/null
    read -r s m c r < <(measure sh -c "cat ${FILES[*]} | wc -l")
    printf '%-8s %-28s %8s %8s %9s %11s %11.0f MB/s\n' $fmt "wc -l" "$s" "$c" "$m" "$r" "$(echo "$bytes / $s / 1000000" | bc -l)"
    read -r s m c r < <(measure "$BIN/pylu-analyze" summary -q --format csv --top 1 "$IN")
    calls=$("$BIN/pylu-analyze" summary -q --format json --top 0 --func '^$' "$IN" 2> >(grep -v 'note: --func' >&2) | grep '"calls"' | tr -dc 0-9)
    printf '%-8s %-28s %8s %8s %9s %11s %11.0f MB/s  %.1f M calls/s (%s calls)\n' $fmt "parse + aggregate" "$s" "$c" "$m" "$r" \
        "$(echo "$bytes / $s / 1000000" | bc -l)" "$(echo "$calls / $s / 1000000" | bc -l)" "$calls"
    rm -rf out && mkdir out
    read -r s m c r < <(measure "$BIN/pylu-processlogs" -q -i "$IN" -o out)
    printf '%-8s %-28s %8s %8s %9s %11s %11.0f MB/s\n' $fmt "pylu-processlogs end to end" "$s" "$c" "$m" "$r" "$(echo "$bytes / $s / 1000000" | bc -l)"
done

# The same pipeline on a trace whose stacks repeat (a fixed request shape, 8 threads, 256 MB): what decoding
# and aggregating cost when the tree stops growing — the generator's stacks above are nearly all distinct.
cargo test --release -q -p pylu-analyzer --manifest-path "$ROOT/Cargo.toml" --test it bench_repetitive_stacks -- --ignored --nocapture 2>&1 \
    | grep 'repetitive stacks'
