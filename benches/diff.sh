#!/usr/bin/env bash
# diff benchmark (not a timed test): two runs of one generated application (binary traces, --seed 1 with run
# seeds 1 and 2) and two original-format logs, then in one run:
#   - `wc -l` over the bytes of both inputs,
#   - `pylu-analyze summary` of each input once (parse + aggregate: what diff must at least do),
#   - `pylu-analyze diff` of the two (CSV to /dev/null: every function compared),
# PYLU_BENCH_REPS rounds (default 3), each running every step once in turn, so that a slow minute of the shared
# machine falls on all steps alike (benches/measure.sh runs one step's repetitions back to back). Reported per
# step: median wall and CPU (user + system) time over the rounds, the largest peak RSS (/usr/bin/time -v), and
# the peak beyond the mapped input (peak minus the larger input's size: diff reads one run at a time); then
# diff's CPU over the summaries' CPU of the same round, each round's and their median: the issue's ratio.
# PYLU_BENCH_BASE=DIR (a directory holding another build's pylu-analyze) adds that build's diff to each round,
# before this one's in even rounds, after it in odd ones: a before/after on one load.
# Usage: benches/diff.sh [SIZE=1G] [WORKDIR=/tmp/pylu-bench-diff]
set -euo pipefail
SIZE=${1:-1G}
WORK=${2:-/tmp/pylu-bench-diff}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Without the Parquet export (diff does not use it; polars doubles the build).
cargo build --release -q --no-default-features -p pylu-analyzer -p pylu-gen --manifest-path "$ROOT/Cargo.toml"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
mkdir -p "$WORK"
cd "$WORK"
for r in 1 2; do
    [ -d "bin-$SIZE-run$r" ] || "$BIN/pylu-gen" --format binary --size "$SIZE" --run-seed "$r" -o "bin-$SIZE-run$r" | tail -n 1
    [ -f "legacy-$SIZE-run$r.log" ] || "$BIN/pylu-gen" --format legacy --size "$SIZE" --run-seed "$r" -o "legacy-$SIZE-run$r.log" | tail -n 1
done
sync

REPS=${PYLU_BENCH_REPS:-3}
# "wall_s cpu_s peak_MiB" of one run of CMD (its output discarded).
once() {
    /usr/bin/time -v "$@" >/dev/null 2>time.out || { tail -n 5 time.out >&2; true; }
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); w = n == 3 ? t[1] * 3600 + t[2] * 60 + t[3] : t[1] * 60 + t[2]}
        /User time|System time/ {c += $2} /Maximum resident set size/ {m = int($2 / 1024)}
        END {printf "%.2f %.2f %d\n", w, c, m}' time.out
}
# Median of the numbers on stdin.
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "$REPS rounds; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the start"
printf '%-8s %-24s %8s %8s %9s %11s\n' format step wall_s cpu_s peak_MiB beyond_MiB
for fmt in binary legacy; do
    case $fmt in
        binary) A="bin-$SIZE-run1"; B="bin-$SIZE-run2"; FA=("$A"/*); FB=("$B"/*) ;;
        legacy) A="legacy-$SIZE-run1.log"; B="legacy-$SIZE-run2.log"; FA=("$A"); FB=("$B") ;;
    esac
    cat "${FA[@]}" "${FB[@]}" >/dev/null
    mib_a=$(($(cat "${FA[@]}" | wc -c) / 1048576))
    mib_b=$(($(cat "${FB[@]}" | wc -c) / 1048576))
    steps=("wc -l (both)" "summary before" "summary after")
    cmds=("sh -c 'cat ${FA[*]} ${FB[*]} | wc -l'" "'$BIN/pylu-analyze' summary -q --format csv --top 1 $A"
        "'$BIN/pylu-analyze' summary -q --format csv --top 1 $B")
    if [ -n "${PYLU_BENCH_BASE:-}" ]; then
        steps+=("diff (base)")
        cmds+=("'$PYLU_BENCH_BASE/pylu-analyze' diff -q --format csv $A $B")
    fi
    steps+=("diff")
    cmds+=("'$BIN/pylu-analyze' diff -q --format csv $A $B")
    rm -f results.txt
    for ((i = 0; i < REPS; i++)); do
        order=("${!steps[@]}")
        # With a base build, the two diffs (the last two steps) swap places every other round.
        if [ -n "${PYLU_BENCH_BASE:-}" ] && ((i % 2)); then
            n=${#order[@]}
            order[n - 2]=$((n - 1))
            order[n - 1]=$((n - 2))
        fi
        for k in "${order[@]}"; do
            echo "$i $k $(eval once "${cmds[$k]}")" >>results.txt
        done
    done
    for k in "${!steps[@]}"; do
        col() { awk -v k="$k" -v c="$1" '$2 == k {print $c}' results.txt; }
        beyond=$(case "${steps[$k]}" in "summary before") echo "$mib_a" ;; "summary after") echo "$mib_b" ;;
            wc*) echo "" ;; *) echo $((mib_a > mib_b ? mib_a : mib_b)) ;; esac)
        peak=$(col 5 | sort -n | tail -n 1)
        [ -n "$beyond" ] && beyond=$((peak - beyond)) || beyond=-
        printf '%-8s %-24s %8s %8s %9s %11s\n' "$fmt" "${steps[$k]}" "$(col 3 | median)" "$(col 4 | median)" "$peak" "$beyond"
    done
    # diff's CPU over summary before + after's, round by round (columns: round, step, wall, cpu, peak).
    for d in "${!steps[@]}"; do
        case "${steps[$d]}" in diff*) ;; *) continue ;; esac
        ratios=$(awk -v d="$d" '$2 == 1 || $2 == 2 {s[$1] += $4} $2 == d {c[$1] = $4}
            END {for (i in c) printf "%.3f\n", c[i] / s[i]}' results.txt | sort -n)
        echo "$fmt: ${steps[$d]} CPU / (summary before + after) CPU: median $(echo "$ratios" | median), rounds $(echo $ratios)"
    done
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
