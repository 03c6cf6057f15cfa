"""pylu's hits against an independent count on real stdlib code (json's pure-Python encoder and scanner with
their closures, fractions' operator closures, difflib's generators): for every function of the profiled
modules that ran, nested ones and lambdas included, hits equal cProfile's ncalls for plain functions and the
number of invocations (started frames) for generators, which cProfile counts once per resumption."""

import json
import os
import subprocess
import sys

from conftest import PROGRAMS

SCRIPT = os.path.join(PROGRAMS, "stdlib_work.py")


def counted(how: str, trace_dir) -> dict:
    env = dict(os.environ, PYTHONHASHSEED="0", PYLU_TRACE_DIR=str(trace_dir))
    run = subprocess.run([sys.executable, SCRIPT, how], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_hits_equal_calls_and_invocations_for_every_function(trace_dir):
    cprofile = counted("cprofile", trace_dir)
    starts = counted("starts", trace_dir)
    pylu = counted("pylu", trace_dir)
    assert set(starts) == set(cprofile), "the two independent counts saw different functions"
    expected = {k: (n if generator else cprofile[k][0]) for k, (n, generator) in starts.items()}
    hits = {k: n for k, (n, _) in pylu.items()}
    assert hits == expected
    names = {k.rsplit(":", 1)[1] for k in hits}
    # What the profiled functions define is there: the encoder's closures, the scanner's, the operators'.
    assert {"_iterencode_list", "floatstr", "scan_once", "forward", "replace"} <= names
    assert any(starts[k][1] for k in hits), "the workload runs generators"
