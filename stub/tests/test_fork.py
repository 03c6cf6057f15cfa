"""A program that forks with the stub started (docs/STUB.md, "Recorder", fork): on 3.12+ the stub's own threads
do not make os.fork() warn (the host's threads still do); a child that ends by os._exit leaves a socket that the
next start sweeps."""

import os
import subprocess
import sys

import pytest
from conftest import PROGRAMS

PROGRAM = os.path.join(PROGRAMS, "forker.py")
WARNING = "is multi-threaded, use of fork()"


def run(trace_dir, mode):
    env = dict(os.environ, PYLU_TRACE_DIR=str(trace_dir))
    r = subprocess.run([sys.executable, "-W", "always::DeprecationWarning", PROGRAM, mode], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.mark.skipif(sys.version_info < (3, 12), reason="os.fork() warns about threads from 3.12")
def test_the_stubs_threads_do_not_make_fork_warn(trace_dir):
    r = run(trace_dir, "plain")
    assert "forked plain" in r.stdout
    assert WARNING not in r.stderr, r.stderr


@pytest.mark.skipif(sys.version_info < (3, 12), reason="os.fork() warns about threads from 3.12")
def test_the_hosts_own_threads_still_make_fork_warn(trace_dir):
    r = run(trace_dir, "thread")
    assert WARNING in r.stderr, r.stderr


def test_a_child_ended_by_os_exit_leaves_no_socket_for_long(trace_dir):
    r = run(trace_dir, "sockets")
    assert "first child's socket left: False" in r.stdout, r.stdout + r.stderr
