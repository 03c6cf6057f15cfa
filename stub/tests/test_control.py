"""The control channel and pylu-controller, against real target processes."""

import os
import socket
import stat
import subprocess
import sys
import time
import warnings

import pytest

from conftest import Target, controller, hit_counts, read_trace, trace_files


def run_python(code, trace_dir, timeout=60):
    """Runs `code` in a fresh interpreter with the stub's trace directory set; returns the finished process."""
    env = dict(os.environ, PYLU_TRACE_DIR=str(trace_dir))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)


def test_error_in_command_is_returned_and_host_keeps_running(target, trace_dir):
    r = controller(trace_dir, "1/0", pid=target.pid)
    assert r.returncode != 0
    assert "ZeroDivisionError" in r.stdout
    assert f"[pid {target.pid}] ERROR" in r.stdout
    r = controller(trace_dir, "raise SystemExit(3)", pid=target.pid)
    assert r.returncode != 0 and "SystemExit" in r.stdout
    r = controller(trace_dir, "FP.profile('no_such_module.f')", pid=target.pid)
    assert r.returncode != 0 and "nothing to profile" in r.stdout
    target.run("work 2")
    assert target.alive()
    r = controller(trace_dir, "print('hello from', 'stub')", "x = 41", "x + 1", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hello from stub" in r.stdout and "42" in r.stdout


def test_commands_from_stdin_and_ls(target, trace_dir):
    script = "FP.profile(['workload.leaf'])\n# a comment\nLU.ls()\n"
    r = controller(trace_dir, stdin=script)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "update 1: profiling 1 functions" in r.stdout
    assert "workload.leaf" in r.stdout and "applied" in r.stdout


def test_patch_sends_the_files_code(target, trace_dir, tmp_path):
    patch = tmp_path / "p.py"
    patch.write_text("import os\nresult = FP.profile('workload.leaf')\nprint('patched', os.getpid())\n")
    r = controller(trace_dir, f"patch({str(patch)!r})", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"patched {target.pid}" in r.stdout


def test_broadcast_to_every_stub_and_dead_ones_dropped(trace_dir):
    a, b = Target(trace_dir), Target(trace_dir)
    try:
        r = controller(trace_dir, "import os; print(os.getpid())")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"[pid {a.pid}]" in r.stdout and f"[pid {b.pid}]" in r.stdout
        b.proc.kill()
        b.proc.wait()
        r = controller(trace_dir, "1")
        assert f"[pid {a.pid}]" in r.stdout
        assert f"pid {b.pid}" in r.stderr  # reported as gone, not silently ignored
    finally:
        a.close()
        b.close()


def test_socket_is_owner_only(target, trace_dir):
    path = os.path.join(trace_dir, f"pylu-{target.pid}.sock")
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()


def _connect_as(uid, path, marker="/nonexistent"):
    """Connects to `path` from a child running as `uid`; returns what the child saw.

    A forked child, not a new interpreter: the other user cannot execute this venv's Python (under root's home).
    Everything the child needs is imported before the fork, so it takes no lock another thread of this
    (multi-threaded: in-process stubs) pytest process could have held; it only calls setuid, the socket and
    os._exit, which is what makes Python's fork-in-a-threaded-process warning moot here."""
    from pyliveupdate.control.protocol import recv_message, send_message

    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        os.close(r)
        outcome = b"?"
        try:
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                send_message(s, {"op": "run", "code": f"open({marker!r}, 'w').close()"})
                reply = recv_message(s)
                outcome = b"refused" if not reply.get("ok") and "refused" in reply.get("error", "") else b"ACCEPTED"
            except PermissionError:
                outcome = b"eacces"
            except OSError:
                outcome = b"closed"
        finally:
            os.write(w, outcome)
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r, "rb") as f:
        return f.read().decode()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as a second user")
def test_second_user_is_refused():
    import shutil
    import tempfile

    directory = tempfile.mkdtemp(prefix="pylu-uid-", dir="/tmp")
    os.chmod(directory, 0o755)  # every ancestor traversable: only the socket's own protection is tested
    t = Target(directory)
    try:
        path = os.path.join(directory, f"pylu-{t.pid}.sock")
        # Through the file mode alone, another user cannot even connect ...
        assert _connect_as(65534, path) == "eacces"
        # ... and with the mode opened up, the peer uid check still refuses the command.
        os.chmod(path, 0o666)
        marker = os.path.join(directory, "ran")
        # "closed": the stub refused and hung up before the request was even sent (a reset loses the reply).
        assert _connect_as(65534, path, marker) in ("refused", "closed")
        assert not os.path.exists(marker)
        assert t.alive()
    finally:
        t.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_tcp_loopback_with_token(trace_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = Target(trace_dir, {"PYLU_TEST_ADDRESS": f"127.0.0.1:{port}"})
    try:
        token_file = os.path.join(trace_dir, f"token-{os.getuid()}")
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        r = controller(trace_dir, "import os; os.getpid()", extra=["--address", f"127.0.0.1:{port}"])
        assert r.returncode == 0, r.stdout + r.stderr
        assert str(t.pid) in r.stdout
        bad = os.path.join(trace_dir, "bad-token")
        with open(bad, "w") as f:
            f.write("0" * 64)
        os.chmod(bad, 0o600)
        r = controller(trace_dir, "1", extra=["--address", f"127.0.0.1:{port}", "--token-file", bad])
        assert r.returncode != 0 and "token" in r.stdout
    finally:
        t.close()


def test_tcp_refuses_non_loopback(tmp_path):
    code = (
        "from pyliveupdatescripts import UpdateStub\n"
        "s = UpdateStub(address='0.0.0.0:50999').start()\n"
        "print('host still running')\n"
    )
    r = run_python(code, tmp_path)
    assert r.returncode == 0
    assert "host still running" in r.stdout
    assert "not loopback" in r.stderr


def test_unwritable_trace_file_warns_once_and_host_runs(tmp_path):
    # RLIMIT_FSIZE makes every write past 4 KiB fail (EFBIG) like a full disk would.
    code = (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "from pyliveupdatescripts import FP\n"
        "def f(x):\n    return x + 1\n"
        "FP.profile('__main__.f')\n"
        "total = sum(f(i) for i in range(300000))\n"
        "from pyliveupdate import _native\n"
        "_native.flush()\n"
        "print('done', total, _native.recording_stopped())\n"
    )
    r = run_python(code, tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "done" in r.stdout and "True" in r.stdout
    assert r.stderr.count("pylu: recording stopped") == 1


def test_missing_trace_dir_never_reaches_the_host(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = (
        "from pyliveupdatescripts import FP, UpdateStub\n"
        "UpdateStub().start()\n"
        "def f(x):\n    return x + 1\n"
        "print(FP.profile('__main__.f'))\n"
        "print('sum', sum(f(i) for i in range(1000)))\n"
    )
    r = run_python(code, blocker / "sub")
    assert r.returncode == 0, r.stderr
    assert "sum 500500" in r.stdout
    assert "pylu:" in r.stderr


def test_forked_worker_records_its_own_file_and_answers(trace_dir, tmp_path):
    release = tmp_path / "release"
    t = Target(trace_dir, {"PYLU_TEST_RELEASE": str(release)})
    try:
        assert controller(trace_dir, "FP.profile('__main__.main_helper')", pid=t.pid).returncode == 0
        t.run("work 2")
        (line,) = t.run("fork 5")
        child = int(line.split()[1])
        r = controller(trace_dir, "import os; os.getpid()")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"[pid {t.pid}]" in r.stdout and f"[pid {child}]" in r.stdout
        release.write_text("")
        deadline = time.time() + 30
        while os.path.exists(os.path.join(trace_dir, f"pylu-{child}.sock")) and time.time() < deadline:
            time.sleep(0.05)
        from conftest import hit_counts, read_trace, trace_files

        (child_file,) = trace_files(trace_dir, child)
        child_trace = read_trace(child_file)
        assert child_trace["errors"] == [] and child_trace["ppid"] == t.pid
        assert hit_counts(child_trace)["__main__.main_helper"] == 5
        controller(trace_dir, "LU.revert(1)", pid=t.pid)
        assert hit_counts(t.trace())["__main__.main_helper"] == 2  # the child's calls are not in the parent's
    finally:
        t.close()


def test_a_process_that_dies_keeps_every_call_before_its_last_flush(tmp_path):
    # Full blocks wait in the file's writer until the next 256 KiB boundary of the file; a flush writes them all.
    # A process that then dies without running any exit handler keeps every call recorded before the flush, and
    # what it wrote after is whole blocks but for at most one torn block at the end.
    code = (
        "import os\n"
        "from pyliveupdatescripts import FP\n"
        "from pyliveupdate import _native\n"
        "def f(x):\n    return x + 1\n"
        "FP.profile('__main__.f')\n"
        "for i in range(400000):\n    f(i)\n"
        "_native.flush()\n"
        "print(os.path.getsize(_native.trace_path()), flush=True)\n"
        "for i in range(200000):\n    f(i)\n"
        "os._exit(0)\n"
    )
    r = run_python(code, tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    size_at_flush = int(r.stdout.split()[0])
    [path] = trace_files(tmp_path)
    # 400,000 calls take 1.6 MB (4 bytes each): several 256 KiB pieces went out before the flush.
    assert size_at_flush > 4 * 256 * 1024
    assert os.path.getsize(path) > size_at_flush
    trace = read_trace(path)
    assert len(trace["errors"]) <= 1, trace["errors"]
    calls = hit_counts(trace)["__main__.f"]
    # The calls after the flush that were still in a thread's buffer or the writer's are lost.
    assert 400000 <= calls < 600000, calls


def test_several_statements_print_the_last_expressions_value(target, trace_dir):
    r = controller(trace_dir, "import os; os.getpid()", "x = 2\nif x:\n    y = x * 21\ny", "z = 1", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split("\n")[1:4] == [str(target.pid), f"[pid {target.pid}]", "42"], r.stdout
    assert r.stdout.count(f"[pid {target.pid}]") == 3 and r.stdout.rstrip().endswith(f"[pid {target.pid}]")


def test_each_controller_connection_has_its_own_namespace(target, trace_dir):
    # Controller a's variables live as long as its connection, and no other controller sees them; the tools
    # and the program (main) are the same for both.
    a = controller(trace_dir, "mine = 'a'", "mine", "type(LU).__name__", pid=target.pid)
    assert a.returncode == 0, a.stdout + a.stderr
    assert "'a'" in a.stdout and "UpdateManager" in a.stdout
    b = controller(trace_dir, "mine", pid=target.pid)
    assert b.returncode == 1 and "NameError" in b.stdout, b.stdout
    b = controller(trace_dir, "main.main_helper(1)", pid=target.pid)
    assert b.returncode == 0 and "4" in b.stdout, b.stdout


def test_update_history_is_bounded(target, trace_dir):
    cycle = (
        "for _ in range(100):\n"
        "    FP.profile('workload.leaf')\n"
        "    LU.revert(LU._next_id - 1)\n"
        "len(LU._updates)"
    )
    r = controller(trace_dir, cycle, "LU.apply(1)", "LU.apply(100)", "LU.ls()", pid=target.pid)
    from pyliveupdate.updates import MAX_REVERTED_KEPT

    lines = r.stdout.splitlines()
    assert lines[1] == str(MAX_REVERTED_KEPT), r.stdout
    assert f"update 1 was reverted and forgotten (the last {MAX_REVERTED_KEPT} reverted updates are kept)" in r.stdout
    assert "applied update 100" in r.stdout
    assert f"({100 - MAX_REVERTED_KEPT} older reverted updates forgotten)" in r.stdout
    target.run("work 2")
