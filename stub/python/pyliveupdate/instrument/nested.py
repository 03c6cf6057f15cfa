"""Functions defined inside a profiled function: nested ``def``s and closures, lambdas, methods of classes
defined inside it, and (when asked) comprehensions and generator expressions.

They are found as code objects among the profiled function's constants (``co_consts``, recursively): that is
where every function object made from them, already or later, gets its code, so instrumenting the code object
(3.12+) or the constant the enclosing code makes its functions from (≤ 3.11) reaches them all.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

CO_NEWLOCALS = 0x02
COMPREHENSIONS = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})

FUNCTION = "function"
COMPREHENSION = "comprehension"
CLASS_BODY = "class body"
NOT_ASKED = "comprehension, not asked"


@dataclass(frozen=True)
class Options:
    """What an update reaches beyond the matched functions."""

    nested: bool = True
    comprehensions: bool = False


DEFAULT_OPTIONS = Options()


@dataclass
class Nested:
    """A code object defined inside a profiled one. ``role`` says what is done with it: FUNCTION and
    COMPREHENSION are profiled; CLASS_BODY and NOT_ASKED are only walked through (what they define is)."""

    code: types.CodeType
    qualname: str
    role: str
    children: list = field(default_factory=list)

    @property
    def profiled(self) -> bool:
        return self.role in (FUNCTION, COMPREHENSION)


def _is_function_code(code: types.CodeType) -> bool:
    # Functions (lambdas and comprehensions included) get a fresh namespace; class bodies do not.
    return bool(code.co_flags & CO_NEWLOCALS)


def _qualname(code: types.CodeType, parent: str, parent_is_function: bool) -> str:
    if sys.version_info >= (3, 11):
        return code.co_qualname
    # What CPython ≤ 3.10 computes at compile time (and gives MAKE_FUNCTION as a constant).
    return f"{parent}.<locals>.{code.co_name}" if parent_is_function else f"{parent}.{code.co_name}"


def tree(code: types.CodeType, qualname: str, options: Options) -> list:
    """The code objects defined in `code` (whose functions are named `qualname`), as a tree of `Nested`."""
    if not options.nested:
        return []
    out = []
    for const in code.co_consts:
        if not isinstance(const, types.CodeType):
            continue
        name = _qualname(const, qualname, _is_function_code(code))
        if not _is_function_code(const):
            role = CLASS_BODY
        elif const.co_name in COMPREHENSIONS:
            role = COMPREHENSION if options.comprehensions else NOT_ASKED
        else:
            role = FUNCTION
        out.append(Nested(const, name, role, tree(const, name, options)))
    return out


def walk(nodes: list):
    """Every node of a tree, parents before their children."""
    for node in nodes:
        yield node
        yield from walk(node.children)
