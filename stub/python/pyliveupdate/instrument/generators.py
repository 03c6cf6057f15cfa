"""Recording generators and coroutines on Python ≤ 3.11, with the records sys.monitoring gives on 3.12+:
``enter`` when the frame first runs, ``suspend`` at each yield/await that leaves it, ``resume`` when it runs
again (also when an exception is thrown in), ``exit`` (flagged when raised) when it finishes.

The trampoline of a generator function does ``return (yield from drive(fid, original(...)))``; a coroutine
function's does ``return await drive_awaitable(fid, original(...))``. ``drive`` is the PEP 380 expansion of
``yield from`` with a record at each step.
"""

from __future__ import annotations

import types

from .. import _native

_enter = _native.enter
_exit = _native.exit
_exit_raised = _native.exit_raised
_suspend = _native.suspend
_resume = _native.resume


def drive(func_id, inner):
    send = inner.send
    to_send = None
    to_throw = None
    _enter(func_id)
    while True:
        try:
            if to_throw is None:
                yielded = send(to_send)
            else:
                thrown, to_throw = to_throw, None
                yielded = inner.throw(thrown)
        except StopIteration as stop:
            _exit(func_id)
            return stop.value
        except BaseException:
            _exit_raised(func_id)
            raise
        _suspend(func_id)
        try:
            to_send = yield yielded
        except GeneratorExit:
            # Closed while suspended: the original finishes here (its finally blocks run), by exception.
            _resume(func_id)
            try:
                inner.close()
            finally:
                _exit_raised(func_id)
            raise
        except BaseException as exc:
            to_send = None
            to_throw = exc
        _resume(func_id)


drive_awaitable = types.coroutine(drive)
