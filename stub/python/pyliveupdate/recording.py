"""Opening this process's trace file on first need, and again in a forked child (its own file); and what is
wrong with recording, if anything, for the controller's replies and ``LU.ls()``."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time

from . import _native, paths

_lock = threading.Lock()
_opened_in_pid: int | None = None
_open_error: str | None = None
_warned = False
# Names tried after `<pid>-<unix ms>.pylu` is taken (by an earlier file of ours, or anything else): the next
# milliseconds' names. An existing file is never opened, let alone truncated.
_NAME_TRIES = 10000


def _python_version() -> str:
    return "%d.%d.%d" % sys.version_info[:3]


def _create_trace(tdir: paths.TraceDir) -> str:
    """Creates `<pid>-<unix ms>.pylu` (O_EXCL, 0600) in the verified directory and hands it to the recorder."""
    pid = os.getpid()
    ms = time.time_ns() // 1_000_000
    for k in range(_NAME_TRIES):
        name = f"{pid}-{ms + k}.pylu"
        try:
            fd = paths.create_file(tdir, name)
        except FileExistsError:
            continue
        except OSError as err:
            raise OSError(f"cannot create trace file {tdir.file_path(name)}: {err.strerror}") from None
        try:
            # The recorder takes the descriptor over (and closes it on failure).
            return _native.open_trace(fd, tdir.file_path(name), _python_version(), [str(a) for a in sys.argv])
        except BaseException:
            try:
                os.unlink(name, dir_fd=tdir.fd)
            except OSError:
                pass
            raise
    raise FileExistsError(f"cannot create a trace file in {tdir.path}: {_NAME_TRIES} names in a row are taken")


def ensure_recording() -> str | None:
    """The trace file's path, opening it if this process has none yet. On failure (directory unwritable or
    unsafe, ...) warns once on stderr and returns None: profiling then costs the probes but records nothing,
    and `problem()` says why."""
    global _opened_in_pid, _open_error, _warned
    with _lock:
        if _opened_in_pid == os.getpid():
            return _native.trace_path()
        try:
            path = _create_trace(paths.trace_directory())
        except OSError as err:
            _open_error = str(err)
            if not _warned:
                _warned = True
                print(f"pylu: not recording: {err}", file=sys.stderr)
            return None
        _open_error = None
        _opened_in_pid = os.getpid()
        return str(path)


def problem() -> str | None:
    """What keeps this process's updates from being recorded (one line), or None when recording works or was
    never needed."""
    if _opened_in_pid == os.getpid():
        error = _native.recording_error()
        return f"recording stopped: {error}; nothing is recorded since" if error else None
    return f"not recording: {_open_error}" if _open_error else None


def state() -> str:
    """The recorder's state, for ``LU.ls()``."""
    if _opened_in_pid == os.getpid():
        return problem() or f"recording to {_native.trace_path()}"
    return problem() or "not recording yet (the first update opens the trace file)"


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
