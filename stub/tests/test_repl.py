"""The interactive prompt, driven through a pseudo-terminal."""

import os
import pty
import select
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
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["HOME"] = str(tmp_path)  # history file goes here
            os.execv(sys.executable, [sys.executable, "-m", "pyliveupdate.controller", "--trace-dir", str(trace_dir)])
        assert "pylu> " in _read_until(fd, "pylu> ")
        os.write(fd, b"FP.profile('workload.leaf')\n")
        out = _read_until(fd, "pylu> ")
        assert f"[pid {t.pid}]" in out and "profiling 1 functions" in out
        os.write(fd, b"1/0\n")
        assert "ZeroDivisionError" in _read_until(fd, "pylu> ")
        os.write(fd, b"\x04")  # Ctrl-D
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status)
        assert os.path.exists(tmp_path / ".pylu_controller_history")
    finally:
        t.close()
