"""Opening this process's trace file on first need, and again in a forked child (its own file)."""

from __future__ import annotations

import atexit
import os
import sys
import threading

from . import _native, paths

_lock = threading.Lock()
_opened_in_pid: int | None = None
_warned = False


def _python_version() -> str:
    return "%d.%d.%d" % sys.version_info[:3]


def ensure_recording() -> str | None:
    """The trace file's path, opening it if this process has none yet. On failure (directory unwritable, ...)
    warns once on stderr and returns None: profiling then costs the probes but records nothing."""
    global _opened_in_pid, _warned
    with _lock:
        if _opened_in_pid == os.getpid():
            return _native.trace_path()
        try:
            directory = paths.ensure_trace_dir()
            path = _native.open_trace(directory, _python_version(), [str(a) for a in sys.argv])
        except OSError as err:
            if not _warned:
                _warned = True
                print(f"pylu: not recording: {err}", file=sys.stderr)
            return None
        _opened_in_pid = os.getpid()
        return path


def _reopen_in_child() -> None:
    # The native side already stopped writing to the parent's file (pthread_atfork); a child of a recording
    # parent records into its own file from here on.
    global _opened_in_pid, _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    if _opened_in_pid is None:
        return
    _opened_in_pid = None
    try:
        ensure_recording()
    except Exception:  # never let the stub break a fork
        pass


os.register_at_fork(after_in_child=_reopen_in_child)
atexit.register(_native.flush)
