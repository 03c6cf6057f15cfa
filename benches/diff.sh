#!/usr/bin/env bash
# diff benchmark (not a timed test): two runs of one generated application (binary traces, --seed 1 with run
# seeds 1 and 2) and two original-format logs, then in one run:
#   - `pylu-analyze diff` of the two (CSV to /dev/null: every function compared),
#   - `pylu-analyze summary` of each input once (parse + aggregate: what diff must at least do),
#   - `wc -l` over the same bytes,
# each PYLU_BENCH_REPS times (default 3), median wall time, CPU time and the largest peak RSS (/usr/bin/time -v;
# the mapped inputs count in it as they are read).
# Usage: benches/diff.sh [SIZE=256M] [WORKDIR=/tmp/pylu-bench-diff]
set -euo pipefail
SIZE=${1:-256M}
WORK=${2:-/tmp/pylu-bench-diff}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Without the Parquet export (diff does not use it; polars doubles the build).
cargo build --release -q --no-default-features -p pylu-analyzer -p pylu-gen --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release"
mkdir -p "$WORK"
cd "$WORK"
for r in 1 2; do
    [ -d "bin-$SIZE-run$r" ] || "$BIN/pylu-gen" --format binary --size "$SIZE" --run-seed "$r" -o "bin-$SIZE-run$r" | tail -n 1
    [ -f "legacy-$SIZE-run$r.log" ] || "$BIN/pylu-gen" --format legacy --size "$SIZE" --run-seed "$r" -o "legacy-$SIZE-run$r.log" | tail -n 1
done
sync

REPS=${PYLU_BENCH_REPS:-3}
# shellcheck source=measure.sh
source "$ROOT/benches/measure.sh"

printf '%-8s %-34s %8s %8s %9s\n' format step wall_s cpu_s peak_MiB
for fmt in binary legacy; do
    case $fmt in
        binary) A="bin-$SIZE-run1"; B="bin-$SIZE-run2"; FA=("$A"/*); FB=("$B"/*) ;;
        legacy) A="legacy-$SIZE-run1.log"; B="legacy-$SIZE-run2.log"; FA=("$A"); FB=("$B") ;;
    esac
    cat "${FA[@]}" "${FB[@]}" >/dev/null
    row() { printf '%-8s %-34s %8s %8s %9s\n' "$fmt" "$1" "$2" "$4" "$3"; }
    read -r w m c _ < <(measure sh -c "cat ${FA[*]} ${FB[*]} | wc -l"); row "wc -l (both)" "$w" "$m" "$c"
    read -r w1 m1 c1 _ < <(measure "$BIN/pylu-analyze" summary -q --format csv --top 1 "$A"); row "summary before" "$w1" "$m1" "$c1"
    read -r w2 m2 c2 _ < <(measure "$BIN/pylu-analyze" summary -q --format csv --top 1 "$B"); row "summary after" "$w2" "$m2" "$c2"
    row "summary before + after" "$(echo "$w1 + $w2" | bc)" "-" "$(echo "$c1 + $c2" | bc)"
    read -r w m c _ < <(measure "$BIN/pylu-analyze" diff -q --format csv "$A" "$B"); row "diff" "$w" "$m" "$c"
    echo "$fmt: diff / (summary before + summary after) = $(echo "scale=2; $w / ($w1 + $w2)" | bc)"
done
