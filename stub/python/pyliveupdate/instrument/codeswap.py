"""Python ≤ 3.11: instrumentation by swapping ``__code__`` in place, as the original did, so every reference to
the function (from-imports, routing tables, bound methods, decorators' closures) sees the change.

The swapped-in code is a trampoline with the original's exact parameter list (so ``__defaults__`` and
``__kwdefaults__`` of the real function still bind the arguments) that records ``enter``, calls a private copy
of the original function (same code object, globals and closure cells) and records ``exit``. Its probes and
the copy are constants of the trampoline's code object (``LOAD_CONST``: no global lookup, nothing added to the
module's namespace). Revert assigns the very same original code object back.

Trampoline bodies are compiled once per parameter shape and specialised per function with ``code.replace``,
which is what keeps applying 1,000 functions in milliseconds.
"""

from __future__ import annotations

import gc
import sys
import types
from dataclasses import dataclass

from .. import _native
from .generators import RECORDS, drive_for, first_asend, set_live

CO_VARARGS = 0x04
CO_VARKEYWORDS = 0x08
CO_GENERATOR = 0x20
CO_COROUTINE = 0x80
CO_ITERABLE_COROUTINE = 0x100
CO_ASYNC_GENERATOR = 0x200

_FUNC_ID_SENTINEL = 987_654_321
_RESERVED_PREFIX = "_pylu_"

_BODIES = {
    "plain": """
    _pylu_enter_ = 'PYLU_ENTER'
    _pylu_orig_ = 'PYLU_ORIG'
    _pylu_enter_({sentinel})
    try:
        _pylu_result_ = _pylu_orig_({args})
    except:
        _pylu_raised_ = 'PYLU_EXIT_RAISED'
        _pylu_raised_({sentinel})
        raise
    _pylu_exit_ = 'PYLU_EXIT'
    _pylu_exit_({sentinel})
    return _pylu_result_
""",
    "generator": """
    _pylu_drive_ = 'PYLU_DRIVE'
    _pylu_orig_ = 'PYLU_ORIG'
    return (yield from _pylu_drive_({sentinel}, _pylu_orig_({args})))
""",
    "coroutine": """
    _pylu_drive_ = 'PYLU_DRIVE'
    _pylu_orig_ = 'PYLU_ORIG'
    return await _pylu_drive_({sentinel}, _pylu_orig_({args}))
""",
    # There is no `yield from` for async generators: the protocol is forwarded by hand, each of the original's
    # awaitables run by `astep` (generators.py), which records around every step of its frame.
    "async_generator": """
    _pylu_drive_ = 'PYLU_DRIVE'
    _pylu_first_ = 'PYLU_FIRST_ASEND'
    _pylu_orig_ = 'PYLU_ORIG'
    _pylu_agen_ = _pylu_orig_({args})
    _pylu_started_ = [False]
    _pylu_next_ = _pylu_first_(_pylu_agen_)
    while True:
        try:
            _pylu_value_ = await _pylu_drive_({sentinel}, _pylu_started_, _pylu_next_, False)
        except StopAsyncIteration:
            return
        try:
            _pylu_sent_ = yield _pylu_value_
        except GeneratorExit:
            await _pylu_drive_({sentinel}, _pylu_started_, _pylu_agen_.aclose(), True)
            raise
        except BaseException as _pylu_thrown_:
            _pylu_next_ = _pylu_agen_.athrow(_pylu_thrown_)
        else:
            _pylu_next_ = _pylu_agen_.asend(_pylu_sent_)
""",
}


class NotInstrumentable(Exception):
    """This function cannot be instrumented here; the message says why."""


def kind_of(code: types.CodeType) -> str:
    if code.co_flags & CO_ASYNC_GENERATOR:
        return "async_generator"
    if code.co_flags & CO_COROUTINE:
        return "coroutine"
    if code.co_flags & CO_GENERATOR:
        return "generator"
    return "plain"


def _parameters(code: types.CodeType):
    """(parameter list source, call arguments source) reproducing the original's signature."""
    n_pos, n_posonly, n_kwonly = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    names = code.co_varnames
    # A comprehension's one argument is `.0`, passed positionally by the code that makes it: any name will do.
    pos = list(names[:n_pos])
    renamed = set()
    for i, name in enumerate(pos):
        if not name.isidentifier():
            pos[i] = f"{_RESERVED_PREFIX}arg{i}_"
            renamed.add(pos[i])
    kwonly = list(names[n_pos : n_pos + n_kwonly])
    at = n_pos + n_kwonly
    varargs = varkw = None
    if code.co_flags & CO_VARARGS:
        varargs = names[at]
        at += 1
    if code.co_flags & CO_VARKEYWORDS:
        varkw = names[at]
    every = pos + kwonly + [n for n in (varargs, varkw) if n]
    if any((n.startswith(_RESERVED_PREFIX) and n not in renamed) or not n.isidentifier() for n in every):
        raise NotInstrumentable(f"parameter names {every} clash with the trampoline's")
    params = []
    for i, name in enumerate(pos):
        params.append(name)
        if n_posonly and i == n_posonly - 1:
            params.append("/")
    if varargs:
        params.append("*" + varargs)
    elif kwonly:
        params.append("*")
    params += kwonly
    if varkw:
        params.append("**" + varkw)
    args = pos + (["*" + varargs] if varargs else []) + [f"{k}={k}" for k in kwonly] + (["**" + varkw] if varkw else [])
    return ", ".join(params), ", ".join(args)


_templates: dict = {}


def _template(code: types.CodeType, kind: str) -> types.CodeType:
    params, args = _parameters(code)
    n_free = len(code.co_freevars)
    key = (kind, params, n_free)
    found = _templates.get(key)
    if found is not None:
        return found
    # The trampoline must have as many free variables as the original has closure cells (CPython refuses the
    # __code__ assignment otherwise); declaring them in an enclosing function makes the compiler emit the
    # prologue (COPY_FREE_VARS on 3.11) that frame introspection relies on.
    free = [f"_pylu_free{i}_" for i in range(n_free)]
    outer = "def _pylu_outer_():\n"
    outer += "".join(f"    {name} = None\n" for name in free)
    keyword = "def" if kind in ("plain", "generator") else "async def"
    body = _BODIES[kind].format(sentinel=_FUNC_ID_SENTINEL, args=args)
    if free:
        body = f"\n    if False: ({', '.join(free)},)" + body
    inner = f"    {keyword} _pylu_trampoline_({params}):" + body.replace("\n", "\n    ")
    source = outer + inner + "\n    return _pylu_trampoline_\n"
    module_code = compile(source, "<pylu trampoline>", "exec", dont_inherit=True)
    outer_code = next(c for c in module_code.co_consts if isinstance(c, types.CodeType))
    tramp = next(c for c in outer_code.co_consts if isinstance(c, types.CodeType))
    if len(tramp.co_freevars) != n_free:
        raise NotInstrumentable("could not build a trampoline with the function's closure")
    _templates[key] = tramp
    return tramp


def _nested_template(code: types.CodeType, kind: str) -> types.CodeType:
    """The trampoline of a nested code object: it has no function object of its own to copy (new closures are
    made from it by the enclosing code), so it makes the original's function itself, per call, from a nested
    definition that closes over the same names: the trampoline's free variables are the original's, so that
    function gets the very cells the enclosing code gave the trampoline."""
    params, args = _parameters(code)
    free = list(code.co_freevars)
    if any(n.startswith(_RESERVED_PREFIX) for n in free):
        raise NotInstrumentable(f"free variable names {free} clash with the trampoline's")
    key = ("nested", kind, params, tuple(free))
    found = _templates.get(key)
    if found is not None:
        return found
    outer = "def _pylu_outer_():\n" + "".join(f"    {name} = None\n" for name in free)
    keyword = "def" if kind in ("plain", "generator") else "async def"
    placeholder = f"def _pylu_orig_(): return ({', '.join(free)},)" if free else "def _pylu_orig_(): pass"
    body = _BODIES[kind].format(sentinel=_FUNC_ID_SENTINEL, args=args).replace("_pylu_orig_ = 'PYLU_ORIG'", placeholder)
    inner = f"    {keyword} _pylu_trampoline_({params}):" + body.replace("\n", "\n    ")
    source = outer + inner + "\n    return _pylu_trampoline_\n"
    module_code = compile(source, "<pylu trampoline>", "exec", dont_inherit=True)
    outer_code = next(c for c in module_code.co_consts if isinstance(c, types.CodeType))
    tramp = next(c for c in outer_code.co_consts if isinstance(c, types.CodeType))
    orig = next(c for c in tramp.co_consts if isinstance(c, types.CodeType))
    if tramp.co_freevars != code.co_freevars or orig.co_freevars != code.co_freevars:
        raise NotInstrumentable("could not build a trampoline with the function's closure")
    _templates[key] = tramp
    return tramp


def _copy_of(func: types.FunctionType, code: types.CodeType) -> types.FunctionType:
    """The original function as a separate object the trampoline calls (the real one now runs the trampoline)."""
    copy = types.FunctionType(code, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    copy.__module__ = func.__module__
    return copy


def _specialise(
    tramp: types.CodeType, original: types.CodeType, kind: str, func_id: int, values: dict, orig_code=None
) -> types.CodeType:
    """`tramp` with its placeholders (names in `values`, the function id, the nested `_pylu_orig_` code) replaced."""
    values = {
        "PYLU_ENTER": _native.enter,
        "PYLU_EXIT": _native.exit,
        "PYLU_EXIT_RAISED": _native.exit_raised,
        "PYLU_DRIVE": drive_for(RECORDS, kind),
        "PYLU_FIRST_ASEND": first_asend,
        **values,  # the frame probes' trampolines bring their own entry and exits
    }
    consts = tuple(
        values[c] if type(c) is str and c in values
        else func_id if type(c) is int and c == _FUNC_ID_SENTINEL
        else orig_code if type(c) is types.CodeType and c.co_name == "_pylu_orig_"
        else c
        for c in tramp.co_consts
    )
    changes = {
        "co_consts": consts,
        "co_name": original.co_name,
        "co_filename": original.co_filename,
        "co_firstlineno": original.co_firstlineno,
        "co_flags": tramp.co_flags | (original.co_flags & CO_ITERABLE_COROUTINE),
    }
    if sys.version_info >= (3, 11):
        changes["co_qualname"] = original.co_qualname
    return tramp.replace(**changes)


def build_trampoline(func: types.FunctionType, func_id: int, body: types.CodeType | None = None) -> types.CodeType:
    """The code swapped into `func`: records around a call of a copy of `func` running `body` (its original
    code, or that code with its nested functions' constants rewritten)."""
    original = func.__code__
    kind = kind_of(original)
    return _specialise(_template(original, kind), original, kind, func_id, {"PYLU_ORIG": _copy_of(func, body or original)})


def build_nested_trampoline(body: types.CodeType, func_id: int, qualname: str) -> types.CodeType:
    """The code the enclosing code makes its nested functions from instead of `body`."""
    kind = kind_of(body)
    tramp = _nested_template(body, kind)
    # ≤ 3.10 give MAKE_FUNCTION the qualified name as a constant: the per-call function is named as the original.
    placeholder_name = "_pylu_outer_.<locals>._pylu_trampoline_.<locals>._pylu_orig_"
    return _specialise(tramp, body, kind, func_id, {placeholder_name: qualname}, orig_code=body)


def rewrite_nested(code: types.CodeType, nodes: list, ids: dict, swaps: dict, skipped: list) -> types.CodeType:
    """`code` with each profiled nested code object among its constants (recursively) replaced by its
    trampoline. `ids`: id(nested code) → function id. Fills `swaps` (id(original) → (original, replacement))
    and `skipped` ((qualname, why))."""
    replaced = {}
    for node in nodes:
        new = rewrite_nested(node.code, node.children, ids, swaps, skipped)
        if node.profiled:
            try:
                new = build_nested_trampoline(new, ids[id(node.code)], node.qualname)
            except NotInstrumentable as why:
                skipped.append((node.qualname, str(why)))
        if new is not node.code:
            replaced[id(node.code)] = new
            swaps[id(node.code)] = (node.code, new)
    if not replaced:
        return code
    consts = tuple(replaced.get(id(c), c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_consts=consts)


def retarget_functions(swaps: dict) -> int:
    """Every live function object whose code is a key's original gets the replacement (closures made before
    the update, or during it, by code that is being replaced). Returns how many. One pass of the garbage
    collector's referrer search over the objects it tracks (every function is one; ~1 ms per 100,000 objects):
    only done when nested code objects change, once per batch."""
    if not swaps:
        return 0
    done = 0
    function_type = types.FunctionType
    for obj in gc.get_referrers(*(old for old, _new in swaps.values())):
        if type(obj) is function_type:
            pair = swaps.get(id(obj.__code__))
            if pair is not None and obj.__code__ is pair[0]:
                try:
                    obj.__code__ = pair[1]
                    done += 1
                except ValueError:  # a closure of another shape; cannot happen for code made by the same def
                    pass
    return done


@dataclass
class SwappedCode:
    func: types.FunctionType
    original: types.CodeType
    trampoline: types.CodeType
    swaps: dict  # id(nested original) -> (nested original, replacement)
    func_ids: list  # the function's and its nested ones': their generators record until the detach
    copy: types.FunctionType | None = None  # the private copy the trampoline calls (runs the body)


class CodeSwapBackend:
    name = "code swap"

    def __init__(self) -> None:
        # id(replacement) of every nested code object currently swapped in: a function running one is already
        # profiled as part of its enclosing function.
        self._replacements: set = set()
        # Inside a batch (many functions applied at once), the closures are looked for once, at its end.
        self._pending: dict | None = None

    def begin_batch(self) -> bool:
        """Starts a batch unless one is open; returns whether it did."""
        if self._pending is not None:
            return False
        self._pending = {}
        return True

    def end_batch(self) -> None:
        pending, self._pending = self._pending, None
        retarget_functions(pending or {})

    def _retarget(self, swaps: dict) -> None:
        if self._pending is None:
            retarget_functions(swaps)
            return
        for old, new in swaps.values():
            # Undoing a swap still pending (revert inside the batch that applied it) cancels it.
            if self._pending.pop(id(new), None) is None:
                self._pending[id(old)] = (old, new)

    def key(self, func: types.FunctionType) -> int:
        return id(func)

    def attach(self, func: types.FunctionType, func_id: int, nodes: list = (), ids: dict | None = None):
        """Swaps the trampoline in; returns (handle, skipped nested functions)."""
        original = func.__code__
        if id(original) in self._replacements:
            raise NotInstrumentable("already profiled as a function nested in a profiled function")
        swaps: dict = {}
        skipped: list = []
        body = rewrite_nested(original, list(nodes), ids or {}, swaps, skipped) if nodes else original
        trampoline = build_trampoline(func, func_id, body)
        func_ids = [func_id, *(ids or {}).values()]
        set_live(func_ids, True)
        func.__code__ = trampoline
        if swaps:
            # After the swap: closures the new code makes are already right; those made before get the new code.
            self._retarget(swaps)
            self._replacements.update(id(new) for _old, new in swaps.values())
        copy = next(c for c in trampoline.co_consts if type(c) is types.FunctionType and c.__code__ is body)
        return SwappedCode(func, original, trampoline, swaps, func_ids, copy), skipped

    def detach(self, handle: SwappedCode) -> None:
        # Only undo our own change: if something else replaced the code since, leave it alone.
        if handle.func.__code__ is handle.trampoline:
            handle.func.__code__ = handle.original
        set_live(handle.func_ids, False)
        if handle.swaps:
            back = {id(new): (new, old) for old, new in handle.swaps.values()}
            self._retarget(back)
            self._replacements.difference_update(back)

    def original_code(self, func: types.FunctionType) -> types.CodeType:
        return func.__code__

    def body_code(self, handle: SwappedCode) -> types.CodeType:
        """The code the trampoline's private copy runs (the original, or it with nested functions rewritten):
        the code whose frames the frame probes watch."""
        return handle.copy.__code__

    def set_traced(self, handle: SwappedCode, func_id: int, entry) -> None:
        """Swaps in a trampoline whose entry and exits are `entry` (enter, exit, exit_raised, suspend, resume), or
        FP's own with None; one atomic `__code__` assignment, so a concurrent call runs one or the other, never half."""
        original = handle.original
        kind = kind_of(original)
        values = {"PYLU_ORIG": handle.copy}
        if entry is not None:
            values.update(PYLU_ENTER=entry[0], PYLU_EXIT=entry[1], PYLU_EXIT_RAISED=entry[2])
            # A generator's or coroutine's drive runs every step of the original's frame inside the hooks.
            values["PYLU_DRIVE"] = drive_for(tuple(entry), kind)
        new = _specialise(_template(original, kind), original, kind, func_id, values)
        if handle.func.__code__ is handle.trampoline:
            handle.func.__code__ = new
        handle.trampoline = new

