"""Recording generators, coroutines and async generators on Python ≤ 3.11, with the records sys.monitoring
gives on 3.12+: ``enter`` when the frame first runs, ``suspend`` at each yield/await that leaves it, ``resume``
when it runs again (also when an exception is thrown in), ``exit`` (flagged when raised) when it finishes.

The trampoline of a generator function does ``return (yield from drive(fid, original(...)))``; a coroutine
function's does ``return await drive_awaitable(fid, original(...))``. ``drive`` is the PEP 380 expansion of
``yield from`` with a record at each step; with line probes or debuggers its hooks also trace the generator's
frame for each step (``make_drive``). An async generator function's trampoline is an async generator that
forwards ``asend``/``athrow``/``aclose`` to the original's and awaits each of their awaitables through
``astep``, which runs it one step at a time the same way (``make_astep``).
"""

from __future__ import annotations

import sys
import types

from .. import _native

# Function id → a token that is new each time the function (or the function it is nested in) is instrumented;
# absent while it is not. A generator records only while the token it started under is the current one: after
# a revert (and a later apply) it runs on unrecorded, as its frame does on 3.12+ once the events are off. Without
# this, a generator made while profiled would keep recording after the revert, for as long as it lives.
_live: dict = {}
_OFF = object()  # an async generator's `started` once it no longer records


def set_live(func_ids, on: bool) -> None:
    """`func_ids` are instrumented (a new token each) or no longer are."""
    for func_id in func_ids:
        if on:
            _live[func_id] = object()
        else:
            _live.pop(func_id, None)


def make_drive(enter, exit, exit_raised, suspend, resume):
    """A ``drive`` calling these hooks: ``enter`` before the first step of the inner generator, ``resume`` before
    every other step (a send, a throw or a close), ``suspend`` after a step that yielded, ``exit``/``exit_raised``
    after the last one. With the line probes' hooks (which put a tracer on the thread until the matching exit
    or suspend), the generator's frame is traced exactly while it runs, as sys.monitoring's local events are."""

    def drive(func_id, inner):
        send = inner.send
        to_send = None
        to_throw = None
        token = _live.get(func_id)
        if token is None:  # made while instrumented, started after the revert
            return (yield from inner)
        enter(func_id)
        on = True  # records (until a resume finds the function reverted)
        while True:
            try:
                if to_throw is None:
                    yielded = send(to_send)
                else:
                    thrown, to_throw = to_throw, None
                    yielded = inner.throw(thrown)
            except StopIteration as stop:
                if on:
                    exit(func_id)
                return stop.value
            except BaseException:
                if on:
                    exit_raised(func_id)
                raise
            if on:
                suspend(func_id)
            try:
                to_send = yield yielded
            except GeneratorExit:
                on = on and _live.get(func_id) is token
                # Closed while suspended: the original finishes here (its finally blocks run), by exception.
                if on:
                    resume(func_id)
                try:
                    inner.close()
                finally:
                    if on:
                        exit_raised(func_id)
                raise
            except BaseException as exc:
                to_send = None
                to_throw = exc
            on = on and _live.get(func_id) is token
            if on:
                resume(func_id)

    return drive


def make_astep(enter, exit, exit_raised, suspend, resume):
    """An ``astep`` calling these hooks. ``astep(func_id, started, awaitable, closing)`` runs `awaitable` (one
    of the original async generator's ``asend``/``athrow``/``aclose``) a step at a time: ``enter`` before the
    generator's first step (``started[0]``, shared by the steps of one generator, says it happened), ``resume``
    before every other, ``suspend`` after a step that left the frame (an await the event loop finishes, or a
    value yielded: both are yields of the frame, as on 3.12+), ``exit`` when the generator returned
    (StopAsyncIteration), ``exit_raised`` when an exception ended it or ``aclose`` (`closing`) finished it."""

    @types.coroutine
    def astep(func_id, started, awaitable, closing):
        send = awaitable.send
        to_send = None
        to_throw = None
        while True:
            # started[0]: False before the first step, then the token the generator started under, or _OFF
            # once it no longer records (started after the revert, or a step found the function reverted).
            if started[0] is False:
                token = _live.get(func_id)
                started[0] = _OFF if token is None else token
                on = token is not None
                if on:
                    enter(func_id)
            else:
                on = started[0] is not _OFF and _live.get(func_id) is started[0]
                if on:
                    resume(func_id)
                else:
                    started[0] = _OFF
            try:
                if to_throw is None:
                    out = send(to_send)
                else:
                    thrown, to_throw = to_throw, None
                    out = awaitable.throw(thrown)
            except StopIteration as stop:
                # asend/athrow: the generator yielded `stop.value`; aclose: the generator is finished.
                if on:
                    if closing:
                        exit_raised(func_id)
                    else:
                        suspend(func_id)
                return stop.value
            except StopAsyncIteration:
                if on:
                    exit(func_id)
                raise
            except BaseException:
                if on:
                    exit_raised(func_id)
                raise
            if on:
                suspend(func_id)
            try:
                to_send = yield out
            except GeneratorExit:
                # The awaiting coroutine is closed while the generator waits on the event loop.
                on = on and _live.get(func_id) is started[0]
                if on:
                    resume(func_id)
                try:
                    awaitable.close()
                finally:
                    if on:
                        exit_raised(func_id)
                raise
            except BaseException as exc:
                to_send = None
                to_throw = exc

    return astep


def first_asend(agen):
    """``agen.asend(None)``, the original async generator's first step, without the thread's async generator hooks:
    the trampoline's generator is the one the event loop knows (its hooks ran when it was first iterated) and
    closes the original's from its own ``aclose``. Were the original registered too, the loop's shutdown would
    close both at once and the second ``aclose`` would find it running (CPython runs the hooks when the first
    ``asend`` is made; they are per thread)."""
    hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=None, finalizer=None)
    try:
        return agen.asend(None)
    finally:
        sys.set_asyncgen_hooks(*hooks)


# FP's own records (enter, exit, exit_raised, suspend, resume), without line probes.
RECORDS = (_native.enter, _native.exit, _native.exit_raised, _native.suspend, _native.resume)
drive = make_drive(*RECORDS)
drive_awaitable = types.coroutine(drive)
astep = make_astep(*RECORDS)
_drives: dict = {RECORDS: {"generator": drive, "coroutine": drive_awaitable, "async_generator": astep}}


def drive_for(hooks, kind: str):
    """The driver of a `kind` ("generator", "coroutine" or "async_generator") function's trampoline calling
    `hooks` (enter, exit, exit_raised, suspend, resume); made once per hooks."""
    found = _drives.get(hooks)
    if found is None:
        made = make_drive(*hooks)
        found = _drives[hooks] = {
            "generator": made,
            "coroutine": types.coroutine(made),
            "async_generator": make_astep(*hooks),
        }
    return found.get(kind)
