"""Running a controller's command inside the target: in the stub's namespace (the tools ``FP``, ``LU``, ...
and ``main``, the program's ``__main__`` module), its printed output and its value collected for the
controller, any exception turned into the reply's error. Nothing escapes to the host's threads."""

from __future__ import annotations

import builtins
import io
import sys
import threading
import traceback

_output = threading.local()


def _command_print(*args, **kwargs):
    # Commands run concurrently on the stub's threads; each one's print goes to its own reply.
    if kwargs.get("file") is None:
        buffer = getattr(_output, "buffer", None)
        if buffer is not None:
            kwargs["file"] = buffer
    builtins.print(*args, **kwargs)


def make_namespace() -> dict:
    import pyliveupdatescripts as tools

    namespace = {"__builtins__": builtins, "__name__": "__pylu__", "print": _command_print}
    namespace["main"] = sys.modules.get("__main__")
    for name in tools.__all__:
        namespace[name] = getattr(tools, name)
    return namespace


def run_command(code: str, namespace: dict, filename: str = "<pylu>") -> tuple:
    """(ok, output, error) of one command: an expression's value is printed (as the interactive interpreter
    does), statements run as a block (a patch file's code, several lines)."""
    buffer = io.StringIO()
    _output.buffer = buffer
    try:
        try:
            compiled = compile(code, filename, "eval", dont_inherit=True)
        except SyntaxError:
            compiled = None
        if compiled is not None:
            value = eval(compiled, namespace)
            if value is not None:
                buffer.write(repr(value) + "\n")
        else:
            exec(compile(code, filename, "exec", dont_inherit=True), namespace)
        return True, buffer.getvalue(), ""
    except BaseException:  # SystemExit and KeyboardInterrupt from a command must not reach the host either
        return False, buffer.getvalue(), traceback.format_exc()
    finally:
        _output.buffer = None
