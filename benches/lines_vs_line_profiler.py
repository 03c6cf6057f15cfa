"""Cost per executed line under pylu's LP, and per recorded value under VD/FD, next to the bare function and
to line_profiler on the same function, in one process. Not a test: prints a table for docs/PERFORMANCE.md.
Times are the process's CPU time (user + system, `time.process_time_ns`: pylu's flusher thread included), best
of REPEATS, so that other work on a shared machine inflates them less than wall time.

    PYLU_TRACE_DIR=$(mktemp -d) VENV/bin/python benches/lines_vs_line_profiler.py

VENV: a venv with the stub's wheel and `pip install line_profiler` (docs/PERFORMANCE.md, "How to run").
"""

import os
import sys
import tempfile
import time

os.environ.setdefault("PYLU_TRACE_DIR", tempfile.mkdtemp(prefix="pylu-bench-"))

N = 2_000  # loop iterations per call: 2 lines each (the `for` and the body)
CALLS = 30
REPEATS = 5


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


def untouched(n):
    total = 0
    for i in range(n):
        total += i
    return total


def calls_untouched(n):
    return untouched(n)


def one_arg(x):
    return x


def best(func, *args, calls=CALLS):
    times = []
    for _ in range(REPEATS):
        t = time.process_time_ns()
        for _ in range(calls):
            func(*args)
        times.append((time.process_time_ns() - t) / calls)
    return min(times)


def main():
    from pyliveupdatescripts import FD, LP, LU, VD

    main_mod = sys.modules["__main__"]
    lines_per_call = 2 * N + 3
    bare = best(work, N)
    bare_untouched = best(untouched, N)
    bare_caller = best(calls_untouched, N)
    rows = []

    LP.profile("__main__.work", [])
    lp = best(work, N)
    lp_untouched = best(untouched, N)
    LU.revert_all()
    # The untouched function's bare time, measured again once LP is gone: the better of the two is its bare time.
    bare_untouched = min(bare_untouched, best(untouched, N))

    # A profiled function's callee runs under the thread's tracer on <= 3.11 (sys.monitoring's local events
    # spare it from 3.12): what its lines pay.
    LP.profile("__main__.calls_untouched", [])
    lp_caller = best(calls_untouched, N)
    LU.revert_all()

    VD.debug("__main__.work", "total", echo=False)
    vd = best(work, N)
    LU.revert_all()

    bare_small = best(one_arg, 1, calls=20_000)
    FD.debug("__main__.one_arg", echo=False)
    fd = best(one_arg, 1, calls=20_000)
    LU.revert_all()

    try:
        import line_profiler
        from line_profiler import LineProfiler
    except ImportError:
        lprof = None
        lp_version = "not installed"
    else:
        lp_version = getattr(line_profiler, "__version__", "?")
        prof = LineProfiler()
        wrapped = prof(main_mod.work)
        lprof = best(wrapped, N)
        lprof_caller = best(LineProfiler()(main_mod.calls_untouched), N)

    rows.append(("bare work()", bare / 1000, "", ""))
    rows.append(("LP on every line", lp / 1000, f"{(lp - bare) / lines_per_call:.0f}", "per line"))
    if lprof is not None:
        rows.append(("line_profiler", lprof / 1000, f"{(lprof - bare) / lines_per_call:.0f}", "per line"))
    rows.append(("VD on `total` (N+1 values)", vd / 1000, f"{(vd - bare) / (N + 1):.0f}", "per value"))
    rows.append(("FD (2 values per call)", fd / 1000, f"{(fd - bare_small) / 2:.0f}", "per value"))
    rows.append(("untouched(), bare", bare_untouched / 1000, "", ""))
    rows.append(("untouched() while LP on work()", lp_untouched / 1000,
                 f"{(lp_untouched - bare_untouched) / lines_per_call:.1f}", "per line"))
    rows.append(("untouched() called by a LP'd fn", lp_caller / 1000,
                 f"{(lp_caller - bare_caller) / lines_per_call:.1f}", "per line"))
    if lprof is not None:
        rows.append(("... by a line_profiler'd fn", lprof_caller / 1000,
                     f"{(lprof_caller - bare_caller) / lines_per_call:.1f}", "per line"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Python {sys.version.split()[0]}, N={N}, CPU time, best of {REPEATS}; line_profiler {lp_version}; "
          f"load average {load:.1f}")
    print(f"| {'case':<32} | {'CPU us/call':>11} | {'added ns':>9} | unit |")
    print(f"|{'-' * 34}|{'-' * 13}|{'-' * 11}|------|")
    for name, us, added, unit in rows:
        print(f"| {name:<32} | {us:>11.1f} | {added:>9} | {unit} |")


if __name__ == "__main__":
    main()
