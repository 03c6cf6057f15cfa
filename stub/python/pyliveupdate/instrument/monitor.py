"""Python ≥ 3.12: instrumentation with sys.monitoring (PEP 669). Events are enabled per code object, so code
that is not profiled runs exactly as before; the function's code object is never replaced.

PY_START/PY_RESUME/PY_YIELD/PY_RETURN are local events of the profiled code objects. A generator's or
coroutine's frame is recorded only if its start was seen (stub/src/started.rs): one already running when its
code is watched records nothing, as on ≤ 3.11. An exit by exception
(PY_UNWIND) and an exception thrown into a generator (PY_THROW) can only be enabled process-wide: they are on
while anything is profiled, and the native callback drops those of other code with one hash lookup.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

from .. import _native
from .nested import walk

_TOOL_NAME = "pylu"
_SUSPENDABLE = 0x20 | 0x80 | 0x200  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR


def claim_tool(name: str, preferred: tuple) -> int:
    """The first of the `preferred` sys.monitoring tool ids that is free (or already ours, named `name`)."""
    mon = sys.monitoring
    for tool in preferred:
        if mon.get_tool(tool) is None:
            mon.use_tool_id(tool, name)
            return tool
        if mon.get_tool(tool) == name:
            return tool
    raise RuntimeError("every sys.monitoring tool id is taken")


@dataclass
class WatchedCode:
    codes: list  # the function's code object, then its nested ones


class MonitoringBackend:
    name = "sys.monitoring"

    def __init__(self) -> None:
        self._mon = sys.monitoring
        self._tool = None
        # id(code) -> [code, holders]: a code object may be both a profiled function's and nested in another.
        self._codes: dict = {}

    def _tool_id(self) -> int:
        if self._tool is not None:
            return self._tool
        mon = self._mon
        # cProfile takes PROFILER_ID and debuggers DEBUGGER_ID; prefer ids nobody standard claims.
        tool = claim_tool(_TOOL_NAME, (4, 3, 1, 2, 0))
        ev = mon.events
        for event, callback in (
            (ev.PY_START, _native.on_py_start),
            (ev.PY_RESUME, _native.on_py_resume),
            (ev.PY_THROW, _native.on_py_throw),
            (ev.PY_YIELD, _native.on_py_yield),
            (ev.PY_RETURN, _native.on_py_return),
            (ev.PY_UNWIND, _native.on_py_unwind),
        ):
            mon.register_callback(tool, event, callback)
        self._tool = tool
        return tool

    def begin_batch(self) -> bool:
        return False  # every closure shares its code object's events: nothing to look for

    def end_batch(self) -> None:
        pass

    def key(self, func: types.FunctionType) -> int:
        # Code objects compare by value; two equal ones are still two sets of events.
        return id(func.__code__)

    def _watch(self, tool: int, code: types.CodeType, func_id: int) -> None:
        held = self._codes.get(id(code))
        if held is not None:
            held[1] += 1
            return
        ev = self._mon.events
        _native.watch_code(code, func_id, bool(code.co_flags & _SUSPENDABLE))
        self._mon.set_local_events(tool, code, ev.PY_START | ev.PY_RESUME | ev.PY_YIELD | ev.PY_RETURN)
        self._codes[id(code)] = [code, 1]
        if len(self._codes) == 1:
            self._mon.set_events(tool, ev.PY_UNWIND | ev.PY_THROW)

    def _unwatch(self, tool: int, code: types.CodeType) -> None:
        held = self._codes.get(id(code))
        if held is None:
            return
        held[1] -= 1
        if held[1]:
            return
        del self._codes[id(code)]
        self._mon.set_local_events(tool, code, 0)
        _native.unwatch_code(code)
        if not self._codes:
            self._mon.set_events(tool, 0)

    def attach(self, func: types.FunctionType, func_id: int, nodes: list = (), ids: dict | None = None):
        """Enables the function's events and those of its nested code objects (every closure made from them,
        before or after, shares them); returns (handle, skipped nested functions: none on this backend)."""
        tool = self._tool_id()
        watched = [(func.__code__, func_id)] + [(node.code, (ids or {})[id(node.code)]) for node in walk(nodes) if node.profiled]
        for code, fid in watched:
            self._watch(tool, code, fid)
        return WatchedCode([code for code, _ in watched]), []

    def detach(self, handle: WatchedCode) -> None:
        tool = self._tool_id()
        for code in handle.codes:
            self._unwatch(tool, code)

    def original_code(self, func: types.FunctionType) -> types.CodeType:
        return func.__code__
