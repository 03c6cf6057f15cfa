"""The interactive prompt, driven through a pseudo-terminal."""

import os
import select
import subprocess
import sys
import time

from conftest import Target


def _read_until(fd, needle, timeout=30):
    seen = b""
    deadline = time.time() + timeout
    while needle.encode() not in seen and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen.decode(errors="replace")


def test_interactive_prompt(trace_dir, tmp_path):
    t = Target(trace_dir)
    try:
        # A pseudo-terminal by hand rather than pty.fork(): forking a process that runs threads (pytest's, the
        # target's reader) can deadlock the child, and Python 3.12+ warns about it; subprocess does not fork in
        # Python.
        fd, tty = os.openpty()
        env = dict(os.environ, HOME=str(tmp_path))  # the history file goes here
        argv = [sys.executable, "-m", "pyliveupdate.controller", "--trace-dir", str(trace_dir)]
        child = subprocess.Popen(argv, stdin=tty, stdout=tty, stderr=tty, env=env, start_new_session=True)
        os.close(tty)
        assert "pylu> " in _read_until(fd, "pylu> ")
        os.write(fd, b"FP.profile('workload.leaf')\n")
        out = _read_until(fd, "pylu> ")
        assert f"[pid {t.pid}]" in out and "profiling 1 functions" in out
        os.write(fd, b"1/0\n")
        assert "ZeroDivisionError" in _read_until(fd, "pylu> ")
        os.write(fd, b"\x04")  # Ctrl-D
        # 1: a command of the session failed (the ZeroDivisionError above).
        assert child.wait(timeout=30) == 1
        os.close(fd)
        assert os.path.exists(tmp_path / ".pylu_controller_history")
    finally:
        t.close()
