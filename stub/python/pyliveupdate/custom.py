"""``Instrument``: custom probes with the original's API. ``Instrument(scope, {('line_after', (12, 14)): payload})``
runs ``payload`` at a join point of every function of ``scope`` (a pattern as FP takes them):

- ``'func_begin'`` / ``'func_end'``: at entry; before each return (not when the function raises).
- ``('line_before', lines)`` / ``('line_after', lines)``: before the line runs; after it ran (at the next line
  event or the frame's end). Lines as a tuple (a list inside a dict key is unhashable) or one int; none: every line.
- ``('var_def', names)`` / ``('var_use', names)``: after each line assigning one of the variables; before each
  line reading one.

The payload's parameters bind by name: ``_parameters`` (dict of the arguments at entry), ``_returnvalues``
(the return value), ``_righthands`` (dict of the values the line reads), ``_lefthands`` (dict of the names the
line assigned), ``_variable`` (dict of the watched variables); any other name is the target frame's local (or
global) of that name, which must exist in every target. A payload that raises is reported once on stderr with
its traceback and then skipped; the host's call goes on as if no payload existed.
"""

from __future__ import annotations

import inspect
import sys
import threading
import traceback

from .instrument import frames, instrumentation
from .probing import (
    chosen_lines, code_lines, line_numbers, only_attribute, reads_and_writes, resolve, variables, watchable,
)
from .text import Text
from .updates import LU, UpdateError

BIND_NAMES = ("_parameters", "_returnvalues", "_righthands", "_lefthands", "_variable")
JOIN_POINTS = ("func_begin", "func_end", "line_before", "line_after", "var_def", "var_use")
_MISSING = object()


def _value(frame, name: str):
    value = frame.f_locals.get(name, _MISSING)
    if value is _MISSING:
        value = frame.f_globals.get(name, _MISSING)
    if value is _MISSING:
        value = frame.f_builtins.get(name) if isinstance(frame.f_builtins, dict) else None
    return value


class _Payload:
    """One payload at one join point of one function."""

    def __init__(self, where: str, func, target_name: str) -> None:
        self.where = where
        self.func = func
        self.target_name = target_name
        self.params = list(inspect.signature(func).parameters)
        self.failed = False
        self.lock = threading.Lock()

    def run(self, frame, special: dict) -> None:
        if self.failed:
            return
        try:
            kwargs = {p: special[p] if p in special else _value(frame, p) for p in self.params}
            self.func(**kwargs)
        except Exception:  # noqa: BLE001  (reported once, then skipped: the host goes on)
            with self.lock:
                if self.failed:
                    return
                self.failed = True
            try:
                sys.stderr.write(
                    f"pylu: payload {getattr(self.func, '__qualname__', self.func)!r} at {self.where} of "
                    f"{self.target_name} raised; it is skipped from now on:\n{traceback.format_exc()}"
                )
            except Exception:  # noqa: BLE001
                pass


class _CustomProbe(frames.Probe):
    def __init__(self, target, spec: list) -> None:
        # Lines chosen by number are checked against the function's code once, here; every line (no lines
        # given) and variables are looked up in whatever code the function runs (`for_code`, Redefine).
        self.points = []
        for (point, arg), func in spec:
            if point in ("line_before", "line_after") and arg:
                arg = chosen_lines(target, arg)
            self.points.append((point, arg, _Payload(point, func, target.name)))
        self._build(instrumentation.code_of(target.func))

    def for_code(self, code) -> _CustomProbe:
        probe = object.__new__(_CustomProbe)
        probe.points = self.points  # the same payloads: one that failed stays skipped
        probe._build(code)
        return probe

    def _build(self, code) -> None:
        reads, writes = reads_and_writes(code)
        n = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
        self.params = code.co_varnames[:n]
        self.begin, self.end_ = [], []
        self.before_at: dict = {}
        self.after_at: dict = {}
        for point, arg, payload in self.points:
            if point == "func_begin":
                self.begin.append(payload)
            elif point == "func_end":
                self.end_.append(payload)
            elif point in ("line_before", "line_after"):
                table = self.before_at if point == "line_before" else self.after_at
                source = reads if point == "line_before" else writes
                for line in arg or code_lines(code):
                    table.setdefault(line, []).append((payload, None, source.get(line, [])))
            else:
                source = writes if point == "var_def" else reads
                table = self.after_at if point == "var_def" else self.before_at
                for line, names in source.items():
                    hit = [n for n in names if n in arg]
                    if hit:
                        table.setdefault(line, []).append((payload, hit, hit))
        self.wants_start = bool(self.begin)
        self.wants_end = bool(self.end_)
        self.watched_lines = frozenset(self.before_at) | frozenset(self.after_at)

    def start(self, frame, func_id: int) -> None:
        special = {"_parameters": {p: frame.f_locals.get(p) for p in self.params}}
        for payload in self.begin:
            payload.run(frame, special)

    def end(self, frame, func_id: int, value, raised: bool) -> None:
        if raised:
            return
        for payload in self.end_:
            payload.run(frame, {"_returnvalues": value})

    @staticmethod
    def _dict(frame, names) -> dict:
        out = {}
        for name in names:
            value = _value(frame, name)
            if value is not _MISSING:
                out[name] = value
        return out

    def before(self, frame, func_id: int, line: int) -> None:
        for payload, var, names in self.before_at.get(line, ()):
            values = self._dict(frame, names)
            payload.run(frame, {"_righthands": values, "_variable": values if var else values})

    def after(self, frame, func_id: int, line: int) -> None:
        for payload, var, names in self.after_at.get(line, ()):
            values = self._dict(frame, names)
            payload.run(frame, {"_lefthands": values, "_variable": values})


def _join_point(key) -> tuple:
    """('func_begin', None), ('line_after', (12, 14)), ('var_def', ('b',)), ... from the original's keys."""
    if isinstance(key, str):
        key = (key,)
    if not isinstance(key, tuple) or not key or key[0] not in JOIN_POINTS:
        raise UpdateError(f"join point {key!r}: one of {', '.join(JOIN_POINTS)}, e.g. ('line_after', (12, 14))")
    point = key[0]
    arg = key[1] if len(key) > 1 else ()
    if point in ("line_before", "line_after"):
        return point, line_numbers(arg)
    if point in ("var_def", "var_use"):
        names = (arg,) if isinstance(arg, str) else tuple(arg or ())
        if not names or not all(isinstance(n, str) for n in names):
            raise UpdateError(f"join point {key!r} names its variables, e.g. ('var_def', ('b',))")
        return point, names
    return point, None


class Instrument:
    """A custom modification: apply it with ``UpdateManager.apply_update(update)`` (or ``LU.apply_update``)."""

    kind = "Instrument"

    def __init__(self, target_scope, jointpoint_payload: dict) -> None:
        if not isinstance(jointpoint_payload, dict) or not jointpoint_payload:
            raise UpdateError("Instrument takes {join point: payload function}, e.g. {('func_begin',): f}")
        self.scope = target_scope
        self.spec = []
        for key, payload in jointpoint_payload.items():
            if not callable(payload):
                raise UpdateError(f"the payload of {key!r} is not a function: {payload!r}")
            try:
                inspect.signature(payload)
            except (TypeError, ValueError):
                raise UpdateError(f"the payload of {key!r} has no signature to bind: {payload!r}") from None
            self.spec.append((_join_point(key), payload))
        self.targets = resolve(target_scope, "instrument")
        for target in self.targets:
            code = instrumentation.code_of(target.func)
            have = variables(code)
            seen = watchable(code)
            for (point, arg), payload in self.spec:
                if point in ("line_before", "line_after") and arg:
                    chosen_lines(target, arg)
                if point in ("var_def", "var_use"):
                    missing = [n for n in arg if n not in seen]
                    if missing:
                        why = only_attribute(missing[0], [(target.name, code)])
                        raise UpdateError(why or f"{target.name} has no variable {', '.join(map(repr, missing))}")
                unknown = [p for p in inspect.signature(payload).parameters if p not in BIND_NAMES and p not in have
                           and p not in target.func.__globals__]
                if unknown:
                    raise UpdateError(
                        f"payload {payload.__qualname__} asks for {', '.join(map(repr, unknown))}, which "
                        f"{target.name} does not have"
                    )
        self.update = None

    def description(self) -> str:
        points = ", ".join(f"{p}{'' if a is None else ' ' + repr(a)}" for (p, a), _f in self.spec)
        return f"Instrument({self.scope!r}, {points})"

    def apply_to(self, manager) -> Text:
        from .probing import apply

        spec = self.spec
        return apply(self.kind, self.description(), self.targets, lambda t: _CustomProbe(t, spec))

    def __repr__(self) -> str:
        return f"<{self.description()}>"


def apply_update(update) -> Text:
    """The original's ``UpdateManager.apply_update(update)``."""
    apply_to = getattr(update, "apply_to", None)
    if apply_to is None:
        raise UpdateError(f"apply_update takes an Instrument or a Redefine, not {update!r}")
    return apply_to(LU)
