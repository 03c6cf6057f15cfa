"""``FD``, ``LD``, ``VD``: the debuggers. Each event is one line on the program's stderr, prefixed
``pylu-debug:`` so it can be grepped (``echo=False`` turns that off), and one debug record per value in the
trace (``pylu-analyze events`` lists them):

- ``FD.debug('__main__.bar')``: the parameters at entry, the return value or exception at exit.
- ``LD.debug('__main__.bar', [11, 12])``: the values each chosen line reads before it runs, and the names it
  assigned after it ran (every line when the list is empty).
- ``VD.debug('__main__.bar', 'b')``: every value `b` takes (after each line assigning it) and its value before
  each line that reads it.

Values are shown by ``repr`` cut at ``repr_limit`` characters (default ``probing.DEFAULT_REPR_LIMIT``); a repr
that raises or recurses shows ``<repr failed: ...>`` and never reaches the host.
"""

from __future__ import annotations

import os
import sys

from . import _native
from .instrument import frames, instrumentation
from .probing import (
    DEFAULT_REPR_LIMIT, apply, chosen_lines, code_lines, line_numbers, only_attribute, reads_and_writes, resolve, show,
    watchable,
)
from .text import Text
from .updates import UpdateError

PREFIX = "pylu-debug:"
PARAMETERS, RETURN, USED, DEFINED = 0, 1, 2, 3
_MISSING = object()


def _echo(text: str) -> None:
    try:
        stream = sys.stderr
        if stream is not None:
            stream.write(text + "\n")
            stream.flush()
    except Exception:  # noqa: BLE001  (a closed stderr must not disturb the host)
        pass


class _Shower(frames.Probe):
    def __init__(self, name: str, echo: bool, limit: int) -> None:
        self.name = name
        self.echo = echo
        self.limit = limit
        self.pid = os.getpid()

    def emit(self, func_id: int, line: int, kind: int, label: str, values: list) -> None:
        """`values`: [(name, value)]. One record per value, one stderr line for the event."""
        shown = [(name, show(value, self.limit)) for name, value in values]
        for name, text in shown:
            _native.record_debug(func_id, line, kind, name, text)
        if self.echo:
            where = f"{self.name}:{line}" if line else self.name
            body = ", ".join(f"{name}={text}" for name, text in shown) if shown else "-"
            _echo(f"{PREFIX} {where} {label}: {body}")


def _lookup(frame, name: str):
    try:
        value = frame.f_locals.get(name, _MISSING)
    except Exception:  # noqa: BLE001
        value = _MISSING
    if value is _MISSING:
        value = frame.f_globals.get(name, _MISSING)
    return value


def _is_data(value) -> bool:
    """Globals worth showing: not the functions, classes and modules a line calls or reaches through."""
    return not (callable(value) or type(value).__name__ == "module")


class _FuncValues(_Shower):
    wants_start = True
    wants_end = True

    def __init__(self, name: str, code, echo: bool, limit: int) -> None:
        super().__init__(name, echo, limit)
        n = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
        self.params = code.co_varnames[:n]

    def for_code(self, code) -> _FuncValues:
        return _FuncValues(self.name, code, self.echo, self.limit)

    def start(self, frame, func_id: int) -> None:
        values = [(p, v) for p in self.params if (v := _lookup(frame, p)) is not _MISSING]
        self.emit(func_id, frame.f_lineno, PARAMETERS, "parameters", values)

    def end(self, frame, func_id: int, value, raised: bool) -> None:
        if raised:
            self.emit(func_id, frame.f_lineno, RETURN, "raised", [("exception", value)])
        else:
            self.emit(func_id, frame.f_lineno, RETURN, "returnvalues", [("return", value)])


class _LineValues(_Shower):
    """`lines`: the chosen lines, or None for every line of the code (and of any code the function gets later);
    `only`: VD's variable, wherever the code reads or assigns it."""

    def __init__(
        self, name: str, code, lines: frozenset | None, echo: bool, limit: int, only: str | None = None
    ) -> None:
        super().__init__(name, echo, limit)
        self.asked = lines
        self.only = only
        if lines is None:
            lines = frozenset(code_lines(code))
        reads, writes = reads_and_writes(code)
        if only is not None:
            reads = {line: [only] for line, names in reads.items() if only in names}
            writes = {line: [only] for line, names in writes.items() if only in names}
            lines = frozenset(reads) | frozenset(writes)
        self.reads = {line: names for line, names in reads.items() if line in lines}
        self.writes = {line: names for line, names in writes.items() if line in lines}
        self.watched_lines = frozenset(self.reads) | frozenset(self.writes)
        self.locals_only = only is None

    def for_code(self, code) -> _LineValues:
        # Lines chosen by number keep their numbers; every line, and a variable, are looked up in the new code.
        return _LineValues(self.name, code, self.asked, self.echo, self.limit, self.only)

    def _values(self, frame, names: list) -> list:
        out = []
        for name in names:
            value = _lookup(frame, name)
            if value is _MISSING or (self.locals_only and name not in frame.f_code.co_varnames and not _is_data(value)):
                continue
            out.append((name, value))
        return out

    def before(self, frame, func_id: int, line: int) -> None:
        names = self.reads.get(line)
        if names:
            self.emit(func_id, line, USED, "usevalues", self._values(frame, names))

    def after(self, frame, func_id: int, line: int) -> None:
        names = self.writes.get(line)
        if names:
            values = self._values(frame, names)
            if values:
                self.emit(func_id, line, DEFINED, "defvalues", values)


def _limit(repr_limit) -> int:
    if not isinstance(repr_limit, int) or isinstance(repr_limit, bool) or repr_limit < 1:
        raise UpdateError(f"repr_limit is a number of characters (>= 1), not {repr_limit!r}")
    return repr_limit


def _options(echo: bool, repr_limit: int) -> str:
    return ("" if echo else ", echo=False") + ("" if repr_limit == DEFAULT_REPR_LIMIT else f", repr_limit={repr_limit}")


class FuncDebugger:
    @staticmethod
    def debug(targets, echo: bool = True, repr_limit: int = DEFAULT_REPR_LIMIT) -> Text:
        limit = _limit(repr_limit)
        found = resolve(targets, "debug")
        description = f"FD.debug({targets!r}{_options(echo, limit)})"
        return apply(
            "FuncDebugger", description, found,
            lambda t: _FuncValues(t.name, instrumentation.code_of(t.func), echo, limit),
        )


class LineDebugger:
    @staticmethod
    def debug(targets, lines=(), echo: bool = True, repr_limit: int = DEFAULT_REPR_LIMIT) -> Text:
        limit = _limit(repr_limit)
        asked = line_numbers(lines)
        found = resolve(targets, "debug")
        chosen = {id(t.func): chosen_lines(t, asked) if asked else None for t in found}
        description = f"LD.debug({targets!r}, {list(asked)!r}{_options(echo, limit)})"
        return apply(
            "LineDebugger", description, found,
            lambda t: _LineValues(t.name, instrumentation.code_of(t.func), chosen[id(t.func)], echo, limit),
        )


class VarDebugger:
    @staticmethod
    def debug(targets, variable, echo: bool = True, repr_limit: int = DEFAULT_REPR_LIMIT) -> Text:
        limit = _limit(repr_limit)
        names = (variable,) if isinstance(variable, str) else tuple(variable)
        if len(names) != 1 or not isinstance(names[0], str) or not names[0].isidentifier():
            raise UpdateError(f"VD.debug takes one variable name, like 'b', not {variable!r}")
        name = names[0]
        found = resolve(targets, "debug")
        have = [t for t in found if name in watchable(instrumentation.code_of(t.func))]
        if not have:
            why = only_attribute(name, [(t.name, instrumentation.code_of(t.func)) for t in found])
            raise UpdateError(why or f"no variable {name!r} in {', '.join(t.name for t in found)}")
        description = f"VD.debug({targets!r}, {name!r}{_options(echo, limit)})"
        return apply(
            "VarDebugger", description, have,
            lambda t: _LineValues(t.name, instrumentation.code_of(t.func), frozenset(), echo, limit, only=name),
        )


FD = FuncDebugger
LD = LineDebugger
VD = VarDebugger
