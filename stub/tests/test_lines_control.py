"""LineProfiler, the debuggers and the original's spellings through pylu-controller on a real process."""

import inspect
import os
import sys

from conftest import PROGRAMS, controller


def _main_helper_line() -> int:
    with open(os.path.join(PROGRAMS, "target.py")) as f:
        for number, text in enumerate(f, 1):
            if text.strip() == "return leaf(x) * 2":
                return number
    raise LookupError("main_helper")


def test_line_profiler_and_func_debugger_through_the_controller(target, trace_dir):
    line = _main_helper_line()
    r = controller(trace_dir, f"LineProfiler.profile('__main__.main_helper', [{line}])", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    r = controller(trace_dir, "FuncDebugger.debug('__main__.main_helper', repr_limit=10)", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    target.run("work 4")
    r = controller(trace_dir, "LU.ls()", pid=target.pid)
    assert "LineProfiler" in r.stdout and "FuncDebugger" in r.stdout, r.stdout
    r = controller(trace_dir, "LU.revert(1); LU.revert(2)", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    target.run("work 2")  # nothing recorded or printed after the revert
    trace = target.trace()
    names = {e[2]: f"{e[4]}.{e[3]}" for e in trace["events"] if e[0] == "func_def"}
    lines = [e for e in trace["events"] if e[0] == "line" and names[e[2]] == "__main__.main_helper"]
    assert [e[3] for e in lines] == [line] * 4
    params = [e[6] for e in trace["events"] if e[0] == "debug" and e[4] == "parameters"]
    returns = [e[6] for e in trace["events"] if e[0] == "debug" and e[4] == "return"]
    assert params == ["0", "1", "2", "3"]
    assert returns == ["2", "4", "6", "8"]
    err = target.close()
    assert err.count("pylu-debug: __main__.main_helper") == 8, err
    assert "parameters: x=3" in err and "returnvalues: return=8" in err


def test_a_mistake_is_one_line(target, trace_dir):
    r = controller(trace_dir, "LP.profile('__mian__.bar', [11, 12])", pid=target.pid)
    assert r.returncode != 0
    assert "UpdateError: nothing to line-profile: no loaded module matches '__mian__.bar'" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    r = controller(trace_dir, "FuncProfiler.profile(['workload.leaf'])", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "profiling 1 functions" in r.stdout
    r = controller(trace_dir, "VarDebugger.debug('workload.leaf', 'nope')", pid=target.pid)
    assert "UpdateError: no variable 'nope' in workload.leaf" in r.stdout + r.stderr
    assert target.run("work 1") == []  # the host still serves


def test_controller_takes_the_originals_listen_option(trace_dir):
    import subprocess

    r = subprocess.run(
        [sys.executable, "-m", "pyliveupdate.controller", "-l", "127.0.0.1:9", "--trace-dir", str(trace_dir),
         "--token-file", os.devnull, "-c", "LU.ls()"],
        capture_output=True, text=True, timeout=60,
    )
    assert "unrecognized arguments" not in r.stderr
    assert r.returncode != 0  # nothing listens there


def test_spellings_import_as_in_the_original():
    from pyliveupdatescripts import FD, LD, LP, VD, FuncDebugger, LineDebugger, LineProfiler, VarDebugger

    assert LP is LineProfiler and FD is FuncDebugger and LD is LineDebugger and VD is VarDebugger
    for tool, method in ((LP, "profile"), (FD, "debug"), (LD, "debug"), (VD, "debug")):
        assert inspect.isfunction(getattr(tool, method))


def test_every_new_command_reaches_every_selected_process(trace_dir):
    """The controller applies LP, FD, VD, Instrument and Redefine to each stub it finds, as it does FP; each
    process answers, records, prints and reverts on its own."""
    from conftest import Target

    targets = [Target(trace_dir) for _ in range(3)]
    try:
        line = _main_helper_line()
        commands = [
            f"LineProfiler.profile('__main__.main_helper', [{line}])",
            "FuncDebugger.debug('__main__.main_helper')",
            "VarDebugger.debug('workload.leaf', 'x')",
            "from pyliveupdate.update import Instrument, UpdateManager\n"
            "def seen(x): print('pylu-test-payload', x)\n"
            "UpdateManager.apply_update(Instrument('workload.leaf', {'func_begin': seen}))",
            "from pyliveupdate.update import Redefine, UpdateManager\n"
            "def leaf(x): return x + 100\n"
            "UpdateManager.apply_update(Redefine('workload', None, {'workload.leaf': leaf}))",
        ]
        for command in commands:
            r = controller(trace_dir, command)  # no --pid: every stub in the directory
            assert r.returncode == 0, r.stdout + r.stderr
            for t in targets:
                assert f"[pid {t.pid}]" in r.stdout, r.stdout
        r = controller(trace_dir, "LU.ls()")
        for t in targets:
            assert f"[pid {t.pid}]" in r.stdout
        # Redefine lists the function it changed (it used to show 0 functions).
        redefine_rows = [ln for ln in r.stdout.splitlines() if "Redefine" in ln and "applied" in ln]
        assert len(redefine_rows) == 3 and all(ln.split()[3] == "1" for ln in redefine_rows), r.stdout
        assert r.stdout.count("       workload.leaf") >= 3 * 3, r.stdout
        for t in targets:
            printed = t.run("work 3")  # the payload prints on the program's stdout, before the target's "ok"
            for i in range(3):
                assert f"pylu-test-payload {i}" in printed, printed
        r = controller(trace_dir, "LU.revert(5); LU.revert(1); LU.revert(3); LU.revert(2); LU.revert(4)")
        assert r.returncode == 0, r.stdout + r.stderr
        for t in targets:
            assert t.run("work 2") == []  # after the reverts: no payload, nothing recorded, leaf as before
        for t in targets:
            trace = t.trace()
            names = {e[2]: f"{e[4]}.{e[3]}" for e in trace["events"] if e[0] == "func_def"}
            lines = [e for e in trace["events"] if e[0] == "line" and names[e[2]] == "__main__.main_helper"]
            assert [e[3] for e in lines] == [line] * 3
            returns = [e[6] for e in trace["events"] if e[0] == "debug" and e[4] == "return"]
            # main_helper(i) = leaf(i) * 2 with leaf redefined to x + 100.
            assert returns == [str((i + 100) * 2) for i in range(3)], returns
            err = t.close()
            assert err.count("pylu-debug: __main__.main_helper") == 6, err
    finally:
        for t in targets:
            t.close()


def test_traceback_option_shows_the_stubs_traceback(target, trace_dir):
    plain = controller(trace_dir, "LP.profile('__mian__.bar', [11, 12])", pid=target.pid)
    full = controller(trace_dir, "LP.profile('__mian__.bar', [11, 12])", pid=target.pid, extra=("--traceback",))
    assert plain.returncode == full.returncode == 1
    assert "Traceback" not in plain.stdout and "Traceback" in full.stdout, full.stdout
    assert full.stdout.rstrip().endswith("nothing to line-profile: no loaded module matches '__mian__.bar'"), full.stdout
    assert "pyliveupdate" in full.stdout  # the stub's own frames are shown
    assert target.run("work 1") == []
