"""Strangers on loopback TCP, starts that are refused, and recording failures that must reach the controller
(docs/SECURITY.md, "TCP" and "Start, exit, and what the host sees"). The host keeps serving through all of them."""

from __future__ import annotations

import os
import socket
import struct
import threading

import pytest

import attacker as atk
from attacker import VICTIM_TEXT, free_port, run_python
from conftest import Target, controller


# --- TCP strangers ---


def closed_by_peer(s: socket.socket) -> bool:
    """Reads until the stub closes the connection (a refusal may come first); False if it never does."""
    s.settimeout(30)
    try:
        while s.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return False
    return True


def test_tcp_strangers_cost_bounded_threads_and_memory(trace_dir):
    """200 idle unauthenticated connections and four clients announcing 60 MiB messages: the stub holds at most
    16 strangers at once (the rest are closed when accepted), reads at most 4 KiB from each before the token is
    checked, and drops them after the deadline; its owner's controller then gets in, and the host runs on."""
    port = free_port()
    t = Target(trace_dir, {"PYLU_TEST_ADDRESS": f"127.0.0.1:{port}"})
    strangers = []
    try:
        threads0 = atk.status_field(t.pid, "Threads")
        rss0 = atk.status_field(t.pid, "VmRSS")
        samples = [threads0]
        sampling = threading.Event()

        def sample():
            while not sampling.wait(0.02):
                samples.append(atk.status_field(t.pid, "Threads"))

        sampler = threading.Thread(target=sample)
        sampler.start()
        for _ in range(200):
            strangers.append(socket.create_connection(("127.0.0.1", port)))
        big = b"x" * (1 << 20)

        def flood():
            try:
                with socket.create_connection(("127.0.0.1", port)) as s:
                    s.sendall(struct.pack(">I", 60 << 20))
                    for _ in range(60):
                        s.sendall(big)
            except OSError:
                pass  # closed by the stub, as it should

        floods = [threading.Thread(target=flood) for _ in range(4)]
        for th in floods:
            th.start()
        for th in floods:
            th.join(60)
        # Every stranger is closed by the stub: the extras at once, the 16 it took after the deadline.
        assert all(closed_by_peer(s) for s in strangers)
        sampling.set()
        sampler.join()
        rss = atk.status_field(t.pid, "VmRSS")
        # 16 strangers' threads at most (+1: one that has just given its place back may not have ended yet).
        assert max(samples) <= threads0 + 16 + 1, (threads0, max(samples))
        assert rss - rss0 < 32 * 1024, (rss0, rss)  # kB: far below one 60 MiB message
        r = controller(trace_dir, "import os; os.getpid()", extra=["--address", f"127.0.0.1:{port}"])
        assert r.returncode == 0, r.stdout + r.stderr
        assert str(t.pid) in r.stdout
        t.run("work 2")
        assert t.alive()
    finally:
        for s in strangers:
            s.close()
        t.close()


def test_tcp_first_message_rules(trace_dir):
    """A first message over 4 KiB, one without the token and a wrong token are refused before anything runs."""
    from pyliveupdate.control.protocol import recv_message, send_message

    port = free_port()
    t = Target(trace_dir, {"PYLU_TEST_ADDRESS": f"127.0.0.1:{port}"})
    marker = os.path.join(str(trace_dir), "ran")
    try:
        with open(os.path.join(str(trace_dir), f"token-{os.geteuid()}")) as f:
            token = f.read().strip()
        cases = {
            "too large": {"op": "auth", "token": token, "pad": "x" * 5000},
            "no token": {"op": "run", "code": f"open({marker!r}, 'w').close()"},
            "wrong token": {"op": "auth", "token": "0" * 64},
        }
        for what, first in cases.items():
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                send_message(s, first)
                try:
                    reply = recv_message(s)
                    assert not reply["ok"] and "refused" in reply["error"], (what, reply)
                    send_message(s, {"op": "run", "code": f"open({marker!r}, 'w').close()"})
                    recv_message(s)
                    raise AssertionError(f"{what}: a request after the refusal was answered")
                except OSError:
                    pass
                except Exception as err:  # the connection is closed after the refusal
                    assert "closed" in str(err), (what, err)
        assert not os.path.exists(marker)
        t.run("work 1")
        assert t.alive()
    finally:
        t.close()


# --- start is all or nothing ---


@pytest.mark.parametrize(
    "case", ["non-loopback address", "token file not ours", "directory writable by others", "symlink at the socket's name"]
)
def test_refused_start_leaves_nothing(case, tmp_path, victim):
    d = tmp_path / "traces"
    d.mkdir()
    env = {"PYLU_TRACE_DIR": str(d)}
    setup, address, expect = "", "None", ""
    if case == "non-loopback address":
        address, expect = "'0.0.0.0:50050'", "not loopback"
    elif case == "token file not ours":
        bad = tmp_path / "token"
        bad.write_text("0" * 64)
        bad.chmod(0o644)
        env["PYLU_TOKEN_FILE"] = str(bad)
        address, expect = f"'127.0.0.1:{free_port()}'", "mode 0600"
    elif case == "directory writable by others":
        d.chmod(0o777)
        expect = "can be changed by other users"
    else:
        setup = f"os.symlink({victim!r}, os.path.join({str(d)!r}, f'pylu-{{os.getpid()}}.sock'))\n"
        expect = "is not a socket of ours"
    before = sorted(os.listdir(d))
    code = (
        "import os, threading\n"
        + setup
        + "from pyliveupdatescripts import UpdateStub\n"
        + f"s = UpdateStub(address={address}).start()\n"
        + "print('threads', sorted(t.name for t in threading.enumerate() if t.name.startswith('pylu')))\n"
        + "print('host still running', s.socket_path)\n"
    )
    r = run_python(code, env)
    assert r.returncode == 0, r.stderr
    assert "threads []" in r.stdout and "host still running None" in r.stdout
    (line,) = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "stub not started, nothing of it runs" in line and expect in line, line
    after = sorted(os.listdir(d))
    if case == "symlink at the socket's name":
        assert len(after) == 1 and os.readlink(os.path.join(d, after[0])) == victim
    else:
        assert after == before
    with open(victim) as f:
        assert f.read() == VICTIM_TEXT


def test_refused_start_in_a_sticky_directory_removes_the_directory_it_made(sticky_dir, tmp_path):
    bad = tmp_path / "token"
    bad.write_text("0" * 64)
    bad.chmod(0o666)
    code = f"from pyliveupdatescripts import UpdateStub\nUpdateStub(address='127.0.0.1:{free_port()}').start()\n"
    r = run_python(code, {"PYLU_TRACE_DIR": sticky_dir, "PYLU_TOKEN_FILE": str(bad)})
    assert r.returncode == 0 and "stub not started" in r.stderr, r.stderr
    assert os.listdir(sticky_dir) == []


def test_socket_removed_at_exit(trace_dir):
    r = run_python(
        "from pyliveupdatescripts import UpdateStub\ns = UpdateStub().start()\nprint(s.socket_path)\n",
        {"PYLU_TRACE_DIR": str(trace_dir)},
    )
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip()
    assert path.startswith(str(trace_dir)) and path.endswith(".sock")
    assert os.listdir(trace_dir) == []


# --- recording failures reach the controller ---


def _drop_dac_override():
    # Root writes through any file mode; without these capabilities it is held to the mode like anyone.
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            os._exit(97)


def test_unwritable_directory_is_reported_to_the_controller(trace_dir):
    preexec = _drop_dac_override if os.geteuid() == 0 else None
    try:
        t = Target(trace_dir, preexec_fn=preexec)
    except AssertionError as err:
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE to make a directory unwritable for root: {err}")
    try:
        os.chmod(trace_dir, 0o500)
        r = controller(trace_dir, "FP.profile('workload.leaf')", pid=t.pid)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"[pid {t.pid}] ERROR" in r.stdout
        assert "not recording: cannot create trace file" in r.stdout and "Permission denied" in r.stdout
        assert "this update records nothing" in r.stdout
        r = controller(trace_dir, "LU.ls()", pid=t.pid)
        assert "recorder: not recording: cannot create trace file" in r.stdout
        t.run("work 2")
        assert t.alive()
    finally:
        os.chmod(trace_dir, 0o755)
        t.close()


def _limit_file_size():
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_file_size_limit_is_reported_to_the_controller(trace_dir):
    """ulimit -f: the write past it fails (CPython ignores SIGXFSZ from startup; the stub changes no signal
    disposition), the next answer says so and why, an apply then exits non-zero, and the host runs on."""
    t = Target(trace_dir, preexec_fn=_limit_file_size)
    try:
        r = controller(trace_dir, "FP.profile('workload.leaf')", pid=t.pid)
        assert r.returncode == 0, r.stdout + r.stderr
        t.run("work 3000")
        r = controller(trace_dir, "LU.revert(1)", pid=t.pid)
        assert "recording stopped: cannot write" in r.stdout and "File too large" in r.stdout, r.stdout
        r = controller(trace_dir, "FP.profile('workload.leaf')", "LU.ls()", pid=t.pid)
        assert r.returncode == 1
        assert "this update records nothing" in r.stdout
        assert "recorder: recording stopped: cannot write" in r.stdout
        t.run("work 2")
        assert t.alive()
        assert t.close().count("pylu: recording stopped") == 1
    finally:
        t.close()
