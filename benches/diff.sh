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
cargo build --release -q -p pylu-analyzer -p pylu-gen --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release"
mkdir -p "$WORK"
cd "$WORK"
for r in 1 2; do
    [ -d "bin-$SIZE-run$r" ] || "$BIN/pylu-gen" --format binary --size "$SIZE" --run-seed "$r" -o "bin-$SIZE-run$r" | tail -n 1
    [ -f "legacy-$SIZE-run$r.log" ] || "$BIN/pylu-gen" --format legacy --size "$SIZE" --run-seed "$r" -o "legacy-$SIZE-run$r.log" | tail -n 1
done
sync

REPS=${PYLU_BENCH_REPS:-3}
# "wall_s peak_MiB cpu_s" of the median-wall run (largest peak of all runs).
measure() {
    local runs=() wall rss cpu i
    for ((i = 0; i < REPS; i++)); do
        /usr/bin/time -v "$@" >/dev/null 2>time.out || true
        wall=$(grep 'Elapsed (wall clock)' time.out | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
        rss=$(grep 'Maximum resident set size' time.out | awk '{print int($NF/1024)}')
        cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' time.out)
        runs+=("$wall $rss $cpu")
    done
    printf '%s\n' "${runs[@]}" | sort -n -k1,1 | awk '{w[NR] = $1; c[NR] = $3; if ($2 > m) m = $2}
        END {k = int((NR + 1) / 2); printf "%s %s %s\n", w[k], m, c[k]}'
}

printf '%-8s %-34s %8s %8s %9s\n' format step wall_s cpu_s peak_MiB
for fmt in binary legacy; do
    case $fmt in
        binary) A="bin-$SIZE-run1"; B="bin-$SIZE-run2"; FA=("$A"/*); FB=("$B"/*) ;;
        legacy) A="legacy-$SIZE-run1.log"; B="legacy-$SIZE-run2.log"; FA=("$A"); FB=("$B") ;;
    esac
    cat "${FA[@]}" "${FB[@]}" >/dev/null
    row() { printf '%-8s %-34s %8s %8s %9s\n' "$fmt" "$1" "$2" "$4" "$3"; }
    read -r w m c < <(measure sh -c "cat ${FA[*]} ${FB[*]} | wc -l"); row "wc -l (both)" "$w" "$m" "$c"
    read -r w1 m1 c1 < <(measure "$BIN/pylu-analyze" summary -q --format csv --top 1 "$A"); row "summary before" "$w1" "$m1" "$c1"
    read -r w2 m2 c2 < <(measure "$BIN/pylu-analyze" summary -q --format csv --top 1 "$B"); row "summary after" "$w2" "$m2" "$c2"
    row "summary before + after" "$(echo "$w1 + $w2" | bc)" "-" "$(echo "$c1 + $c2" | bc)"
    read -r w m c < <(measure "$BIN/pylu-analyze" diff -q --format csv "$A" "$B"); row "diff" "$w" "$m" "$c"
    echo "$fmt: diff / (summary before + summary after) = $(echo "scale=2; $w / ($w1 + $w2)" | bc)"
done
