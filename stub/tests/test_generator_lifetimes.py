"""Generators, coroutines and async generators whose life spans an apply or a revert, in this process: every
backend records an invocation from its `enter` to its end, or nothing of it (docs/STUB.md, "What the records
mean"). One already running when its function is profiled records nothing (on 3.12+ sys.monitoring still
reports its resumes and yields: they are dropped); one made while profiled stops recording at the revert (on
≤ 3.11 its `drive` would run on), and stays silent if the function is profiled again."""

import sys

import pytest
from conftest import PROGRAMS
from inproc import events_since, now

sys.path.insert(0, PROGRAMS)

pytestmark = pytest.mark.usefixtures("in_process_trace_dir", "revert_everything_after")


def kinds_since(t0):
    _trace, events, names = events_since(t0)
    return [e[0] for e in events if e[0] != "update" and names.get(e[2], "").startswith("lifedemo.")]


def stepper(kind):
    """(a new running instance of lifedemo's `kind`, a function making it run one more step)."""
    import lifedemo

    if kind == "generator":
        g = lifedemo.ticker()
        return g, lambda: next(g)
    if kind == "coroutine":
        g = lifedemo.worker()
        return g, lambda: g.send(None)
    g = lifedemo.stream()
    step = None

    def again():
        nonlocal step
        if step is None:
            step = g.asend(None)
        try:
            step.send(None)
        except StopIteration:
            step = None

    return g, again


KINDS = ["generator", "coroutine", "async_generator"]
PATTERN = {"generator": "lifedemo.ticker", "coroutine": "lifedemo.worker", "async_generator": "lifedemo.stream"}


@pytest.mark.parametrize("kind", KINDS)
def test_running_before_the_update_records_nothing(kind):
    from pyliveupdatescripts import FP

    _g, step = stepper(kind)
    for _ in range(3):
        step()
    t0 = now()
    FP.profile(PATTERN[kind])
    for _ in range(5):
        step()
    assert kinds_since(t0) == []
    _fresh, fresh_step = stepper(kind)  # made and started while profiled: recorded
    fresh_step()
    fresh_step()
    assert kinds_since(t0)[:3] == ["enter", "suspend", "resume"]


@pytest.mark.parametrize("kind", KINDS)
def test_made_while_profiled_stops_recording_at_the_revert(kind):
    from pyliveupdatescripts import FP, LU

    FP.profile(PATTERN[kind])
    _g, step = stepper(kind)
    for _ in range(3):
        step()
    LU.revert_all()
    t0 = now()
    for _ in range(5):
        step()
    assert kinds_since(t0) == []
    FP.profile(PATTERN[kind])  # profiled again: the old one stays silent
    t1 = now()
    for _ in range(5):
        step()
    assert kinds_since(t1) == []


@pytest.mark.parametrize("kind", KINDS)
def test_made_while_profiled_started_after_the_revert_records_nothing(kind):
    from pyliveupdatescripts import FP, LU
    import lifedemo

    FP.profile(PATTERN[kind])
    made = {"generator": lifedemo.ticker, "coroutine": lifedemo.worker, "async_generator": lifedemo.stream}[kind]()
    LU.revert_all()
    t0 = now()
    if kind == "generator":
        next(made)
        next(made)
    elif kind == "coroutine":
        made.send(None)
        made.send(None)
    else:
        step = made.asend(None)
        step.send(None)
        with pytest.raises(StopIteration):
            step.send(None)
    assert kinds_since(t0) == []
