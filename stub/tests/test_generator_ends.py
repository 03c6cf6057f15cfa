"""Generators ended every way, in this process: what each backend records (docs/STUB.md, "What the records
mean"). A hit is an invocation whose body started running, so the hits are the same on every version: a
generator closed or thrown into before it started records nothing (cProfile on ≤ 3.11 counts a call for it); one
closed or collected while suspended counts its hit, and ends at its last `suspend` when CPython closes the frame
without running it (no handler around the `yield`; 3.13.0, but not 3.12.1, whose `close()` throws into a
monitored frame)."""

import gc
import subprocess
import sys

import pytest
from conftest import PROGRAMS
from inproc import events_since, now, profiled_for_the_module

sys.path.insert(0, PROGRAMS)

# Whether CPython, closing a suspended generator with no handler around its `yield` while sys.monitoring watches
# it, throws GeneratorExit into the frame (PY_THROW, PY_UNWIND: 3.12.1) or ends it without running it (no event:
# 3.13.0). Asked of this interpreter in a child process (the stub's tools hold ids here), not guessed from the
# version: it changed within 3.12 and 3.13 patch releases.
_PROBE = """
import sys
m = sys.monitoring
def g():
    yield 1
seen = []
m.use_tool_id(3, "probe")
m.register_callback(3, m.events.PY_THROW, lambda *a: seen.append("throw"))
m.set_local_events(3, g.__code__, m.events.PY_START | m.events.PY_YIELD)
m.set_events(3, m.events.PY_THROW)
it = g()
next(it)
it.close()
print("throw" in seen)
"""


def _close_runs_the_frame() -> bool:
    if sys.version_info < (3, 12):
        return True  # the trampoline's drive throws into the original's frame
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


NEW = not _close_runs_the_frame()
FULL = ["enter", "suspend", "resume", "suspend", "resume", "exit"]
CLOSED = ["enter", "suspend", "resume", "exit_raised"]


@pytest.fixture(scope="module", autouse=True)
def _profiled(tmp_path_factory):
    yield from profiled_for_the_module(tmp_path_factory, "gendemo", "gendemo.*")


def closed_before_start():
    import gendemo

    gendemo.plain().close()


def thrown_before_start():
    import gendemo

    with pytest.raises(ValueError):
        gendemo.plain().throw(ValueError)


def closed_while_suspended():
    import gendemo

    g = gendemo.plain()
    next(g)
    g.close()


def closed_inside_try_finally():
    import gendemo

    g = gendemo.guarded()
    next(g)
    g.close()  # the finally block runs: the frame runs again on every version


def abandoned():
    import gendemo

    g = gendemo.plain()
    next(g)
    del g
    gc.collect()


def thrown_while_suspended():
    import gendemo

    g = gendemo.plain()
    next(g)
    with pytest.raises(ValueError):
        g.throw(ValueError)


def exhausted():
    import gendemo

    assert list(gendemo.plain()) == [1, 2]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (closed_before_start, []),
        (thrown_before_start, []),
        (closed_while_suspended, ["enter", "suspend"] if NEW else CLOSED),
        (closed_inside_try_finally, CLOSED),
        (abandoned, ["enter", "suspend"] if NEW else CLOSED),
        (thrown_while_suspended, CLOSED),
        (exhausted, FULL),
    ],
)
def test_records_and_hits(case, expected):
    t0 = now()
    case()
    _trace, events, names = events_since(t0)
    kinds = [e[0] for e in events if e[0] != "update" and names.get(e[2], "").startswith("gendemo.")]
    assert kinds == expected
