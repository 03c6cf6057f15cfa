"""Cost of profiling, printed next to its baselines measured in the same run (not a test: no thresholds).

    python stub/bench/bench_call.py [--calls N]

- added ns per profiled call: an empty function called in a loop, bare vs. instrumented (enter + exit
  recorded to a real trace file) vs. under cProfile;
- a function that is not instrumented, while another is: must cost what it did before;
- added ns per item of a profiled generator (each resume and suspend recorded; on 3.12+ also the check that the
  generator started while profiled);
- FP apply and LU revert of 1,000 functions.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import os
import platform
import shutil
import sys
import tempfile
import time
import types

if "PYLU_TRACE_DIR" not in os.environ:
    # The traces this run writes (~30 MB) are only a by-product: removed at exit.
    os.environ["PYLU_TRACE_DIR"] = tempfile.mkdtemp(prefix="pylu-bench-")
    atexit.register(shutil.rmtree, os.environ["PYLU_TRACE_DIR"], ignore_errors=True)

from pyliveupdate import _native  # noqa: E402
from pyliveupdatescripts import FP, LU  # noqa: E402


def empty():
    pass


def other():
    pass


def items(n):
    yield from range(n)


def drain(n):
    t0 = time.perf_counter_ns()
    for _ in items(n):
        pass
    return time.perf_counter_ns() - t0


def best_drain(n, repeat=7):
    return min(drain(n) for _ in range(repeat)) / n


def bench_generator(n):
    """ns per item: a bare generator, profiled (one suspend and resume recorded per item), under cProfile."""
    drain(n)
    bare = best_drain(n)
    FP.profile("__main__.items")
    uid = max(LU._updates)
    drain(n)
    profiled = best_drain(n)
    LU.revert(uid)
    prof = cProfile.Profile()
    prof.enable()
    cprof = best_drain(n, repeat=3)
    prof.disable()
    return bare, profiled, cprof


def loop(fn, n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return time.perf_counter_ns() - t0


def best(fn, n, repeat=7):
    return min(loop(fn, n) for _ in range(repeat)) / n


def bench_calls(n):
    loop(empty, n)  # warm up (3.11+ specialises the loop)
    bare = best(empty, n)
    bare_other = best(other, n)

    FP.profile("__main__.empty")
    uid = max(LU._updates)
    loop(empty, n)
    profiled = best(empty, n)
    other_while = best(other, n)
    LU.revert(uid)

    prof = cProfile.Profile()
    prof.enable()
    cprof = best(empty, n, repeat=3)
    prof.disable()
    return bare, profiled, cprof, bare_other, other_while


def bench_apply_revert(count=1000, repeat=5):
    module = types.ModuleType("pylu_bench_funcs")
    source = "\n".join(f"def f{i}(a, b=1):\n    return a + b\n" for i in range(count))
    exec(compile(source, "<pylu bench>", "exec"), module.__dict__)
    sys.modules[module.__name__] = module
    applies, reverts = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        FP.profile("pylu_bench_funcs.*")
        t1 = time.perf_counter()
        uid = max(LU._updates)
        module.f0(1)
        t2 = time.perf_counter()
        LU.revert(uid)
        t3 = time.perf_counter()
        applies.append(t1 - t0)
        reverts.append(t3 - t2)
    return min(applies), min(reverts), max(applies), max(reverts)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    args = parser.parse_args()
    bare, profiled, cprof, bare_other, other_while = bench_calls(args.calls)
    gen_bare, gen_profiled, gen_cprof = bench_generator(args.calls)
    apply_min, revert_min, apply_max, revert_max = bench_apply_revert()
    _native.flush()
    print(f"python {platform.python_version()} ({sys.implementation.name}), {args.calls} calls, best of 7")
    print(f"  bare call of an empty function      {bare:7.1f} ns")
    print(f"  profiled (enter + exit recorded)    {profiled:7.1f} ns   added {profiled - bare:6.1f} ns")
    print(f"  under cProfile                      {cprof:7.1f} ns   added {cprof - bare:6.1f} ns")
    print(f"  other function, nothing profiled    {bare_other:7.1f} ns")
    print(f"  other function, while one profiled  {other_while:7.1f} ns   change {other_while - bare_other:+6.1f} ns")
    print(f"  generator, per item (bare)          {gen_bare:7.1f} ns")
    print(f"  generator, per item (profiled)      {gen_profiled:7.1f} ns   added {gen_profiled - gen_bare:6.1f} ns")
    print(f"  generator, per item (cProfile)      {gen_cprof:7.1f} ns   added {gen_cprof - gen_bare:6.1f} ns")
    print(f"  FP apply of 1,000 functions         {apply_min * 1e3:7.1f} ms   (worst of 5: {apply_max * 1e3:.1f} ms)")
    print(f"  LU revert of 1,000 functions        {revert_min * 1e3:7.1f} ms   (worst of 5: {revert_max * 1e3:.1f} ms)")
    print(f"  trace: {_native.trace_path()} ({os.path.getsize(_native.trace_path())} bytes)")


if __name__ == "__main__":
    main()
