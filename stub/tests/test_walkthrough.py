"""docs/WALKTHROUGH.md as an automated test: examples/program1.py and pylu-controller as subprocesses, then the
analyzer on what was recorded; line hits, debug values and the patch's effect are checked against what the
program computed (its own output)."""

import json
import os
import subprocess
import sys
import time

from conftest import trace_files
from conftest import REPO

EXAMPLES = os.path.join(REPO, "examples")


def _controller(trace_dir, command):
    return subprocess.run(
        [sys.executable, "-m", "pyliveupdate.controller", "--trace-dir", str(trace_dir), "-c", command],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )


def _wait_for(proc_out, text, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(proc_out) as f:
            if text in f.read():
                return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never printed")


def _source_line(text):
    with open(os.path.join(EXAMPLES, "program1.py")) as f:
        for number, line in enumerate(f, 1):
            if line.strip() == text:
                return number
    raise LookupError(text)


def _documented_answer(command):
    """The output docs/WALKTHROUGH.md shows under `$ command`, up to the next prompt or the block's end."""
    with open(os.path.join(REPO, "docs", "WALKTHROUGH.md")) as f:
        lines = f.read().splitlines()
    start = lines.index(f"$ {command}") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(("$ ", "```")))
    return "\n".join(lines[start:end])


def _table(answer):
    return [line for line in answer.splitlines() if not line.startswith(("[pid ", "recorder: "))]


def test_walkthrough(trace_dir, tmp_path, analyzer_bins):
    analyze, processlogs = analyzer_bins
    out, err = tmp_path / "out", tmp_path / "err"
    env = dict(os.environ, PYLU_TRACE_DIR=str(trace_dir), PROGRAM1_INTERVAL="0.02", PYTHONUNBUFFERED="1")
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "program1.py")], stdout=o, stderr=e, env=env)
    try:
        _wait_for(out, "foo(1) = 3")
        for command in ("FP.profile(['__main__.**', 'module1.**'])", "LP.profile('__main__.bar', [])",
                        "FD.debug('module1.foo')", "VD.debug('__main__.bar', 'b')"):
            r = _controller(trace_dir, command)
            assert r.returncode == 0, command + r.stdout + r.stderr
        time.sleep(0.3)
        r = _controller(trace_dir, "patch('examples/patch.py')")
        assert r.returncode == 0 and "redefined module1.foo" in r.stdout, r.stdout + r.stderr
        _wait_for(out, "foo(1) = 102")
        r = _controller(trace_dir, "LU.ls()")
        assert all(k in r.stdout for k in ("FuncProfiler", "LineProfiler", "FuncDebugger", "VarDebugger", "Redefine"))
        # The page shows this answer as pasted from a run: its table (all but the pid and the recorder's path)
        # must be what a run prints.
        assert _table(r.stdout) == _table(_documented_answer('pylu-controller -c "LU.ls()"')), r.stdout
        r = _controller(trace_dir, "LU.revert(5)")
        assert r.returncode == 0, r.stdout + r.stderr
        with open(out) as f:
            printed = f.read().count("foo(1) =")
        deadline = time.time() + 30
        while time.time() < deadline:  # the original code again after the patch's revert
            with open(out) as f:
                text = f.read()
            if "foo(1) = 3" in text[text.rindex("foo(1) = 102"):]:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("foo(1) = 3 never printed after the revert")
        r = _controller(trace_dir, "LU.revert_all()")
        assert "reverted 4 updates" in r.stdout, r.stdout
        r = _controller(trace_dir, "LP.profile('__mian__.bar', [11, 12])")
        assert r.returncode != 0
        assert "UpdateError: nothing to line-profile: no loaded module matches '__mian__.bar'" in r.stdout + r.stderr
        assert "Traceback" not in r.stdout + r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert printed > 0
    (trace,) = trace_files(trace_dir, proc.pid)

    lines = json.loads(subprocess.run([analyze, "lines", "--format", "json", trace], capture_output=True,
                                      text=True, check=True).stdout)
    by_line = {r["line"]: r for r in lines if r["function"] == "__main__.bar"}
    calls = by_line[_source_line("foo(a)  # noqa: F405")]["hits"]
    assert calls > 0
    assert by_line[_source_line("b = a")]["hits"] == calls
    assert by_line[_source_line("return b")]["hits"] == calls
    assert by_line[_source_line("b = a")]["source"] == "b = a"

    events = json.loads(subprocess.run([analyze, "events", "--format", "json", trace], capture_output=True,
                                       text=True, check=True).stdout)
    params = [e["value"] for e in events if e["function"] == "module1.foo" and e["kind"] == "parameters"]
    returns = [e["value"] for e in events if e["function"] == "module1.foo" and e["kind"] == "return"]
    # main() calls foo(1), then bar(2) calls foo(2): 3 and 5 before the patch, 102 and 104 with it.
    assert set(params) == {"1", "2"}
    assert set(returns) <= {"3", "5", "102", "104"} and {"3", "5", "102", "104"} <= set(returns)
    b_values = {e["value"] for e in events if e["function"] == "__main__.bar" and e["name"] == "b"}
    assert b_values == {"2"}
    outdir = tmp_path / "processed"
    subprocess.run([processlogs, "-q", "-i", trace, "-o", str(outdir), "--name", "walk"], check=True,
                   capture_output=True)
    summary = (outdir / "walk.summary").read_text()
    assert "Line timings (LineProfiler)" in summary and "b = a" in summary

    with open(err) as f:
        stderr = f.read()
    assert "pylu-debug: module1.foo" in stderr and "pylu-debug: __main__.bar" in stderr
