"""Recording generators and coroutines on Python ≤ 3.11, with the records sys.monitoring gives on 3.12+:
``enter`` when the frame first runs, ``suspend`` at each yield/await that leaves it, ``resume`` when it runs
again (also when an exception is thrown in), ``exit`` (flagged when raised) when it finishes.

The trampoline of a generator function does ``return (yield from drive(fid, original(...)))``; a coroutine
function's does ``return await drive_awaitable(fid, original(...))``. ``drive`` is the PEP 380 expansion of
``yield from`` with a record at each step; with line probes or debuggers its hooks also trace the generator's
frame for each step (``make_drive``).
"""

from __future__ import annotations

import types

from .. import _native

def make_drive(enter, exit, exit_raised, suspend, resume):
    """A ``drive`` calling these hooks: ``enter`` before the first step of the inner generator, ``resume`` before
    every other step (a send, a throw or a close), ``suspend`` after a step that yielded, ``exit``/``exit_raised``
    after the last one. With the line probes' hooks (which put a tracer on the thread until the matching exit
    or suspend), the generator's frame is traced exactly while it runs, as sys.monitoring's local events are."""

    def drive(func_id, inner):
        send = inner.send
        to_send = None
        to_throw = None
        enter(func_id)
        while True:
            try:
                if to_throw is None:
                    yielded = send(to_send)
                else:
                    thrown, to_throw = to_throw, None
                    yielded = inner.throw(thrown)
            except StopIteration as stop:
                exit(func_id)
                return stop.value
            except BaseException:
                exit_raised(func_id)
                raise
            suspend(func_id)
            try:
                to_send = yield yielded
            except GeneratorExit:
                # Closed while suspended: the original finishes here (its finally blocks run), by exception.
                resume(func_id)
                try:
                    inner.close()
                finally:
                    exit_raised(func_id)
                raise
            except BaseException as exc:
                to_send = None
                to_throw = exc
            resume(func_id)

    return drive


# FP's own records (enter, exit, exit_raised, suspend, resume), without line probes.
RECORDS = (_native.enter, _native.exit, _native.exit_raised, _native.suspend, _native.resume)
drive = make_drive(*RECORDS)
drive_awaitable = types.coroutine(drive)
_drives: dict = {RECORDS: (drive, drive_awaitable)}


def drives_for(hooks) -> tuple:
    """(drive, drive_awaitable) calling `hooks` (enter, exit, exit_raised, suspend, resume); made once each."""
    found = _drives.get(hooks)
    if found is None:
        made = make_drive(*hooks)
        found = _drives[hooks] = (made, types.coroutine(made))
    return found
