"""What LineProfiler and the debuggers share: resolving their targets as FP does, the lines and variables of
a function's code, and showing values (``repr`` cut at a configurable length, never raising)."""

from __future__ import annotations

import dis
import reprlib
import sys
import types

from .instrument import instrumentation, stub_work
from .instrument.nested import Options
from .instrument.targets import Target, TargetNotFound, find
from .text import Text
from .updates import LU, UpdateError

# Values are shown by repr() cut at this many characters (per update: `repr_limit=`). The trace format keeps at
# most 4096 bytes of a value whatever this is.
DEFAULT_REPR_LIMIT = 200
_NO_NESTED = Options(nested=False)


def pattern_list(patterns) -> list:
    """The target patterns as a list (one string, or an iterable of them); UpdateError for anything else."""
    if isinstance(patterns, str):
        return [patterns]
    try:
        return list(patterns)
    except TypeError:
        raise UpdateError(
            f"targets are a dotted name or a list of them ('__main__.bar', ['__main__.**', 'mod.*']), not {patterns!r}"
        ) from None


def resolve(patterns, what: str) -> list:
    """[Target] of the patterns (a string or a list of them), as FP takes them; UpdateError when none."""
    return resolve_reporting(patterns, what, _NO_NESTED)[0]


def resolve_reporting(patterns, what: str, options: Options) -> tuple:
    """([Target] sorted by name, [why a pattern found nothing]) of the patterns (a string or a list of them),
    each function once; UpdateError ("nothing to <what>: …") when none is found."""
    patterns = pattern_list(patterns)
    found: dict = {}
    missing = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise UpdateError(f"a target is a dotted name like '__main__.bar', not {pattern!r}")
        try:
            for target in find(pattern):
                found.setdefault(id(target.func), Target(target.name, target.func, options))
        except TargetNotFound as why:
            missing.append(str(why))
    if not found:
        raise UpdateError(f"nothing to {what}: " + ("; ".join(missing) or f"{patterns!r} matched no function"))
    return sorted(found.values(), key=lambda t: t.name), missing


def code_lines(code: types.CodeType) -> list:
    """The lines of a function that hold code, its `def` line left out."""
    lines = {line for _offset, line in dis.findlinestarts(code) if line is not None}
    if len(lines) > 1:
        lines.discard(code.co_firstlineno)
    return sorted(lines)


def _line_list(lines) -> str:
    out = []
    for line in lines:
        if out and out[-1][1] == line - 1:
            out[-1][1] = line
        else:
            out.append([line, line])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in out)


def chosen_lines(target: Target, lines) -> frozenset:
    """The asked lines of `target` (all of them when `lines` is empty); UpdateError naming a line that holds
    no code of the function."""
    have = code_lines(instrumentation.code_of(target.func))
    if not lines:
        return frozenset(have)
    bad = [line for line in lines if line not in have]
    if bad:
        raise UpdateError(
            f"{target.name} has no code on line {', '.join(map(str, bad))} (lines with code: {_line_list(have)})"
        )
    return frozenset(lines)


def line_numbers(lines) -> tuple:
    if lines is None:
        return ()
    if isinstance(lines, int) and not isinstance(lines, bool):
        return (lines,)
    try:
        out = tuple(lines)
    except TypeError:
        raise UpdateError(f"lines are line numbers like [11, 12], not {lines!r}") from None
    if not all(isinstance(line, int) and not isinstance(line, bool) and line > 0 for line in out):
        raise UpdateError(f"lines are line numbers like [11, 12], not {lines!r}")
    return out


_LOADS = {"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_GLOBAL", "LOAD_NAME",
          "LOAD_FAST_LOAD_FAST", "LOAD_FROM_DICT_OR_DEREF"}
_STORES = {"STORE_FAST", "STORE_DEREF", "STORE_GLOBAL", "STORE_NAME", "STORE_FAST_STORE_FAST"}


def _names(argval) -> tuple:
    if isinstance(argval, tuple):
        return tuple(a for a in argval if isinstance(a, str))
    return (argval,) if isinstance(argval, str) else ()


def reads_and_writes(code: types.CodeType) -> tuple:
    """({line: names read}, {line: names assigned}) of a function's own code, from its bytecode."""
    reads: dict = {}
    writes: dict = {}
    line = code.co_firstlineno
    for ins in dis.get_instructions(code):
        at = getattr(ins, "line_number", None) if sys.version_info >= (3, 13) else ins.starts_line
        if at:
            line = at
        op = ins.opname
        if op == "STORE_FAST_LOAD_FAST":  # 3.13: (stored, loaded)
            pair = _names(ins.argval)
            if len(pair) == 2:
                writes.setdefault(line, []).append(pair[0])
                reads.setdefault(line, []).append(pair[1])
            continue
        target = reads if op in _LOADS else writes if op in _STORES else None
        if target is None:
            continue
        for name in _names(ins.argval):
            names = target.setdefault(line, [])
            if name not in names and not name.startswith("."):
                names.append(name)
    return reads, writes


def variables(code: types.CodeType) -> set:
    return set(code.co_varnames) | set(code.co_cellvars) | set(code.co_freevars) | set(code.co_names)


def watchable(code: types.CodeType) -> set:
    """The variables (local, cell, free or global) the code reads or assigns: what VD and Instrument's
    `var_def`/`var_use` can see. An attribute or method name (`self.items`) is in `co_names` but never here."""
    reads, writes = reads_and_writes(code)
    return {name for names in (*reads.values(), *writes.values()) for name in names}


def only_attribute(name: str, targets: list) -> str | None:
    """When `name`, no variable of any of `targets` ([(target name, code)]), is an attribute or method name in
    some of them (`self.items`): what to say instead of "no variable"."""
    attribute = [t for t, code in targets if name in code.co_names]
    if not attribute:
        return None
    return (
        f"{name!r} is not a variable of {', '.join(attribute)}: there it is only an attribute or method name "
        f"(x.{name}); variables are the names a line reads or assigns, local or global"
    )


class _CutRepr(reprlib.Repr):
    """repr() that never runs long on big containers and never raises."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.maxstring = self.maxother = self.maxlong = max(8, limit)
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = 100
        self.maxarray = 100
        self.maxlevel = 6

    def repr_instance(self, obj, level):
        try:
            text = repr(obj)
        except BaseException as err:  # noqa: BLE001  (a repr that raises anything must not reach the host)
            return f"<repr failed: {type(err).__name__}: {err}>"[: self.maxother + 40]
        if not isinstance(text, str):
            return f"<repr failed: __repr__ returned {type(text).__name__}>"
        return text


_reprs: dict = {}
# Exactly these types (not subclasses, whose __repr__ may be anyone's) take the short path.
_PLAIN = frozenset({int, float, bool, type(None), complex, bytes})


def show(value, limit: int = DEFAULT_REPR_LIMIT) -> str:
    """`repr(value)`, cut at `limit` characters (then `...` is appended); `<repr failed: ...>` when it raises or
    recurses."""
    kind = type(value)
    if kind in _PLAIN or (kind is str and len(value) <= limit):
        try:
            text = repr(value)
        except Exception as err:  # noqa: BLE001  (an int past sys.get_int_max_str_digits())
            return f"<repr failed: {type(err).__name__}: {err}>"[: limit + 40]
        return text if len(text) <= limit else text[:limit] + "..."
    r = _reprs.get(limit)
    if r is None:
        r = _reprs[limit] = _CutRepr(limit)
    try:
        with stub_work():
            text = r.repr(value)
    except BaseException as err:  # noqa: BLE001
        text = f"<repr failed: {type(err).__name__}>"
    if len(text) > limit:
        text = text[:limit] + "..."
    return text


def apply(kind: str, description: str, targets: list, probe) -> Text:
    """Applies one update holding `targets` with frame probes made by `probe(target)`; its answer."""
    with stub_work(), instrumentation.batch():
        update = LU.add(kind, description, targets, probe=probe)
    if not update.active:
        reasons = "; ".join(f"{name}: {why}" for name, why in update.skipped)
        LU.revert(update.id)
        raise UpdateError(f"nothing applied: {reasons}")
    lines = [f"update {update.id}: {kind} on {len(update.active)} functions"]
    lines += [f"  {t.name}" for t in update.active]
    lines += [f"  skipped {name}: {why}" for name, why in update.skipped]
    return Text("\n".join(lines))
