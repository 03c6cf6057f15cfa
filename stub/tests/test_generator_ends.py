"""Generators ended every way, in this process: what each backend records (docs/STUB.md, "What the records
mean"). A hit is an invocation whose body started running, so the hits are the same on every version: a
generator closed or thrown into before it started records nothing (cProfile on ≤ 3.11 counts a call for it); one
closed or collected while suspended counts its hit, and on 3.12+ ends at its last `suspend` when CPython closes
the frame without running it (no handler around the `yield`)."""

import gc
import sys

import pytest
from conftest import PROGRAMS
from inproc import events_since, now, setup_trace_dir

sys.path.insert(0, PROGRAMS)

NEW = sys.version_info >= (3, 12)
FULL = ["enter", "suspend", "resume", "suspend", "resume", "exit"]
CLOSED = ["enter", "suspend", "resume", "exit_raised"]


@pytest.fixture(scope="module", autouse=True)
def _profiled(tmp_path_factory):
    setup_trace_dir(tmp_path_factory)
    import gendemo  # noqa: F401
    from pyliveupdatescripts import FP, LU

    FP.profile("gendemo.*")
    yield
    LU.revert_all()


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
