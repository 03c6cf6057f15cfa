"""The native line timer (stub/src/lines.rs): LP's line times recorded without a Python callback. The frame
probes (frames.py) hand it a watched code object whose probes only time lines (no debugger, no custom payload,
which need the frame in Python); it is taken back as soon as such a probe joins, and given again when it goes.

- Python ≥ 3.12: a sys.monitoring tool of its own (``pylu-lines``) with native callbacks: LINE, PY_RETURN and
  PY_YIELD as local events of its code objects, PY_UNWIND process-wide while it has any (dropped by one hash
  lookup for other code).
- Python ≤ 3.11: the function's trampoline calls ``enter_lines``/``exit_lines``/``exit_raised_lines``
  (``ENTRY``), which put a C trace function on the calling thread for the outermost call; a generator's
  ``drive`` also calls ``suspend_lines``/``resume_lines`` around each resumption, so its frame is traced while it
  runs.

A failure inside the native callbacks turns them off and is reported (``error()``); functions profiled after it
get the Python frame probes.
"""

from __future__ import annotations

import sys
import types

from .. import _native

# The trampoline's hooks: a plain function's calls the first three, a generator's drive all five.
ENTRY = (_native.enter_lines, _native.exit_lines, _native.exit_raised_lines, _native.suspend_lines, _native.resume_lines)
# What sys.gettrace() returns while the C tracer is on (≤ 3.11).
TRACER = _native.line_tracer
resume_tracer = _native.resume_line_tracer

_TOOL_NAME = "pylu-lines"


def error() -> str | None:
    """Why the native timer stopped, or None while it works."""
    return _native.lines_error()


def watch(code: types.CodeType, func_id: int, lines) -> None:
    """Times `lines` (every line when None) of `code` natively, replacing what was chosen before."""
    _native.watch_lines(code, func_id, None if lines is None else sorted(lines))
    if _monitoring is not None:
        _monitoring.watch(code)


def unwatch(code: types.CodeType) -> None:
    if _monitoring is not None:
        _monitoring.unwatch(code)
    _native.unwatch_lines(code)


class _Monitoring:
    def __init__(self) -> None:
        self.mon = sys.monitoring
        self.tool = None
        self.codes: set = set()  # id(code) of the code objects with local events on

    def _tool_id(self) -> int:
        if self.tool is None:
            from .monitor import claim_tool

            mon = self.mon
            tool = claim_tool(_TOOL_NAME, (3, 5, 4, 2, 1, 0))
            ev = mon.events
            mon.register_callback(tool, ev.LINE, _native.lines_on_line)
            for event in (ev.PY_RETURN, ev.PY_YIELD, ev.PY_UNWIND):
                mon.register_callback(tool, event, _native.lines_on_end)
            self.tool = tool
        return self.tool

    def watch(self, code: types.CodeType) -> None:
        if id(code) in self.codes:
            return
        tool = self._tool_id()
        ev = self.mon.events
        self.mon.set_local_events(tool, code, ev.LINE | ev.PY_RETURN | ev.PY_YIELD)
        self.codes.add(id(code))
        if len(self.codes) == 1:
            self.mon.set_events(tool, ev.PY_UNWIND)

    def unwatch(self, code: types.CodeType) -> None:
        if id(code) not in self.codes:
            return
        tool = self._tool_id()
        self.codes.discard(id(code))
        self.mon.set_local_events(tool, code, 0)
        if not self.codes:
            self.mon.set_events(tool, 0)


_monitoring = _Monitoring() if sys.version_info >= (3, 12) else None
