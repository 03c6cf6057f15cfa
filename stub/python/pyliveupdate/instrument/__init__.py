"""Function-level instrumentation shared by every modification: one backend per Python version, one entry per
instrumented function however many updates hold it (an entry is removed when its last update is reverted).

This is the layer LineProfiler and the debuggers build on next: they add probes of other kinds (lines,
variables) to the same entries; on 3.12+ that is more sys.monitoring events on the same code objects (LINE),
on ≤ 3.11 more trampoline shapes (see docs/STUB.md).
"""

from __future__ import annotations

import sys
import threading
import types
from dataclasses import dataclass, field

from .. import _native
from .codeswap import NotInstrumentable

if sys.version_info >= (3, 12):
    from .monitor import MonitoringBackend as _Backend
else:
    from .codeswap import CodeSwapBackend as _Backend

__all__ = ["NotInstrumentable", "instrumentation", "function_id"]


def function_id(func: types.FunctionType, code: types.CodeType) -> int:
    return _native.intern_function(
        func.__qualname__, func.__module__ or "", code.co_filename, code.co_firstlineno
    )


@dataclass
class _Entry:
    func: types.FunctionType
    func_id: int
    handle: object
    holders: set = field(default_factory=set)
    echo_holders: set = field(default_factory=set)


class Instrumentation:
    def __init__(self) -> None:
        self.backend = _Backend()
        self._entries: dict = {}
        self._lock = threading.RLock()

    def acquire(self, func: types.FunctionType, holder: int, echo: bool = False) -> int:
        """Instruments `func` (if not yet) on behalf of update `holder`; returns its function id."""
        with self._lock:
            key = self.backend.key(func)
            entry = self._entries.get(key)
            if entry is None:
                if sys.version_info < (3, 12):
                    from .codeswap import kind_of

                    kind_of(func.__code__)  # refuse before interning what cannot be instrumented
                func_id = function_id(func, self.backend.original_code(func))
                handle = self.backend.attach(func, func_id)
                entry = self._entries[key] = _Entry(func, func_id, handle)
            entry.holders.add(holder)
            if echo:
                entry.echo_holders.add(holder)
                _native.set_echo(entry.func_id, True)
            return entry.func_id

    def release(self, func: types.FunctionType, holder: int) -> None:
        with self._lock:
            key = self.backend.key(func)
            entry = self._entries.get(key)
            if entry is None or holder not in entry.holders:
                return
            entry.holders.discard(holder)
            entry.echo_holders.discard(holder)
            if not entry.echo_holders:
                _native.set_echo(entry.func_id, False)
            if not entry.holders:
                self.backend.detach(entry.handle)
                del self._entries[key]

    def is_instrumented(self, func: types.FunctionType) -> bool:
        with self._lock:
            return self.backend.key(func) in self._entries


instrumentation = Instrumentation()
