"""pylu-controller as a command-line tool: a slow answer is a timeout, not a lost target; a closed pipe ends it
quietly; a dead process's socket is removed."""

import os
import signal
import subprocess
import sys

from conftest import controller


def test_slow_command_times_out_and_the_target_is_kept(target, trace_dir):
    slow = "import time; time.sleep(2); print('slept')"
    # Each command after the slow one first waits (up to --timeout) for the slow one's answer, so it is shown
    # under its own command, late, before anything else is sent.
    later = [f"print('tick {i}')" for i in range(5)]
    r = controller(trace_dir, slow, *later, "print('last')", pid=target.pid, extra=("--timeout", "1"))
    out = r.stdout
    assert r.returncode == 1, out + r.stderr  # a command that did not answer in time is a failure
    assert f"[pid {target.pid}] timed out: no answer within 1 s" in out, out
    assert "unreachable" not in out and "dropped" not in out, out
    assert "(late answer to an earlier command)\nslept" in out, out
    assert out.rstrip().endswith("last"), out
    assert "Traceback" not in r.stderr, r.stderr
    # The target itself was never harmed.
    assert target.alive()
    r = controller(trace_dir, "print('still here')", pid=target.pid)
    assert r.returncode == 0 and "still here" in r.stdout, r.stdout + r.stderr


def test_a_command_after_a_timeout_is_not_sent_while_the_answer_is_owed(target, trace_dir):
    # The second command's wait (1 s) ends before the first one's answer (3 s): it must not be sent, nor be
    # reported as timed out as if it had run.
    slow = "import time; time.sleep(3); 'slept'"
    r = controller(trace_dir, slow, "main.MARK = 42", pid=target.pid, extra=("--timeout", "1"))
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert out.count("timed out: no answer within 1 s") == 1, out
    assert f"[pid {target.pid}] not sent: still waiting for an earlier command's answer after 1 s" in out, out
    r = controller(trace_dir, "import time; time.sleep(3); getattr(main, 'MARK', 'never sent')", pid=target.pid)
    assert r.returncode == 0 and "'never sent'" in r.stdout, r.stdout + r.stderr


def test_an_answer_too_large_is_refused_by_the_stub_and_the_target_kept(target, trace_dir):
    r = controller(trace_dir, "'x' * 70_000_000", "print('after')", pid=target.pid)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert f"[pid {target.pid}] ERROR\nanswer not sent: it is 70,000,0" in out and "bytes, over the 64 MiB" in out, out
    assert "unreachable" not in out and "dropped" not in out, out
    assert out.rstrip().endswith("after"), out


def test_closed_pipe_ends_quietly(target, trace_dir):
    args = [sys.executable, "-m", "pyliveupdate.controller", "--trace-dir", str(trace_dir), "--pid", str(target.pid)]
    # Answers far larger than a pipe's buffer: the controller is still writing when the reader goes away.
    for _ in range(3):
        args += ["-c", "print('x' * 1_000_000)"]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = child.stdout.readline()
    assert first.startswith(b"[pid "), first
    child.stdout.close()  # as `| head -1` does
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert target.alive()


def test_a_killed_process_socket_is_removed_once(target, trace_dir):
    sock = trace_dir / f"pylu-{target.pid}.sock"
    assert sock.exists()
    os.kill(target.pid, signal.SIGKILL)  # no exit handler runs: the socket stays
    target.proc.wait(timeout=30)
    assert sock.exists()
    r = controller(trace_dir, "print('hello')")
    assert f"pid {target.pid}: not running (its stale socket {sock} removed)" in r.stdout + r.stderr, r
    assert not sock.exists()
    r = controller(trace_dir, "print('hello')")
    assert f"pid {target.pid}" not in r.stdout + r.stderr, r
