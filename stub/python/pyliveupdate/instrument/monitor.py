"""Python ≥ 3.12: instrumentation with sys.monitoring (PEP 669). Events are enabled per code object, so code
that is not profiled runs exactly as before; the function's code object is never replaced.

PY_START/PY_RESUME/PY_YIELD/PY_RETURN are local events of the profiled code objects. An exit by exception
(PY_UNWIND) and an exception thrown into a generator (PY_THROW) can only be enabled process-wide: they are on
while anything is profiled, and the native callback drops those of other code with one hash lookup.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

from .. import _native

_TOOL_NAME = "pylu"


@dataclass
class WatchedCode:
    code: types.CodeType


class MonitoringBackend:
    name = "sys.monitoring"

    def __init__(self) -> None:
        self._mon = sys.monitoring
        self._tool = None
        self._watched = 0

    def _tool_id(self) -> int:
        if self._tool is not None:
            return self._tool
        mon = self._mon
        # cProfile takes PROFILER_ID and debuggers DEBUGGER_ID; prefer ids nobody standard claims.
        for tool in (4, 3, 1, 2, 0):
            if mon.get_tool(tool) is None:
                mon.use_tool_id(tool, _TOOL_NAME)
                break
            if mon.get_tool(tool) == _TOOL_NAME:
                break
        else:
            raise RuntimeError("every sys.monitoring tool id is taken")
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

    def key(self, func: types.FunctionType) -> int:
        # Code objects compare by value; two equal ones are still two sets of events.
        return id(func.__code__)

    def attach(self, func: types.FunctionType, func_id: int) -> WatchedCode:
        tool = self._tool_id()
        ev = self._mon.events
        code = func.__code__
        _native.watch_code(code, func_id)
        self._mon.set_local_events(tool, code, ev.PY_START | ev.PY_RESUME | ev.PY_YIELD | ev.PY_RETURN)
        self._watched += 1
        if self._watched == 1:
            self._mon.set_events(tool, ev.PY_UNWIND | ev.PY_THROW)
        return WatchedCode(code)

    def detach(self, handle: WatchedCode) -> None:
        tool = self._tool_id()
        self._mon.set_local_events(tool, handle.code, 0)
        _native.unwatch_code(handle.code)
        self._watched -= 1
        if self._watched == 0:
            self._mon.set_events(tool, 0)

    def original_code(self, func: types.FunctionType) -> types.CodeType:
        return func.__code__
