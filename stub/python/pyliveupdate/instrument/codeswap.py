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

import sys
import types
from dataclasses import dataclass

from .. import _native
from .generators import drive, drive_awaitable

CO_VARARGS = 0x04
CO_VARKEYWORDS = 0x08
CO_GENERATOR = 0x20
CO_COROUTINE = 0x80
CO_ITERABLE_COROUTINE = 0x100
CO_ASYNC_GENERATOR = 0x200

_FUNC_ID_SENTINEL = 987_654_321
_PLACEHOLDERS = ("PYLU_ENTER", "PYLU_EXIT", "PYLU_EXIT_RAISED", "PYLU_ORIG", "PYLU_DRIVE")
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
}


class NotInstrumentable(Exception):
    """This function cannot be instrumented here; the message says why."""


def kind_of(code: types.CodeType) -> str:
    if code.co_flags & CO_ASYNC_GENERATOR:
        raise NotInstrumentable("async generator functions are recorded on Python 3.12+ only")
    if code.co_flags & CO_COROUTINE:
        return "coroutine"
    if code.co_flags & CO_GENERATOR:
        return "generator"
    return "plain"


def _parameters(code: types.CodeType):
    """(parameter list source, call arguments source) reproducing the original's signature."""
    n_pos, n_posonly, n_kwonly = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    names = code.co_varnames
    pos = list(names[:n_pos])
    kwonly = list(names[n_pos : n_pos + n_kwonly])
    at = n_pos + n_kwonly
    varargs = varkw = None
    if code.co_flags & CO_VARARGS:
        varargs = names[at]
        at += 1
    if code.co_flags & CO_VARKEYWORDS:
        varkw = names[at]
    every = pos + kwonly + [n for n in (varargs, varkw) if n]
    if any(n.startswith(_RESERVED_PREFIX) or not n.isidentifier() for n in every):
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
    keyword = "async def" if kind == "coroutine" else "def"
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


def _copy_of(func: types.FunctionType) -> types.FunctionType:
    """The original function as a separate object the trampoline calls (the real one now runs the trampoline)."""
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    copy.__module__ = func.__module__
    return copy


def build_trampoline(func: types.FunctionType, func_id: int) -> types.CodeType:
    original = func.__code__
    kind = kind_of(original)
    tramp = _template(original, kind)
    values = {
        "PYLU_ENTER": _native.enter,
        "PYLU_EXIT": _native.exit,
        "PYLU_EXIT_RAISED": _native.exit_raised,
        "PYLU_ORIG": _copy_of(func),
        "PYLU_DRIVE": drive_awaitable if kind == "coroutine" else drive,
    }
    consts = tuple(
        values[c] if type(c) is str and c in values else func_id if type(c) is int and c == _FUNC_ID_SENTINEL else c
        for c in tramp.co_consts
    )
    changes = dict(
        co_consts=consts,
        co_name=original.co_name,
        co_filename=original.co_filename,
        co_firstlineno=original.co_firstlineno,
        co_flags=tramp.co_flags | (original.co_flags & CO_ITERABLE_COROUTINE),
    )
    if sys.version_info >= (3, 11):
        changes["co_qualname"] = original.co_qualname
    return tramp.replace(**changes)


@dataclass
class SwappedCode:
    func: types.FunctionType
    original: types.CodeType
    trampoline: types.CodeType


class CodeSwapBackend:
    name = "code swap"

    def key(self, func: types.FunctionType) -> int:
        return id(func)

    def attach(self, func: types.FunctionType, func_id: int) -> SwappedCode:
        original = func.__code__
        trampoline = build_trampoline(func, func_id)
        func.__code__ = trampoline
        return SwappedCode(func, original, trampoline)

    def detach(self, handle: SwappedCode) -> None:
        # Only undo our own change: if something else replaced the code since, leave it alone.
        if handle.func.__code__ is handle.trampoline:
            handle.func.__code__ = handle.original

    def original_code(self, func: types.FunctionType) -> types.CodeType:
        return func.__code__
