"""In-process helpers: profile functions of this pytest process and read back what was recorded since."""

from __future__ import annotations

import os

from conftest import func_names, read_trace


def setup_trace_dir(tmp_path_factory) -> str:
    # One trace file per process: every in-process test shares it and looks only at its own window of time.
    if "PYLU_TRACE_DIR" not in os.environ:
        os.environ["PYLU_TRACE_DIR"] = str(tmp_path_factory.mktemp("inproc-traces"))
    return os.environ["PYLU_TRACE_DIR"]


def profiled_for_the_module(tmp_path_factory, module: str, pattern: str):
    """The body of a module-scoped fixture: `module` (from tests/programs) imported and `pattern` profiled while
    the test module runs, everything reverted after."""
    import importlib

    from pyliveupdatescripts import FP, LU

    setup_trace_dir(tmp_path_factory)
    importlib.import_module(module)
    FP.profile(pattern)
    yield
    LU.revert_all()


def now() -> int:
    from pyliveupdate import _native

    return _native.monotonic_ns()


def events_since(t0: int):
    from pyliveupdate import _native

    _native.flush()
    trace = read_trace(_native.trace_path())
    assert trace["errors"] == []
    names = func_names(trace)
    return trace, [e for e in trace["events"] if len(e) >= 4 and e[-1] >= t0 and e[0] != "func_def"], names


def hits_since(t0: int) -> dict:
    _trace, events, names = events_since(t0)
    out: dict = {}
    for e in events:
        if e[0] == "enter":
            out[names[e[2]]] = out.get(names[e[2]], 0) + 1
    return out


def while_called(call, ok, action, threads: int = 4) -> list:
    """Runs `action()` while `threads` threads call `call()` in a loop; returns the results `ok` refused."""
    import threading

    stop = threading.Event()
    wrong: list = []

    def caller():
        while not stop.is_set():
            result = call()
            if not ok(result):
                wrong.append(result)

    workers = [threading.Thread(target=caller) for _ in range(threads)]
    for t in workers:
        t.start()
    try:
        action()
    finally:
        stop.set()
        for t in workers:
            t.join()
    return wrong
