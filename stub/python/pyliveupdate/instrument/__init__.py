"""Function-level instrumentation shared by every modification: one backend per Python version, one entry per
instrumented function however many updates hold it (an entry is removed when its last update is reverted).

This is the layer LineProfiler and the debuggers build on next: they add probes of other kinds (lines,
variables) to the same entries; on 3.12+ that is more sys.monitoring events on the same code objects (LINE),
on ≤ 3.11 more trampoline shapes (see docs/STUB.md).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
from dataclasses import dataclass, field

from .. import _native
from .codeswap import NotInstrumentable
from .nested import DEFAULT_OPTIONS, NOT_ASKED, Options, tree, walk

if sys.version_info >= (3, 12):
    from .monitor import MonitoringBackend as _Backend
else:
    from .codeswap import CodeSwapBackend as _Backend

__all__ = ["NotInstrumentable", "Options", "function_id", "instrumentation", "stub_work"]


def function_id(func: types.FunctionType, code: types.CodeType) -> int:
    return code_id(func.__qualname__, func.__module__ or "", code)


def code_id(qualname: str, module: str, code: types.CodeType) -> int:
    return _native.intern_function(qualname, module, code.co_filename, code.co_firstlineno)


class stub_work:  # lower case: used like a function, `with stub_work():`
    """The stub's own work on this thread: calls it makes into profiled code are not recorded (function
    definitions and update markers still are). A class, not a contextlib generator: it is entered for every
    function applied or reverted, and costs a fifth as much."""

    __slots__ = ("_was",)

    def __enter__(self) -> None:
        self._was = _native.mute_thread(True)

    def __exit__(self, *_exc) -> None:
        _native.mute_thread(self._was)


@dataclass
class _Entry:
    func: types.FunctionType
    func_id: int
    handle: object
    holders: set = field(default_factory=set)
    echo_holders: set = field(default_factory=set)
    nested: int = 0  # nested functions profiled with it
    skipped: list = field(default_factory=list)  # nested functions that could not be: [(qualname, why)]
    not_asked: int = 0  # comprehensions and generator expressions left out (Options.comprehensions)
    options: Options = DEFAULT_OPTIONS
    traced: object = None  # ≤ 3.11: the entry and exits its trampoline calls for frame probes (None: FP's own)


class Instrumentation:
    def __init__(self) -> None:
        self.backend = _Backend()
        self._entries: dict = {}
        self._lock = threading.RLock()

    def acquire(self, func: types.FunctionType, holder: int, echo: bool = False, options: Options = DEFAULT_OPTIONS) -> int:
        """Instruments `func` and the functions nested in it (if not yet: the first update to acquire a function
        decides which nested ones) on behalf of update `holder`; returns its function id."""
        with self._lock, stub_work():
            key = self.backend.key(func)
            entry = self._entries.get(key)
            if entry is None:
                if sys.version_info < (3, 12):
                    from .codeswap import kind_of

                    kind_of(func.__code__)  # refuse before interning what cannot be instrumented
                code = self.backend.original_code(func)
                func_id = function_id(func, code)
                nodes = tree(code, func.__qualname__, options)
                module = func.__module__ or ""
                ids = {id(n.code): code_id(n.qualname, module, n.code) for n in walk(nodes) if n.profiled} if nodes else {}
                handle, skipped = self.backend.attach(func, func_id, nodes, ids)
                entry = self._entries[key] = _Entry(func, func_id, handle, options=options)
                if nodes:
                    entry.nested = len(ids) - len(skipped)
                    entry.skipped = [(f"{module}.{name}", why) for name, why in skipped]
                    entry.not_asked = sum(1 for n in walk(nodes) if n.role == NOT_ASKED)
            entry.holders.add(holder)
            if echo:
                entry.echo_holders.add(holder)
                _native.set_echo(entry.func_id, True)
            return entry.func_id

    def release(self, func: types.FunctionType, holder: int) -> None:
        with self._lock, stub_work():
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

    def add_probe(self, func: types.FunctionType, holder: int, probe) -> None:
        """Adds update `holder`'s frame probe (lines, values) to the function it already acquired."""
        from . import frames

        with self._lock, stub_work():
            entry = self._entries[self.backend.key(func)]
            if sys.version_info >= (3, 12):
                frames.add(func.__code__, entry.func_id, holder, probe)
                return
            code = self.backend.body_code(entry.handle)
            frames.add(code, entry.func_id, holder, probe)
            try:
                self._retrace(entry, frames.entry_of(code))
            except BaseException:
                frames.remove(code, holder)
                raise

    def remove_probe(self, func: types.FunctionType, holder: int) -> None:
        from . import frames

        with self._lock, stub_work():
            entry = self._entries.get(self.backend.key(func))
            if entry is None:
                return
            if sys.version_info >= (3, 12):
                frames.remove(func.__code__, holder)
                return
            code = self.backend.body_code(entry.handle)
            frames.remove(code, holder)
            self._retrace(entry, frames.entry_of(code))

    def _retrace(self, entry: _Entry, traced) -> None:
        """≤ 3.11: makes the trampoline call `traced` (the native line timer's or the Python tracer's entry
        and exits, or None: FP's own) if it does not already."""
        if traced is not entry.traced:
            self.backend.set_traced(entry.handle, entry.func_id, traced)
            entry.traced = traced

    def replace_code(self, func: types.FunctionType, code: types.CodeType) -> None:
        """Gives `func` new code (Redefine, and its revert) and keeps every update on it: its instrumentation
        is taken off, the code assigned, and the same holders' instrumentation and probes put back on the new
        code. Each step is one atomic `__code__` assignment, so a concurrent call runs a whole version (at
        worst one not recorded), never half of one."""
        from . import frames

        with self._lock, stub_work():
            entry = self._entries.get(self.backend.key(func))
            if entry is None:
                func.__code__ = code
                return
            watched = self.backend.body_code(entry.handle) if sys.version_info < (3, 12) else func.__code__
            probes = frames.probes_of(watched)
            for holder in probes:
                self.remove_probe(func, holder)
            holders, echo = set(entry.holders), set(entry.echo_holders)
            for holder in holders:
                self.release(func, holder)
            func.__code__ = code
            for holder in holders:
                self.acquire(func, holder, holder in echo, entry.options)
            for holder, probe in probes.items():
                try:
                    self.add_probe(func, holder, probe.for_code(code))
                except NotInstrumentable:
                    pass

    def code_of(self, func: types.FunctionType) -> types.CodeType:
        """The function's own code, also while a ≤ 3.11 trampoline is swapped in."""
        with self._lock:
            entry = self._entries.get(self.backend.key(func))
            original = getattr(entry.handle, "original", None) if entry is not None else None
            return original if original is not None else func.__code__

    def is_instrumented(self, func: types.FunctionType) -> bool:
        with self._lock:
            return self.backend.key(func) in self._entries

    @contextlib.contextmanager
    def batch(self):
        """Many functions applied or reverted at once: on ≤ 3.11 the closures made before are looked for once,
        at the end, instead of once per function."""
        with self._lock:
            started = self.backend.begin_batch()
            try:
                yield
            finally:
                if started:
                    with stub_work():
                        self.backend.end_batch()

    def nested_of(self, func: types.FunctionType):
        """(nested functions profiled, [(qualname, why) skipped], comprehensions not asked) of an instrumented
        function, or None."""
        with self._lock:
            entry = self._entries.get(self.backend.key(func))
            return None if entry is None else (entry.nested, list(entry.skipped), entry.not_asked)


instrumentation = Instrumentation()
