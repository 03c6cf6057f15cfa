"""``Redefine``: hot-fixing functions in place, with the original's API. ``Redefine('module1', predefine,
{'module1.foo': new_foo})`` first runs the body of ``predefine`` (typically a few imports) in the module's
namespace, then gives each target the new function's code: the same function object, so every reference to it
(from-imports, URL tables, decorators' ``__wrapped__``) runs the new code. A function profiled or debugged
stays so with its new code, and the updates revert in any order: each Redefine remembers the code it replaced,
and the function runs the code of the newest Redefine still applied (its original code when none is).

A new function whose free variables differ from the target's (its closure cannot be carried over) is refused
with the reason, before anything changes.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import threading
import types

from .instrument import instrumentation, stub_work
from .instrument.targets import TargetNotFound, find
from .text import Text
from .updates import LU, UpdateError

_lock = threading.RLock()
# id(func) -> (func, original code, [(update id, new code)]): the function runs the last one's code.
_stacks: dict = {}


def _set(func: types.FunctionType) -> None:
    _func, original, layers = _stacks[id(func)]
    instrumentation.replace_code(func, layers[-1][1] if layers else original)
    if not layers:
        del _stacks[id(func)]


def _predefine_code(predefine, module_name: str):
    """The statements of `predefine`'s body, compiled to run in the module's namespace (so its imports bind
    names of the module, as the original did)."""
    try:
        source = textwrap.dedent(inspect.getsource(predefine))
    except (OSError, TypeError):
        raise UpdateError(f"the source of predefine {predefine.__qualname__} is not available to run its body") from None
    tree = ast.parse(source)
    fdef = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if fdef is None:
        raise UpdateError(f"predefine {predefine.__qualname__} is not a function definition")
    body = ast.Module(body=fdef.body, type_ignores=[])
    return compile(body, f"<predefine of {module_name}>", "exec", dont_inherit=True)


class Redefine:
    kind = "Redefine"

    def __init__(self, module, predefine, func_defines: dict) -> None:
        if not isinstance(module, str) or module not in sys.modules:
            raise UpdateError(f"no loaded module {module!r}")
        self.module = module
        if predefine is not None and not isinstance(predefine, types.FunctionType):
            raise UpdateError(f"predefine is a function whose body runs in {module} (or None), not {predefine!r}")
        self.predefine = _predefine_code(predefine, module) if predefine is not None else None
        if not isinstance(func_defines, dict) or not func_defines:
            raise UpdateError("Redefine takes {'module.function': new_function}")
        self.pairs = []
        for name, new in func_defines.items():
            if not isinstance(new, types.FunctionType):
                raise UpdateError(f"the new definition of {name} is not a function: {new!r}")
            try:
                found = find(name)
            except TargetNotFound as why:
                raise UpdateError(str(why)) from None
            if len(found) != 1:
                raise UpdateError(f"{name!r} matches {len(found)} functions; Redefine takes one function per name")
            target = found[0].func
            old_free = instrumentation.code_of(target).co_freevars
            if new.__code__.co_freevars != old_free:
                raise UpdateError(
                    f"cannot redefine {name}: the new function's free variables {new.__code__.co_freevars} are not "
                    f"the closure of the old one {old_free}"
                )
            self.pairs.append((name, target, new.__code__))
        self.update = None

    def description(self) -> str:
        return f"Redefine({self.module!r}, {', '.join(name for name, _t, _c in self.pairs)})"

    def __repr__(self) -> str:
        return f"<{self.description()}>"

    def apply_to(self, manager) -> Text:
        if self.predefine is not None:
            try:
                with stub_work():
                    exec(self.predefine, vars(sys.modules[self.module]))
            except Exception as err:
                raise UpdateError(f"predefine failed, nothing redefined: {type(err).__name__}: {err}") from None
        update = manager.add_custom(
            self.kind, self.description(), self._apply, self._revert, [name for name, _t, _c in self.pairs]
        )
        return Text(f"update {update.id}: redefined {', '.join(name for name, _t, _c in self.pairs)}")

    def _apply(self, update_id: int) -> None:
        with _lock:
            for _name, func, code in self.pairs:
                entry = _stacks.setdefault(id(func), (func, instrumentation.code_of(func), []))
                entry[2].append((update_id, code))
                _set(func)

    def _revert(self, update_id: int) -> None:
        with _lock:
            for _name, func, _code in self.pairs:
                entry = _stacks.get(id(func))
                if entry is None:
                    continue
                entry[2][:] = [(uid, c) for uid, c in entry[2] if uid != update_id]
                _set(func)


def patch(path: str) -> Text:
    """Runs a patch file (``patch('patch.py')``): its ``UpdateManager.apply_update(...)`` calls apply their
    updates; its answer lists them."""
    try:
        with open(path) as f:
            source = f.read()
    except OSError as err:
        raise UpdateError(f"cannot read patch {path}: {err.strerror}") from None
    before = LU.next_id()
    namespace = {"__name__": "__pylu_patch__", "__file__": path}
    exec(compile(source, path, "exec", dont_inherit=True), namespace)
    applied = [u for u in LU.updates_since(before)]
    lines = [f"patch {path}: {len(applied)} updates applied"] + [f"  update {u.id}: {u.description}" for u in applied]
    return Text("\n".join(lines))
