"""Frame probes: what LineProfiler and the debuggers need beyond calls — each line a watched function's frame
runs, with the frame at hand (its locals), and how the frame ends (return value or exception).

One ``Watch`` per code object gathers the probes of every update on it, so overlapping updates share one set
of events (two LineProfilers choosing the same line record it once). A watch whose probes only time lines (LP
alone) is handed to the native line timer (``lines.py``); otherwise two Python sources feed the same callbacks:

- Python ≥ 3.12: sys.monitoring, under a tool id of its own (``pylu-frames``), with LINE, PY_START, PY_RESUME,
  PY_YIELD and PY_RETURN as local events of the watched code objects only (code that is not watched runs
  exactly as before) and PY_UNWIND process-wide while anything is watched (filtered by one dict lookup). The
  frame is the callback's caller (``sys._getframe(1)``).
- Python ≤ 3.11: the code-swap trampoline of a watched function calls ``enter_traced``, which installs
  ``sys.settrace`` on the calling thread for the duration of the call (a generator's: of each resumption, through
  ``resume_traced``/``suspend_traced``; its frame's 'call' event at a resume is not a start) (unless the thread is already traced by
  someone else: a debugger or coverage keeps its tracer and the frame probes skip that call). The tracer
  answers only the watched code's frames; every other frame gets no line events.

Nothing here may raise into the host: every callback swallows its own failures.
"""

from __future__ import annotations

import dis
import sys
import threading
import types

from .. import _native
from . import lines as native_lines

_now = _native.monotonic_ns
_record_line = _native.record_line


class Probe:
    """One update's interest in one function. Subclasses override what they need; `lines` is the set of lines
    whose time is recorded (None: none), `every_line` times every line."""

    lines: frozenset | None = None
    every_line: bool = False

    def start(self, frame, func_id: int) -> None:
        pass

    def before(self, frame, func_id: int, line: int) -> None:
        pass

    def after(self, frame, func_id: int, line: int) -> None:
        pass

    def end(self, frame, func_id: int, value, raised: bool) -> None:
        pass

    def for_code(self, code: types.CodeType) -> Probe:
        """The same interest in the function once it runs `code` instead (Redefine and its revert): probes
        that looked their lines or variables up in the old code look them up again in the new one."""
        return self

    # Lines `before`/`after` want to hear about (None: every line).
    watched_lines: frozenset | None = frozenset()
    wants_start = False
    wants_end = False


class Watch:
    """Every probe on one code object, and what the engine derives from them on each change."""

    __slots__ = ("code", "func_id", "probes", "timed_all", "timed", "line_probes", "starts", "ends", "native", "source")

    def __init__(self, code: types.CodeType, func_id: int) -> None:
        self.code = code
        self.func_id = func_id
        self.probes: dict = {}
        self.source = None  # what feeds it now: NATIVE, PYTHON, or nothing yet
        self.refresh()

    def refresh(self) -> None:
        probes = list(self.probes.values())
        self.timed_all = any(p.every_line for p in probes)
        timed: set = set()
        for p in probes:
            timed |= p.lines or frozenset()
        self.timed = frozenset(timed)
        self.line_probes = [p for p in probes if p.watched_lines is None or p.watched_lines]
        self.starts = [p for p in probes if p.wants_start]
        self.ends = [p for p in probes if p.wants_end]
        # Only line times wanted: the native timer records them (unless it failed in this process).
        self.native = not (self.line_probes or self.starts or self.ends) and native_lines.error() is None


NATIVE = "native"
PYTHON = "python"


def _feed(watch: Watch, source) -> None:
    """Makes `source` (NATIVE, PYTHON or None: nothing) feed `watch`; the native timer is told the lines again
    when they changed. The old source is turned off before the new one is on: a line running across the change
    may go unrecorded, none is recorded twice."""
    lines = None if watch.timed_all else watch.timed
    if watch.source == source:
        if source == NATIVE:
            native_lines.watch(watch.code, watch.func_id, lines)
        return
    if watch.source == NATIVE:
        native_lines.unwatch(watch.code)
    elif watch.source == PYTHON and _monitoring is not None:
        _monitoring.unwatch(watch.code)
    if source == NATIVE:
        native_lines.watch(watch.code, watch.func_id, lines)
    elif source == PYTHON and _monitoring is not None:
        _monitoring.watch(watch.code)
    watch.source = source


def entry_of(code: types.CodeType):
    """≤ 3.11: the entry and exits (enter, exit, exit_raised) the trampoline of the function whose body is
    `code` must call: the native timer's, the Python tracer's, or None (FP's own) when nothing is watched."""
    with registry.lock:
        watch = registry.watches.get(id(code))
        if watch is None:
            return None
        return native_lines.ENTRY if watch.source == NATIVE else TRACED_ENTRY


class FrameState:
    """A running frame of a watched code object: the line it is on and since when."""

    __slots__ = ("watch", "frame", "line", "t", "exc")

    def __init__(self, watch: Watch, frame) -> None:
        self.watch = watch
        self.frame = frame
        self.line = 0
        self.t = 0
        self.exc = None


def _close_line(state: FrameState) -> None:
    line = state.line
    if not line:
        return
    watch = state.watch
    if watch.timed_all or line in watch.timed:
        _record_line(watch.func_id, line, max(0, _now() - state.t))
    for probe in watch.line_probes:
        if probe.watched_lines is None or line in probe.watched_lines:
            probe.after(state.frame, watch.func_id, line)
    state.line = 0


def on_start(state: FrameState) -> None:
    try:
        for probe in state.watch.starts:
            probe.start(state.frame, state.watch.func_id)
    except Exception:
        pass


def on_line(state: FrameState, line: int) -> None:
    try:
        _close_line(state)
        watch = state.watch
        for probe in watch.line_probes:
            if probe.watched_lines is None or line in probe.watched_lines:
                probe.before(state.frame, watch.func_id, line)
        state.line = line
        state.t = _now()
    except Exception:
        pass


def on_end(state: FrameState, value, raised: bool, suspended: bool = False) -> None:
    """The frame returned, raised or (a generator) suspended."""
    try:
        _close_line(state)
        if not suspended:
            for probe in state.watch.ends:
                probe.end(state.frame, state.watch.func_id, value, raised)
    except Exception:
        pass


class _Registry:
    """Watched code objects by id, shared by both sources."""

    def __init__(self) -> None:
        self.watches: dict = {}  # id(code) -> Watch
        self.lock = threading.RLock()


registry = _Registry()


def add(code: types.CodeType, func_id: int, holder: int, probe: Probe) -> bool:
    """Adds `holder`'s probe; returns True when `code` was not watched before."""
    with registry.lock:
        watch = registry.watches.get(id(code))
        new = watch is None
        if new:
            watch = Watch(code, func_id)
        watch.probes[holder] = probe
        watch.refresh()
        if new:
            registry.watches[id(code)] = watch
        _feed(watch, NATIVE if watch.native else PYTHON)
        return new


def remove(code: types.CodeType, holder: int) -> bool:
    """Removes `holder`'s probe; returns True when nothing watches `code` any more."""
    with registry.lock:
        watch = registry.watches.get(id(code))
        if watch is None or watch.probes.pop(holder, None) is None:
            return watch is None
        if watch.probes:
            watch.refresh()
            _feed(watch, NATIVE if watch.native else PYTHON)
            return False
        del registry.watches[id(code)]
        _feed(watch, None)
        return True


def probes_of(code: types.CodeType) -> dict:
    """{holder: probe} on `code`."""
    with registry.lock:
        watch = registry.watches.get(id(code))
        return dict(watch.probes) if watch is not None else {}


def watched(code: types.CodeType) -> bool:
    return id(code) in registry.watches


# ---------------------------------------------------------------------------------------------- ≤ 3.11: settrace

_tls = threading.local()
_RETURN_VALUE = dis.opmap.get("RETURN_VALUE")
_YIELD_VALUE = dis.opmap.get("YIELD_VALUE")
_YIELD_FROM = dis.opmap.get("YIELD_FROM")  # ≤ 3.10: `yield from`/`await` leave with f_lasti on the one before
_RESUME = dis.opmap.get("RESUME")  # 3.11: RESUME 0 starts a frame, RESUME 1-3 follow a yield or an await


def _suspends(code: bytes, at: int) -> bool:
    """Whether a frame whose 'return' event comes at instruction `at` leaves by a yield (it runs again)."""
    op = code[at]
    return op == _YIELD_VALUE or (_YIELD_FROM is not None and code[at + 2 : at + 3] == bytes((_YIELD_FROM,)))


def _first_entry(frame) -> bool:
    """Whether a 'call' event starts `frame` (False: a generator's frame resumed)."""
    at = frame.f_lasti
    if _RESUME is None:
        return at < 0
    code = frame.f_code.co_code
    return at < 0 or (code[at] == _RESUME and code[at + 1] == 0)


class _Traced(FrameState):
    __slots__ = ()

    def trace(self, frame, event, arg):
        if event == "line":
            on_line(self, frame.f_lineno)
        elif event == "return":
            op = suspends = None
            try:
                code, at = frame.f_code.co_code, frame.f_lasti
                op, suspends = code[at], _suspends(code, at)
            except Exception:
                pass
            if suspends:
                on_end(self, arg, False, suspended=True)
            elif op == _RETURN_VALUE or self.exc is None:
                on_end(self, arg, False)
            else:
                on_end(self, self.exc, True)
        elif event == "exception":
            self.exc = arg[1] if isinstance(arg, tuple) and len(arg) > 1 else arg
        return self.trace


def _global_tracer(frame, event, arg):
    if event != "call":
        return None
    watch = registry.watches.get(id(frame.f_code))
    if watch is None:
        return None
    state = _Traced(watch, frame)
    try:
        first = _first_entry(frame)
    except Exception:
        first = True
    if first:
        on_start(state)
    return state.trace


def enter_traced(func_id: int) -> None:
    """The ≤ 3.11 trampoline's entry for a function with frame probes: records the call and traces this thread
    until the outermost such call returns."""
    _native.enter(func_id)
    _trace_thread()


def resume_traced(func_id: int) -> None:
    """A generator's ``drive`` before each step after the first: its frame is traced while it runs."""
    _native.resume(func_id)
    _trace_thread()


def _trace_thread() -> None:
    try:
        depth = getattr(_tls, "depth", 0)
        if depth == 0:
            previous = sys.gettrace()
            # Inside a call the native timer traces, this call's probes take the thread's tracer and give it
            # back at the end (the timed frame gets no line events meanwhile: its line runs on).
            _tls.resume_native = previous is native_lines.TRACER
            _tls.installed = previous is None or _tls.resume_native
            if _tls.installed:
                sys.settrace(_global_tracer)
        _tls.depth = depth + 1
    except Exception:
        pass


def _leave() -> None:
    try:
        depth = getattr(_tls, "depth", 1) - 1
        _tls.depth = max(0, depth)
        if depth <= 0 and getattr(_tls, "installed", False):
            _tls.installed = False
            if sys.gettrace() is _global_tracer:
                sys.settrace(None)
            if getattr(_tls, "resume_native", False):
                _tls.resume_native = False
                native_lines.resume_tracer()
    except Exception:
        pass


def exit_traced(func_id: int) -> None:
    _leave()
    _native.exit(func_id)


def exit_raised_traced(func_id: int) -> None:
    _leave()
    _native.exit_raised(func_id)


def suspend_traced(func_id: int) -> None:
    _leave()
    _native.suspend(func_id)


# ------------------------------------------------------------------------------------- ≥ 3.12: sys.monitoring

_TOOL_NAME = "pylu-frames"


class _Monitoring:
    def __init__(self) -> None:
        self.mon = sys.monitoring
        self.tool = None
        self.codes: set = set()  # id(code) of the code objects fed by these callbacks

    def _tool_id(self) -> int:
        if self.tool is not None:
            return self.tool
        from .monitor import claim_tool

        mon = self.mon
        tool = claim_tool(_TOOL_NAME, (5, 3, 4, 2, 1, 0))
        ev = mon.events
        for event, callback in (
            (ev.PY_START, _mon_start),
            (ev.PY_RESUME, _mon_resume),
            (ev.PY_THROW, _mon_resume),
            (ev.LINE, _mon_line),
            (ev.PY_YIELD, _mon_yield),
            (ev.PY_RETURN, _mon_return),
            (ev.PY_UNWIND, _mon_unwind),
        ):
            mon.register_callback(tool, event, callback)
        self.tool = tool
        return tool

    def watch(self, code: types.CodeType) -> None:
        tool = self._tool_id()
        ev = self.mon.events
        self.mon.set_local_events(tool, code, ev.PY_START | ev.PY_RESUME | ev.LINE | ev.PY_YIELD | ev.PY_RETURN)
        self.codes.add(id(code))
        if len(self.codes) == 1:
            self.mon.set_events(tool, ev.PY_UNWIND | ev.PY_THROW)

    def unwatch(self, code: types.CodeType) -> None:
        tool = self._tool_id()
        self.mon.set_local_events(tool, code, 0)
        self.codes.discard(id(code))
        if not self.codes:
            self.mon.set_events(tool, 0)


_monitoring = _Monitoring() if sys.version_info >= (3, 12) else None


def _stack() -> list:
    try:
        return _tls.stack
    except AttributeError:
        _tls.stack = []
        return _tls.stack


def _mon_start(code, offset):
    watch = registry.watches.get(id(code))
    if watch is None:
        return
    try:
        state = FrameState(watch, sys._getframe(1))
        _stack().append(state)
    except Exception:
        return
    on_start(state)


def _mon_resume(code, offset, *exc):
    watch = registry.watches.get(id(code))
    if watch is None:
        return
    try:
        _stack().append(FrameState(watch, sys._getframe(1)))
    except Exception:
        pass


def _top(code) -> FrameState | None:
    """The state of the innermost frame of `code` on this thread; made for a frame that was already running
    when the probes were added (its start was not seen)."""
    stack = _stack()
    frame = sys._getframe(2)
    if stack and stack[-1].frame is frame:
        return stack[-1]
    watch = registry.watches.get(id(code))
    if watch is None:
        return None
    state = FrameState(watch, frame)
    stack.append(state)
    return state


def _pop(code) -> FrameState | None:
    stack = _stack()
    frame = sys._getframe(2)
    for at in range(len(stack) - 1, -1, -1):
        if stack[at].frame is frame:
            state = stack[at]
            del stack[at:]
            return state
    return None


def _mon_line(code, line):
    try:
        state = _top(code)
    except Exception:
        return
    if state is not None:
        on_line(state, line)


def _mon_yield(code, offset, value):
    try:
        state = _pop(code)
    except Exception:
        return
    if state is not None:
        on_end(state, value, False, suspended=True)


def _mon_return(code, offset, value):
    try:
        state = _pop(code)
    except Exception:
        return
    if state is not None:
        on_end(state, value, False)


def _mon_unwind(code, offset, exc):
    if id(code) not in registry.watches:
        return
    try:
        state = _pop(code)
    except Exception:
        return
    if state is not None:
        on_end(state, exc, True)


# The trampoline's hooks: a plain function's calls the first three, a generator's drive all five.
TRACED_ENTRY = (enter_traced, exit_traced, exit_raised_traced, suspend_traced, resume_traced)
