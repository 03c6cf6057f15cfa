"""Resolving target patterns (``'__main__.**'``, ``'pkg.mod.Class.method'``, ``'module1.*'``) to functions, with
the original pyliveupdate's rules: names are dotted paths from a module in ``sys.modules``; ``*`` matches every
member one level down; ``**`` matches everything below, recursively, but only what is defined in the target
module (for a package: in modules under its directory), and a leading ``*``/``**`` covers the modules under the
program's directory. Classes expand to their methods (classmethods, staticmethods, properties and nested
classes included); decorated functions resolve to the original they wrap (``__wrapped__``), which is the
function whose code every reference ends up running.
"""

from __future__ import annotations

import inspect
import os
import reprlib
import sys
import types
from dataclasses import dataclass

from .nested import DEFAULT_OPTIONS, Options


@dataclass(frozen=True)
class Target:
    name: str
    func: types.FunctionType
    options: Options = DEFAULT_OPTIONS  # what is reached beyond the function (its nested functions, ...)


class TargetNotFound(LookupError):
    pass


def _unwrap(obj):
    """The plain Python function behind a method, classmethod, staticmethod or decorator, or None."""
    for _ in range(100):  # a __wrapped__ cycle must not hang the stub
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        elif isinstance(obj, types.MethodType):
            obj = obj.__func__
        elif getattr(obj, "__wrapped__", None) is not None and not isinstance(obj, type):
            obj = obj.__wrapped__
        else:
            break
    return obj if isinstance(obj, types.FunctionType) else None


def _module_root(module) -> str | None:
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = os.path.realpath(file)
    return os.path.dirname(path) if os.path.basename(path).startswith("__init__.") else path


def program_dir() -> str:
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    return os.path.dirname(os.path.realpath(file)) if file else os.getcwd()


class _Walk:
    def __init__(self, root: str | None, module_name: str) -> None:
        self.root = root
        self.module_name = module_name
        self.seen: set = set()
        self.found: dict = {}

    def owned(self, obj) -> bool:
        """Defined in the target (not imported into it from elsewhere)."""
        obj = _unwrap(obj) or obj
        if inspect.ismodule(obj):
            if obj.__name__ == "__main__":
                return True
            file = getattr(obj, "__file__", None)
            return bool(file and self.root and os.path.realpath(file).startswith(self.root))
        mod_name = getattr(obj, "__module__", None)
        if mod_name == self.module_name:
            return True
        mod = sys.modules.get(mod_name) if isinstance(mod_name, str) else None
        return mod is not None and mod_name != "__main__" and self.owned(mod)

    def add(self, prefix: str, obj) -> None:
        func = _unwrap(obj)
        if func is not None:
            self.found.setdefault(id(func), Target(f"{func.__module__}.{func.__qualname__}", func))

    def members(self, obj):
        if inspect.ismodule(obj) or inspect.isclass(obj):
            try:
                return list(vars(obj).items())
            except TypeError:
                return []
        return []

    def expand_leaf(self, name: str, obj, recursive: bool) -> None:
        """A matched object: functions are taken; classes give their methods; modules their functions."""
        if id(obj) in self.seen:
            return
        if isinstance(obj, property):
            for part in (obj.fget, obj.fset, obj.fdel):
                if part is not None:
                    self.add(name, part)
            return
        if _unwrap(obj) is not None:
            self.add(name, obj)
            return
        if inspect.isclass(obj) or inspect.ismodule(obj):
            self.seen.add(id(obj))
            for member_name, member in self.members(obj):
                if member_name.startswith("__") and member_name.endswith("__") and _unwrap(member) is None:
                    continue
                if inspect.ismodule(member):
                    if recursive and self.owned(member) and member.__name__.startswith(obj.__name__ + "."):
                        self.expand_leaf(f"{name}.{member_name}", member, True)
                    continue
                if not self.owned(member) and not isinstance(member, property):
                    continue
                # Classes always give their methods (and nested classes'); only submodules wait for `**`.
                self.expand_leaf(f"{name}.{member_name}", member, recursive)

    def walk(self, name: str, obj, rest: list) -> None:
        if not rest:
            self.expand_leaf(name, obj, False)
            return
        head, tail = rest[0], rest[1:]
        if head == "**":
            self.expand_leaf(name, obj, True)
            return
        for member_name, member in self.members(obj):
            if head != "*" and member_name != head:
                continue
            if head == "*" and not (self.owned(member) or isinstance(member, property)):
                continue
            self.walk(f"{name}.{member_name}", member, tail)


def find(pattern: str) -> list:
    parts = [p for p in pattern.strip().split(".") if p]
    if not parts:
        raise TargetNotFound("empty target")
    partial = next((p for p in parts if p not in ("*", "**") and any(c in p for c in "*?[")), None)
    if partial is not None:
        raise TargetNotFound(
            f"{pattern!r}: '*' and '**' stand for whole names ('mod.*', 'mod.Class.*', 'pkg.**'), not part of one "
            f"like {partial!r}"
        )
    results: dict = {}
    if parts[0] in ("*", "**"):
        root = program_dir()
        for mod_name, module in list(sys.modules.items()):
            if module is None:
                continue
            walk = _Walk(root, mod_name)
            if mod_name == "__main__" or (walk.owned(module) and mod_name != "__main__"):
                walk.walk(mod_name, module, parts if parts[0] == "**" else parts[1:])
                results.update(walk.found)
        return list(results.values())
    for cut in range(len(parts), 0, -1):
        mod_name = ".".join(parts[:cut])
        module = sys.modules.get(mod_name)
        if module is not None:
            break
    else:
        raise TargetNotFound(f"no loaded module matches {pattern!r}")
    walk = _Walk(_module_root(module), mod_name)
    walk.walk(mod_name, module, parts[cut:])
    if walk.found:
        return list(walk.found.values())
    names = parts[cut:]
    glob_at = next((i for i, p in enumerate(names) if p in ("*", "**")), None)
    if glob_at is None:
        raise TargetNotFound(f"{pattern!r}: no function found{_why_not(module, names)}")
    # Said, not returned empty: among several patterns a mistyped one would otherwise vanish without a word.
    raise TargetNotFound(f"{pattern!r}: matched no function{_why_not_below(module, names[:glob_at], names[glob_at:])}")


def _static_path(module, names: list):
    """(the object `names` lead to from `module`, or None; why not: the missing attribute; the first step taken
    through an instance: (dotted path, the instance), or None). Looked up with `inspect.getattr_static`, which
    runs none of the program's code."""
    obj, through = module, None
    for at, name in enumerate(names):
        if through is None and not (inspect.ismodule(obj) or inspect.isclass(obj)):
            through = (".".join([module.__name__, *names[:at]]), obj)
        try:
            obj = inspect.getattr_static(obj, name)
        except AttributeError:
            return None, f" ({'.'.join([module.__name__, *names[:at]])} has no attribute {name!r})", through
    return obj, "", through


def _through_instance(through) -> str:
    path, obj = through
    cls = type(obj)
    return (
        f"{path} is an instance of {cls.__module__}.{cls.__qualname__}; targets reach functions through modules and "
        "classes"
    )


def _why_not_below(module, names: list, globs: list) -> str:
    """Why a pattern whose globs follow `names` matched nothing: the names lead nowhere, or to something that
    has no functions to match (an instance: its class is named instead)."""
    obj, missing, _through = _static_path(module, names)
    if missing:
        return missing
    if inspect.ismodule(obj) or inspect.isclass(obj):
        return ""
    path = ".".join([module.__name__, *names])
    if _unwrap(obj) is not None:
        return f" ({path} is a function: name it without {'.'.join(globs)!r})"
    cls = type(obj)
    return (
        f" ({_through_instance((path, obj))}: '{cls.__module__}.{cls.__qualname__}.{'.'.join(globs)}')"
    )


def _why_not(module, names: list) -> str:
    """Why a dotted name below a module gives no Python function: it is missing, reached through an instance,
    built in, or something else."""
    obj, missing, through = _static_path(module, names)
    if missing:
        return missing
    func = _unwrap(obj) or (obj.fget if isinstance(obj, property) else None)
    if isinstance(func, types.FunctionType) and through is not None:
        return f" ({_through_instance(through)}: '{func.__module__}.{func.__qualname__}')"
    if isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType, types.MethodDescriptorType,
                        types.WrapperDescriptorType, types.MethodWrapperType, types.ClassMethodDescriptorType)):
        return f" (it is built in, not Python code: {obj!r} cannot be profiled)"
    return f" (it is {type(obj).__name__} {reprlib.repr(obj)}, not a Python function)"
