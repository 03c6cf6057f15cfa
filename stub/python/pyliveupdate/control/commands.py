"""Running a controller's command inside the target: in the stub's namespace (the tools ``FP``, ``LU``, ...
and ``main``, the program's ``__main__`` module), its printed output and its value collected for the
controller, any exception turned into the reply's error. Nothing escapes to the host's threads."""

from __future__ import annotations

import ast
import builtins
import io
import linecache
import os
import sys
import threading
import traceback

_output = threading.local()
# The file name a typed command is compiled under; a patch file's command is compiled under the patch's path.
COMMAND_FILENAME = "<pylu>"


def _command_print(*args, **kwargs):
    # Commands run concurrently on the stub's threads; each one's print goes to its own reply.
    if kwargs.get("file") is None:
        buffer = getattr(_output, "buffer", None)
        if buffer is not None:
            kwargs["file"] = buffer
    builtins.print(*args, **kwargs)


def make_namespace() -> dict:
    """A fresh namespace over the shared tools: each controller connection gets its own, so two controllers'
    variables never clobber each other (the tools, and what they change in the program, are shared)."""
    from .. import tools

    namespace = {"__builtins__": builtins, "__name__": "__pylu__", "print": _command_print}
    namespace["main"] = sys.modules.get("__main__")
    for name in tools.__all__:
        namespace[name] = getattr(tools, name)
    # The original's README calls the profiler on its class: `FuncProfiler.profile([...])`.
    namespace["FuncProfiler"] = tools.FP
    return namespace


_STUB_DIRS = tuple(
    os.path.dirname(os.path.dirname(os.path.abspath(m.__file__))) + os.sep
    for m in (sys.modules[__name__],)
)


def _error_text(err: BaseException, filename: str, full_traceback: bool = False) -> str:
    """A mistake in the command (a bad target, a NameError, a syntax error, an error the stub raises on bad input)
    is the one line that matters (with a syntax error's line and caret); an error raised inside the program's own
    code keeps its full traceback; one raised in a patch file (a command whose `filename` is the patch's path)
    gets the patch's frames, so that the failing statement shows, without the stub's. Every error keeps its full
    traceback when the controller asks for it (`--traceback`)."""
    if full_traceback:
        return "".join(traceback.format_exception(type(err), err, err.__traceback__))
    if isinstance(err, SyntaxError) and err.filename == filename:
        return "".join(traceback.format_exception_only(type(err), err))
    tb = err.__traceback__
    in_patch = False
    while tb is not None:
        file = tb.tb_frame.f_code.co_filename
        if file == filename:
            in_patch = filename != COMMAND_FILENAME
        elif not _is_stub_file(file):
            return _without_stub_frames(err)
        tb = tb.tb_next
    lines = _exception_line(err)
    if in_patch:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == filename]
        lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames), *lines]
    return "".join(lines)


def _is_stub_file(file: str) -> bool:
    return os.path.abspath(file).startswith(_STUB_DIRS)


def _without_stub_frames(err: BaseException) -> str:
    """The traceback of an error raised in the program's code (or a patch file's `patch()` ran), the stub's own
    frames left out (`--traceback` shows them)."""
    shown = traceback.TracebackException(type(err), err, err.__traceback__)
    shown.stack = traceback.StackSummary.from_list([f for f in shown.stack if not _is_stub_file(f.filename)])
    return "".join(shown.format())


def _exception_line(err: BaseException) -> list:
    """The exception's last line with its class's bare name (`UpdateError: ...`), as the user would write it."""
    lines = traceback.format_exception_only(type(err), err)
    qualified = f"{type(err).__module__}.{type(err).__qualname__}"
    if lines and lines[-1].startswith(qualified + ":"):
        lines[-1] = type(err).__qualname__ + lines[-1][len(qualified):]
    return lines


def _compile(code: str, filename: str) -> tuple:
    """(statements, last expression or None): as the interactive interpreter does, a command whose last
    statement is an expression has that expression's value printed (``import os; os.getuid()``)."""
    tree = ast.parse(code, filename, "exec")
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr):
        return compile(tree, filename, "exec", dont_inherit=True), None
    head = ast.Module(body=tree.body[:-1], type_ignores=[])
    value = ast.Expression(body=last.value)
    return compile(head, filename, "exec", dont_inherit=True), compile(value, filename, "eval", dont_inherit=True)


def run_command(code: str, namespace: dict, filename: str = COMMAND_FILENAME, full_traceback: bool = False) -> tuple:
    """(ok, output, error) of one command: its statements run, then the value of a final expression is printed
    (as the interactive interpreter does), print() goes to the output, any exception becomes the error (one line
    for a mistake in the command, unless `full_traceback`)."""
    buffer = io.StringIO()
    _output.buffer = buffer
    # The source of what a command defines (a patch's functions) for tracebacks and Redefine's predefine.
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        statements, expression = _compile(code, filename)
        exec(statements, namespace)
        if expression is not None:
            value = eval(expression, namespace)
            if value is not None:
                buffer.write(repr(value) + "\n")
        return True, buffer.getvalue(), ""
    except BaseException:  # SystemExit and KeyboardInterrupt from a command must not reach the host either
        return False, buffer.getvalue(), _error_text(sys.exc_info()[1], filename, full_traceback)
    finally:
        _output.buffer = None
