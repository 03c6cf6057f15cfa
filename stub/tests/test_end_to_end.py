"""The whole product on a real process: a program with the stub, profiled live through pylu-controller, its
trace analyzed by the Rust analyzer (``pylu-analyze summary --format json``, ``pylu-processlogs``). The
analyzer's hit counts must equal cProfile's ncalls for the same workload."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import controller, trace_files
from test_profile_counts import ROUNDS, cprofile_ncalls

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def analyzer_bins():
    """pylu-analyze and pylu-processlogs, built from this checkout (scripts/test.sh has built them already)."""
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.fail("cargo not found: the end-to-end test needs the analyzer built from this checkout")
    subprocess.run([cargo, "build", "-q", "-p", "pylu-analyzer"], cwd=REPO, check=True)
    bins = os.path.join(REPO, "target", "debug")
    return os.path.join(bins, "pylu-analyze"), os.path.join(bins, "pylu-processlogs")


def test_stub_controller_analyzer(target, trace_dir, analyzer_bins, tmp_path):
    analyze, processlogs = analyzer_bins
    r = controller(trace_dir, "FP.profile('workload.**')", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    target.run(f"work {ROUNDS}")
    r = controller(trace_dir, "LU.revert(1)", pid=target.pid)  # flushes the buffers
    assert r.returncode == 0, r.stdout + r.stderr
    (trace,) = trace_files(trace_dir, target.pid)

    out = subprocess.run([analyze, "summary", "--format", "json", trace], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    hits = {f["function"]: f["hits"] for f in summary["functions"]}
    expected = cprofile_ncalls(ROUNDS)
    for func in ("leaf", "recursive", "raises", "decorated", "area", "make", "unit", "deep"):
        # The target's own main_helper calls leaf once per round on top of the workload.
        extra = ROUNDS if func == "leaf" else 0
        matches = [n for name, n in hits.items() if name.startswith("workload.") and name.split(".")[-1] == func]
        assert matches == [expected[func] + extra], (func, hits, expected[func])
    # One hit per generator invocation, where cProfile counts every resumption.
    assert [n for name, n in hits.items() if name == "workload.gen"] == [ROUNDS]
    # Self times add up to each thread's total (µs with 3 decimals: rounding per node at most). The stub's
    # command thread holds only update markers: no tree.
    profiled = [t for t in summary["threads"] if t["tree"]]
    assert profiled
    for thread in profiled:
        def walk(node):
            yield node
            for child in node["children"]:
                yield from walk(child)

        nodes = [n for root in thread["tree"] for n in walk(root)]
        assert abs(sum(n["self_us"] for n in nodes) - thread["total_us"]) <= 0.001 * len(nodes) + 0.001

    # The drop-in for the original: folded, summary and flamegraph files, and the original's last line.
    out = subprocess.run([processlogs, "-i", trace, "-o", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "generate summary:" in out.stdout and "flamegraph:" in out.stdout
    produced = sorted(os.listdir(tmp_path))
    assert any(p.endswith(".svg") for p in produced) and any(p.endswith(".folded") for p in produced), produced
    folded = next(p for p in produced if p.endswith(".folded"))
    with open(os.path.join(tmp_path, folded)) as f:
        lines = f.read().splitlines()
    assert any("workload.recursive;workload.recursive" in line for line in lines)
