"""Profiling from the start of a program: the stub started, ``FP.profile(patterns)`` applied to what is already
loaded, and an import hook that profiles each module matching the patterns once it has been loaded.

Used by ``python -m pyliveupdate run`` (see ``run.py``) and, for programs started by other tools (gunicorn,
uwsgi, celery workers), by ``PYLU_PROFILE='app.**,lib.x.*'``: the wheel's ``pyliveupdate-autostart.pth``
imports this module at interpreter start-up only when that variable is set (when it is not, the cost is one
``os.environ`` look-up). Nothing here raises into the program: a failure is one line on stderr."""

from __future__ import annotations

import os
import sys
import threading

_lock = threading.RLock()
_patterns: list = []
_profiled: set = set()  # id() of every function profiled from here, so that nothing is instrumented twice
_started = False


def _prefix(pattern: str) -> str:
    """The dotted module part of a pattern before its first wildcard (``app.views`` for ``app.views.*``)."""
    parts = []
    for part in pattern.strip().split("."):
        if part in ("*", "**") or not part:
            break
        parts.append(part)
    return ".".join(parts)


def _relevant(module_name: str, pattern: str) -> bool:
    """Whether loading `module_name` can give `pattern` new functions: the module is under the pattern's module
    part, or the pattern names something inside the module."""
    prefix = _prefix(pattern)
    if not prefix:
        return False  # a leading '*'/'**' (the program's own modules): applied at the start only
    return module_name == prefix or module_name.startswith(prefix + ".") or prefix.startswith(module_name + ".")


def _profile(patterns: list) -> None:
    """Profiles the functions the patterns find now that were not profiled yet (one update for them all)."""
    from pyliveupdate.instrument.targets import TargetNotFound, find
    from pyliveupdate.updates import LU

    with _lock:
        new = {}
        for pattern in patterns:
            try:
                for target in find(pattern):
                    if id(target.func) not in _profiled:
                        new.setdefault(id(target.func), target)
            except TargetNotFound:
                continue
        if not new:
            return
        _profiled.update(new)
        LU.add("FuncProfiler", f"FP.profile({patterns!r})", sorted(new.values(), key=lambda t: t.name))


def _for_module(module_name: str, pattern: str) -> str:
    """`pattern` as it applies to a module just loaded: a module under a ``pkg.**`` is not yet an attribute of its
    package when its loading ends (the import system sets it after), so ``pkg.**`` would not reach it; ``mod.**``
    does."""
    prefix = _prefix(pattern)
    rest = pattern.strip()[len(prefix):].lstrip(".")
    if module_name.startswith(prefix + ".") and rest == "**":
        return module_name + ".**"
    return pattern


def _loaded(module_name: str) -> None:
    try:
        patterns = [_for_module(module_name, p) for p in _patterns if _relevant(module_name, p)]
        if patterns:
            _profile(patterns)
    except Exception as err:  # never into the program's import
        _say(f"profiling {module_name} failed: {err}")


def _say(line: str) -> None:
    try:
        print(f"pylu: {line}", file=sys.stderr)
    except Exception:
        pass


class _AfterImport:
    """A ``sys.meta_path`` finder that finds nothing itself: it asks the finders after it and, for a module a
    pattern can match, wraps its loader's ``exec_module`` to profile the module once it has run."""

    def find_spec(self, name, path=None, target=None):
        if not any(_relevant(name, p) for p in _patterns):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        # Built-in and frozen loaders are classes (their methods are shared): those modules are not Python code.
        if loader is None or isinstance(loader, type) or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_profile(module):
            exec_module(module)
            _loaded(module.__name__)

        try:
            loader.exec_module = exec_and_profile
        except Exception:
            pass
        return spec


def start(patterns: list, trace_dir: str | None = None, address: str | None = None) -> bool:
    """Starts the stub (its control channel works as usual) and profiles `patterns` from now on. Returns
    whether profiling started; once per process."""
    global _started
    with _lock:
        if _started:
            return True
        patterns = [p.strip() for p in patterns if p.strip()]
        if not patterns:
            _say("nothing to profile: no pattern given")
            return False
        try:
            from pyliveupdate.stub import UpdateStub

            UpdateStub(address=address, trace_dir=trace_dir).start()
            _patterns.extend(patterns)
            sys.meta_path.insert(0, _AfterImport())
            _profile(patterns)  # what is loaded already
            from pyliveupdate import recording

            recording.ensure_recording()
            _started = True
            return True
        except Exception as err:
            _say(f"profiling not started: {err}")
            return False


def patterns_from_env(value: str | None) -> list:
    """``PYLU_PROFILE``'s patterns: comma- or whitespace-separated."""
    return [p for p in (value or "").replace(",", " ").split() if p]


if os.environ.get("PYLU_PROFILE") and __name__ == "pyliveupdate.autostart":
    start(patterns_from_env(os.environ.get("PYLU_PROFILE")), trace_dir=os.environ.get("PYLU_TRACE_DIR") or None)
