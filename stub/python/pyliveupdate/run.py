"""``python -m pyliveupdate run -p 'app.**' [-p …] [-o DIR] [--address ADDR] (script.py | -m module) ARGS``:
runs a program with profiling applied from its start (like ``python -m cProfile``), its trace in DIR (default:
the stub's per-user directory), its exit code passed through, the stub's control channel listening as usual.

The patterns are applied to modules already loaded and, through an import hook, to each matching module once
it is imported (``autostart.py``). The script or ``-m`` module itself runs as ``__main__``: its functions are
defined while it runs, so put the code to profile in modules it imports (docs/DIFF.md)."""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys

USAGE = "usage: python -m pyliveupdate run -p PATTERN [-p PATTERN ...] [-o DIR] [--address HOST:PORT] " \
        "(script.py | -m module) [ARGS ...]"


class UsageError(Exception):
    pass


def parse(argv: list) -> dict:
    """The options up to the script (or ``-m module``); everything after belongs to the program."""
    opts = {"patterns": [], "dir": None, "address": None, "module": None, "script": None, "args": []}
    i = 0
    while i < len(argv):
        arg = argv[i]

        def value(name):
            if i + 1 >= len(argv):
                raise UsageError(f"{name} needs a value")
            return argv[i + 1]

        if arg in ("-p", "--profile"):
            opts["patterns"].append(value(arg))
            i += 2
        elif arg in ("-o", "--output-dir"):
            opts["dir"] = value(arg)
            i += 2
        elif arg == "--address":
            opts["address"] = value(arg)
            i += 2
        elif arg == "-m":
            opts["module"] = value(arg)
            opts["args"] = argv[i + 2:]
            break
        elif arg in ("-h", "--help"):
            raise UsageError("")
        elif arg == "--":
            if i + 1 >= len(argv):
                raise UsageError("no program to run")
            opts["script"] = argv[i + 1]
            opts["args"] = argv[i + 2:]
            break
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg}")
        else:
            opts["script"] = arg
            opts["args"] = argv[i + 1:]
            break
    if not opts["patterns"]:
        raise UsageError("give at least one -p PATTERN (e.g. -p 'app.**')")
    if opts["module"] is None and opts["script"] is None:
        raise UsageError("no program to run: give script.py or -m module")
    return opts


def _missing_program(opts: dict) -> str | None:
    """Why the program cannot be run, as `python script.py` / `python -m module` would say it, or None."""
    if opts["script"] is not None:
        try:
            with open(opts["script"], "rb"):
                return None
        except OSError as err:
            return f"can't open file {os.path.abspath(opts['script'])!r}: [Errno {err.errno}] {err.strerror}"
    try:
        found = importlib.util.find_spec(opts["module"])
    except (ImportError, ValueError):
        found = None
    return None if found is not None else f"No module named {opts['module']}"


def main(argv: list) -> int:
    try:
        opts = parse(argv)
    except UsageError as err:
        print(USAGE if not str(err) else f"pylu run: {err}\n{USAGE}", file=sys.stderr)
        return 0 if not str(err) else 2
    missing = _missing_program(opts)
    if missing:
        print(f"pylu run: {missing}", file=sys.stderr)
        return 2
    if opts["dir"]:
        try:
            os.makedirs(opts["dir"], mode=0o700, exist_ok=True)
        except OSError as err:
            print(f"pylu run: {opts['dir']}: {err.strerror}", file=sys.stderr)
            return 2
    from . import autostart

    if opts["script"] is not None:
        # As `python script.py` would: the script's directory first on the path, argv as the script sees it.
        sys.argv = [opts["script"]] + opts["args"]
        sys.path.insert(0, os.path.dirname(os.path.abspath(opts["script"])))
    else:
        sys.argv = [opts["module"]] + opts["args"]
        sys.path.insert(0, os.getcwd())
    autostart.start(opts["patterns"], trace_dir=opts["dir"], address=opts["address"])
    try:
        if opts["script"] is not None:
            runpy.run_path(opts["script"], run_name="__main__")
        else:
            runpy.run_module(opts["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        code = exit.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    return 0
