"""Hit counts recorded through the controller equal cProfile's ncalls on the same deterministic workload."""

import subprocess
import sys

from conftest import PROGRAMS, controller, hit_counts, kinds_by_func

ROUNDS = 40


def cprofile_ncalls(rounds):
    """ncalls per workload function, from cProfile in a fresh interpreter."""
    code = (
        "import sys, cProfile, pstats, json; sys.path.insert(0, %r); import workload\n"
        "p = cProfile.Profile(); p.enable(); workload.work(%d); p.disable()\n"
        "st = pstats.Stats(p).stats\n"
        "print(json.dumps({'%%s:%%s' %% (k[0].split('/')[-1], k[2]): v[1] for k, v in st.items()}))\n"
    ) % (PROGRAMS, rounds)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    import json

    return {k.split(":", 1)[1]: v for k, v in json.loads(out).items() if k.startswith("workload.py:")}


def test_counts_match_cprofile(target, trace_dir):
    r = controller(trace_dir, "FP.profile(['workload.**', '__main__.main_helper'])", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "profiling" in r.stdout
    target.run(f"work {ROUNDS}")
    r = controller(trace_dir, "LU.revert(1)", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    target.run("work 5")  # after revert: nothing more recorded
    trace = target.trace()
    assert trace["errors"] == []
    hits = hit_counts(trace)
    expected = cprofile_ncalls(ROUNDS)
    by_short = {name.split(".")[-1]: n for name, n in hits.items() if name.startswith("workload.")}
    for func in ("leaf", "recursive", "raises", "decorated", "area", "make", "unit", "name", "deep"):
        # main_helper (in the target's __main__) calls leaf once per round on top of the workload.
        extra = ROUNDS if func == "leaf" else 0
        assert by_short.get(func) == expected[func] + extra, (func, by_short, expected)
    # cProfile counts every resumption of a generator; the trace counts invocations.
    assert expected["gen"] > ROUNDS
    assert by_short["gen"] == ROUNDS
    assert hits["__main__.main_helper"] == ROUNDS
    # The decorator's wrapper is a function nested in `decorator`, which 'workload.**' matches: the closure
    # (made at import, before the update) is profiled too, under its qualified name.
    assert hits["workload.decorator.<locals>.wrapper"] == expected["wrapper"] == ROUNDS


def test_exceptions_are_flagged_exits(target, trace_dir):
    assert controller(trace_dir, "FP.profile('workload.raises')", pid=target.pid).returncode == 0
    target.run("work 6")
    controller(trace_dir, "LU.revert(1)", pid=target.pid)
    kinds = kinds_by_func(target.trace(), "workload.raises")
    assert kinds.count("enter") == 6
    assert kinds.count("exit_raised") == 2  # i = 0 and 3
    assert kinds.count("exit") == 4


def test_generator_records(target, trace_dir):
    assert controller(trace_dir, "FP.profile('workload.gen')", pid=target.pid).returncode == 0
    target.run("work 1")
    controller(trace_dir, "LU.revert(1)", pid=target.pid)
    kinds = kinds_by_func(target.trace(), "workload.gen")
    assert kinds == ["enter", "suspend", "resume", "suspend", "resume", "suspend", "resume", "exit"]


def test_asyncio_coroutines(target, trace_dir):
    assert controller(trace_dir, "FP.profile(['__main__.tick', '__main__.gather'])", pid=target.pid).returncode == 0
    target.run("async 10")
    controller(trace_dir, "LU.revert(1)", pid=target.pid)
    trace = target.trace()
    hits = hit_counts(trace)
    assert hits["__main__.tick"] == 10
    assert hits["__main__.gather"] == 1
    kinds = kinds_by_func(trace, "__main__.tick")
    assert kinds.count("suspend") == 20 and kinds.count("resume") == 20 and kinds.count("exit") == 10
