"""The product as a user installs it (stub/tests/run.sh puts the built wheels into a fresh venv and runs this
from outside the source tree): the packages and commands come from that venv; a real program with the stub's
two lines is profiled live through the installed ``pylu-controller``, and the installed ``pylu-analyze`` and
``pylu-processlogs`` read its trace. The analyzer's hits must equal the calls the program counted itself."""

import glob
import json
import os
import subprocess
import sys
import sysconfig

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)  # the venv's scripts directory, where pip put the commands
ROUNDS = 200


def command(name):
    path = os.path.join(BIN, name)
    assert os.access(path, os.X_OK), f"{name} is not installed in {BIN}"
    return path


def test_packages_come_from_the_installed_wheel():
    import pyliveupdate
    import pyliveupdate._native
    import pyliveupdatescripts

    site = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    for module in (pyliveupdate, pyliveupdate._native, pyliveupdatescripts):
        where = os.path.realpath(module.__file__)
        assert any(where.startswith(s + os.sep) for s in site), (module.__name__, where, site)
    for name in ("pylu-controller", "pylu-analyze", "pylu-processlogs"):
        command(name)


@pytest.fixture
def service(tmp_path):
    traces = tmp_path / "traces"
    traces.mkdir()
    env = dict(os.environ, PYLU_TRACE_DIR=str(traces), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "programs", "service.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    line = proc.stdout.readline()
    assert line.strip() == "ready", line + proc.stderr.read()
    yield proc, traces
    if proc.poll() is None:
        proc.stdin.write("exit\n")
        proc.stdin.close()
        proc.wait(timeout=30)


def walk(node):
    yield node
    for child in node["children"]:
        yield from walk(child)


def run(name, *args):
    return subprocess.run([command(name), *args], check=False, capture_output=True, text=True, timeout=120)


def controller(traces, pid, code):
    r = run("pylu-controller", "--trace-dir", str(traces), "--pid", str(pid), "-c", code)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_service_profiled_and_analyzed_with_the_installed_commands(service, tmp_path):
    proc, traces = service
    answer = controller(traces, proc.pid, "FP.profile('__main__.**')")
    assert "profiling" in answer, answer
    proc.stdin.write(f"work {ROUNDS}\n")
    proc.stdin.flush()
    counted = json.loads(proc.stdout.readline())["calls"]
    controller(traces, proc.pid, "LU.revert(1)")  # flushes the trace
    (trace,) = glob.glob(os.path.join(traces, f"{proc.pid}-*.pylu"))

    out = run("pylu-analyze", "summary", "--format", "json", trace)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    hits = {f["function"]: f["hits"] for f in summary["functions"]}
    assert {name: hits.get(f"__main__.{name}") for name in counted} == counted, hits
    assert counted["handle"] == ROUNDS and counted["fib"] > ROUNDS
    # Self times add up to each thread's total (µs with 3 decimals: rounding per node at most).
    profiled = [t for t in summary["threads"] if t["tree"]]
    assert profiled
    for thread in profiled:
        nodes = [n for root in thread["tree"] for n in walk(root)]
        assert abs(sum(n["self_us"] for n in nodes) - thread["total_us"]) <= 0.001 * len(nodes) + 0.001

    out = run("pylu-processlogs", "-i", trace, "-o", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "generate summary:" in out.stdout and "flamegraph:" in out.stdout, out.stdout
    (folded,) = glob.glob(os.path.join(tmp_path, "*.folded"))
    assert glob.glob(os.path.join(tmp_path, "*.svg"))
    with open(folded) as f:
        stacks = f.read()
    assert "__main__.handle;__main__.fib;__main__.fib" in stacks
    assert "__main__.handle;__main__.fails" in stacks
