# Sourced by the benchmark scripts: `measure CMD…` runs CMD $REPS times (PYLU_BENCH_REPS, default 5) under
# /usr/bin/time -v and prints "wall_seconds peak_MiB cpu_seconds spread" for the run of median wall time (CPU = user + system: on a
# shared machine the wall time depends on the neighbours, the CPU time much less), the largest peak of all runs,
# and the spread "min-max" of the wall times. The median, not the fastest run: this machine's speed drifts by
# several percent from one minute to the next. Leaves time.out in the current directory.
REPS=${REPS:-${PYLU_BENCH_REPS:-5}}
measure() {
    local runs=() wall rss cpu i
    for ((i = 0; i < REPS; i++)); do
        /usr/bin/time -v "$@" >/dev/null 2>time.out || { tail -n 5 time.out >&2; true; }
        wall=$(grep 'Elapsed (wall clock)' time.out | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
        rss=$(grep 'Maximum resident set size' time.out | awk '{print int($NF/1024)}')
        cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' time.out)
        runs+=("$wall $rss $cpu")
    done
    printf '%s\n' "${runs[@]}" | sort -n -k1,1 | awk '{w[NR] = $1; c[NR] = $3; if ($2 > m) m = $2}
        END {k = int((NR + 1) / 2); printf "%s %s %s %s-%s\n", w[k], m, c[k], w[1], w[NR]}'
}
