"""Python ≥ 3.12: ``os.fork()`` warns (DeprecationWarning, "This process is multi-threaded, use of fork() may lead
to deadlocks in the child") whenever the process has another thread. The stub's own threads are fork-safe (the
child's handlers touch nothing they may hold: docs/STUB.md, "Recorder"), so a single-threaded host that forks
must not start getting that warning, or an exception under ``-W error``, because the stub runs. Before each fork,
if the only threads besides the forking one are the stub's idle ones (the control threads' accept loops, the
recorder's flusher), that one warning is filtered for this fork; a host with threads of its own gets the
warning as before."""

from __future__ import annotations

import os
import sys
import threading
import warnings

_MESSAGE = r"This process \(pid=\d+\) is multi-threaded, use of fork\(\)"
_added: list = []  # the filter, while it is in


def _only_stub_threads() -> bool:
    try:
        tids = {int(tid) for tid in os.listdir("/proc/self/task")}
    except OSError:
        return False
    ours = {threading.get_native_id()}
    ours.update(t.native_id for t in threading.enumerate() if t.name == "pylu-control")
    for tid in tids - ours:
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if f.read().strip() != "pylu-flusher":  # the recorder's native thread (stub/src/recorder.rs)
                    return False
        except FileNotFoundError:
            continue  # ended meanwhile
        except OSError:
            return False
    return True


def _before_fork() -> None:
    """Puts the filter in for this fork when only the stub's threads run beside the forking one, else takes it
    out. CPython warns after the fork, once the after-fork hooks have run, so the filter stays until the next
    fork's decision; it matches no other warning."""
    try:
        if _only_stub_threads():
            if not _added:
                before = list(warnings.filters)
                warnings.filterwarnings("ignore", message=_MESSAGE, category=DeprecationWarning)
                if warnings.filters[0] not in before:  # the host's own identical filter is not ours to remove
                    _added.append(warnings.filters[0])
        elif _added:
            warnings.filters.remove(_added.pop())
            warnings._filters_mutated()  # type: ignore[attr-defined]
    except Exception:  # never let the stub break a fork
        pass


def install() -> None:
    """Once per process, when the stub starts (a forked child inherits the hook)."""
    if sys.version_info >= (3, 12):
        os.register_at_fork(before=_before_fork)
