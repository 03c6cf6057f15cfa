# Sourced by the benchmark scripts: `measure CMD…` runs CMD $REPS times (PYLU_BENCH_REPS, default 5), after
# $WARMUP untimed runs (default 1), and prints
# "wall_seconds peak_MiB cpu_seconds spread" for the run of median wall time (CPU = user + system, children
# included: on a shared machine the wall time depends on the neighbours, the CPU time much less), the largest peak
# of all runs, and the spread "min-max" of the wall times. The median, not the fastest run: this machine's speed
# drifts by several percent from one minute to the next. Each run is timed by Python's clock and wait4's rusage
# (microseconds: /usr/bin/time's 10 ms steps were a fifth of a 50 ms run). Leaves time.out (the command's
# stderr) in the current directory.
REPS=${REPS:-${PYLU_BENCH_REPS:-5}}
# measure_runs CMD…: one line "wall_seconds peak_MiB cpu_seconds" per run, $REPS runs (0 prints nothing), after
# $WARMUP runs not timed (default 1: the first run after the machine has idled is slower, its cores waking up).
# One Python process spawns them all, as hyperfine does: a Python started afresh just before each run (as
# until 2026-12-08) filled the caches with its own start-up and made a 45 ms run ~10 % slower.
measure_runs() {
    python3 - "${WARMUP:-1}" "$REPS" "$@" <<'PY'
import os, sys, time
warmup, reps, cmd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
out = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
       (os.POSIX_SPAWN_OPEN, 2, "time.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
for i in range(warmup + reps if reps > 0 else 0):
    start = time.perf_counter()
    try:
        pid = os.posix_spawnp(cmd[0], cmd, os.environ, file_actions=out)
    except OSError as e:
        sys.exit(f"measure: cannot run {cmd[0]}: {e}")
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        with open("time.out") as f:
            sys.stderr.write("".join(f.readlines()[-5:]))
    if i >= warmup:
        print(f"{wall:.4f} {ru.ru_maxrss // 1024} {ru.ru_utime + ru.ru_stime:.4f}", flush=True)
PY
}
# measure_once CMD…: one timed run, no warm-up.
measure_once() {
    REPS=1 WARMUP=0 measure_runs "$@"
}
# median_of: reads measure_runs' lines on stdin, prints what `measure` prints for them.
median_of() {
    sort -n -k1,1 | awk '{w[NR] = $1; c[NR] = $3; if ($2 > m) m = $2}
        END {k = int((NR + 1) / 2); printf "%s %s %s %s-%s\n", w[k], m, c[k], w[1], w[NR]}'
}
measure() {
    measure_runs "$@" | median_of
}
