"""Async generator functions profiled and debugged in this process: on ≤ 3.11 by a trampoline that forwards
asend/athrow/aclose to the original (instrument/codeswap.py, generators.py `astep`), on 3.12+ by sys.monitoring;
the records must be the same on every version, values and exceptions must pass through untouched, and the event
loop must see one generator (nothing logged when it closes what a `break` left open)."""

import asyncio
import inspect
import sys

import pytest
from conftest import PROGRAMS
from inproc import events_since, now

sys.path.insert(0, PROGRAMS)

pytestmark = pytest.mark.usefixtures("in_process_trace_dir", "revert_everything_after")

CALL_KINDS = ("enter", "exit", "exit_raised", "suspend", "resume")


def _kinds(t0, func):
    _trace, events, names = events_since(t0)
    return [e[0] for e in events if e[0] in CALL_KINDS and names.get(e[2]) == func]


def _run(coro):
    """asyncio.run, with whatever the loop's exception handler is given collected (it only logs otherwise)."""
    reported = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reported.append(context))
        return await coro

    return asyncio.run(main()), reported


def _profile(pattern):
    from pyliveupdatescripts import FP

    answer = str(FP.profile(pattern))
    assert "skipped" not in answer, answer
    return answer


def test_exhausted_by_async_for_records_every_await_and_yield():
    import agendemo

    _profile("agendemo.*")
    assert inspect.isasyncgenfunction(agendemo.ticks)
    t0 = now()
    assert _run(agendemo.consume(2)) == (1, [])
    # Each round: an await that leaves the frame, then a value yielded; the last resume returns.
    assert _kinds(t0, "agendemo.ticks") == ["enter"] + ["suspend", "resume"] * 4 + ["exit"]
    assert _kinds(t0, "agendemo.consume") == ["enter"] + ["suspend", "resume"] * 2 + ["exit"]


def test_asend_athrow_and_aclose_pass_through():
    import agendemo

    _profile("agendemo.echo")

    async def drive():
        g = agendemo.echo()
        got = [await g.asend(None), await g.asend(5), await g.asend("x"), await g.athrow(ValueError)]
        with pytest.raises(StopAsyncIteration):
            await g.asend(None)  # the handler's yield was the last
        return got

    t0 = now()
    assert _run(drive()) == ([None, 5, "x", "caught"], [])
    assert _kinds(t0, "agendemo.echo") == ["enter"] + ["suspend", "resume"] * 4 + ["exit"]


def test_an_exception_inside_ends_the_call_raised_and_reaches_the_caller():
    import agendemo

    _profile("agendemo.fails")

    async def drive():
        got = []
        with pytest.raises(KeyError, match="inside"):
            async for v in agendemo.fails():
                got.append(v)
        return got

    t0 = now()
    assert _run(drive()) == ([1], [])
    assert _kinds(t0, "agendemo.fails") == ["enter", "suspend", "resume", "suspend", "resume", "exit_raised"]


def test_closed_early_runs_its_finally_as_unprofiled_and_the_loop_logs_nothing():
    import agendemo

    log = []

    async def explicit():
        g = agendemo.guarded(log)
        assert await g.__anext__() == 1
        await g.aclose()

    async def left_by_break():
        async for _v in agendemo.guarded(log):
            break  # the loop closes it: its aclose task is cancelled at asyncio.run's end on <= 3.12

    # How far the finally block gets when the loop closes the generator depends on the version: the reference
    # is the same program unprofiled.
    assert _run(left_by_break()) == (None, [])
    unprofiled, log[:] = log[:], []

    _profile("agendemo.guarded")
    t0 = now()
    assert _run(explicit()) == (None, [])
    assert log == ["finally ran"]
    # The finally block awaits: the frame runs twice more after its yield, then ends by GeneratorExit.
    closed = ["enter", "suspend", "resume", "suspend", "resume", "exit_raised"]
    assert _kinds(t0, "agendemo.guarded") == closed
    log.clear()
    t1 = now()
    assert _run(left_by_break()) == (None, [])
    assert log == unprofiled
    assert _kinds(t1, "agendemo.guarded") == closed


def test_a_cancelled_task_ends_the_call_raised():
    import agendemo

    _profile("agendemo.waits")

    async def drive():
        started = asyncio.Event()

        async def consumer():
            async for _v in agendemo.waits(started):
                pass

        task = asyncio.ensure_future(consumer())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return "cancelled"

    t0 = now()
    assert _run(drive()) == ("cancelled", [])
    # Cancelled while it waits on the loop: the CancelledError is thrown into its frame, which ends by it.
    assert _kinds(t0, "agendemo.waits") == ["enter", "suspend", "resume", "exit_raised"]


def test_lines_and_values_recorded_alike_on_every_version():
    import agendemo
    from pyliveupdatescripts import FD, LP, LU, VD

    LP.profile("agendemo.ticks")
    t0 = now()
    assert _run(agendemo.consume(3)) == (3, [])
    _trace, events, names = events_since(t0)
    lines = {}
    for e in events:
        if e[0] == "line" and names[e[2]] == "agendemo.ticks":
            lines[e[3]] = lines.get(e[3], 0) + 1
    # `for` 4 times (the last ends the loop), the await and the yield 3 times each.
    assert lines == {7: 4, 8: 3, 9: 3}, lines
    LU.revert_all()

    FD.debug("agendemo.ticks", echo=False)
    VD.debug("agendemo.ticks", "i", echo=False)
    t1 = now()
    assert _run(agendemo.consume(2)) == (1, [])
    _trace, events, names = events_since(t1)
    debug = [e for e in events if e[0] == "debug"]
    assert len(debug) >= 4, debug  # the parameter, i's values, the return
    assert _kinds(t1, "agendemo.ticks") == ["enter"] + ["suspend", "resume"] * 4 + ["exit"]


def test_revert_gives_back_the_original_code():
    import agendemo
    from pyliveupdatescripts import LU

    original = agendemo.ticks.__code__
    _profile("agendemo.ticks")
    if sys.version_info < (3, 12):
        assert agendemo.ticks.__code__ is not original
        assert inspect.isasyncgenfunction(agendemo.ticks)  # the trampoline is an async generator function too
    LU.revert_all()
    assert agendemo.ticks.__code__ is original
    t0 = now()
    assert _run(agendemo.consume(2)) == (1, [])
    assert _kinds(t0, "agendemo.ticks") == []
