"""The attacks of docs/SECURITY.md, each as a test: another local user (a throwaway account, see attacker.py)
against a stub run by root, and strangers on loopback TCP. The host keeps serving through all of them. The
tests hold whatever fs.protected_symlinks / protected_regular / protected_hardlinks are: the stub relies on none."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import attacker as atk
from conftest import Target, controller, hit_counts, read_trace, trace_files

VICTIM_TEXT = "root only: must never be overwritten\n"


@pytest.fixture(scope="module")
def intruder():
    why = atk.why_no_second_user()
    if why:
        pytest.skip(why)
    user = atk.create_user()
    yield user
    atk.delete_user(user)


@pytest.fixture
def sticky_dir():
    """A root-owned world-writable sticky directory under /tmp, like /tmp/pyliveupdate."""
    d = tempfile.mkdtemp(prefix="pylu-shared-", dir="/tmp")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def victim(tmp_path):
    p = tmp_path / "victim"
    p.write_text(VICTIM_TEXT)
    p.chmod(0o600)
    return str(p)


def run_python(code, env_extra, timeout=60, preexec_fn=None):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("PYLU_TRACE_DIR", None)
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout, preexec_fn=preexec_fn
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the attacker's steps (run as the throwaway user) ---


def plant(directory, names, victim):
    """Every other name a symlink to root's file, the others empty 0666 files of ours: (made, last error)."""
    made, error = 0, None
    for i, name in enumerate(names):
        path = os.path.join(directory, name)
        try:
            if i % 2:
                os.symlink(victim, path)
            else:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
                os.fchmod(fd, 0o666)
                os.close(fd)
            made += 1
        except OSError as err:
            error = errno.errorcode.get(err.errno, str(err.errno))
    return made, error


def planted_untouched(directory, names, victim) -> list:
    """What the stub did to the attacker's planted names (should be nothing)."""
    wrong = []
    for i, name in enumerate(names):
        path = os.path.join(directory, name)
        st = os.lstat(path)
        if i % 2 and not (stat.S_ISLNK(st.st_mode) and os.readlink(path) == victim):
            wrong.append(path)
        if not i % 2 and not (stat.S_ISREG(st.st_mode) and st.st_size == 0):
            wrong.append(path)
    return wrong


def try_read(path):
    try:
        with open(path, "rb") as f:
            return f"read {len(f.read())} bytes"
    except OSError as err:
        return errno.errorcode.get(err.errno, str(err.errno))


def make_own_dir(path, mode, link_to=None):
    if link_to:
        os.symlink(link_to, path)
    else:
        os.mkdir(path)
        os.chmod(path, mode)
    return path


def swap_tokens(stop_path, a, b):
    """Swaps the names `a` and `b` until told to stop; returns how many swaps were made."""
    swaps = 0
    while not os.path.exists(stop_path):
        if atk.exchange(a, b):
            swaps += 1
    return swaps


# --- planted names and directories ---


def test_planted_names_in_a_root_owned_sticky_directory(intruder, sticky_dir, victim):
    """The shared layout: root's files are in <dir>/0/, which the attacker cannot enter; names planted beside it
    (symlinks to a root-only file, 0666 files for every millisecond to come) are never followed nor written."""
    port = free_port()
    t = Target(sticky_dir, {"PYLU_TEST_ADDRESS": f"127.0.0.1:{port}"})
    try:
        mine = os.path.join(sticky_dir, str(os.geteuid()))
        st = os.lstat(mine)
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o700
        now_ms = int(time.time() * 1000)
        names = [f"pylu-{t.pid}.sock", f"token-{os.geteuid()}"]
        names += [f"{t.pid}-{ms}.pylu" for ms in range(now_ms, now_ms + 4000)]
        made, _ = atk.run_as(intruder, plant, sticky_dir, names, victim)
        assert made == len(names)
        assert atk.run_as(intruder, plant, mine, names[:4], victim) == (0, "EACCES")

        r = controller(sticky_dir, "FP.profile('workload.leaf')", pid=t.pid)
        assert r.returncode == 0, r.stdout + r.stderr
        t.run("work 20")
        r = controller(sticky_dir, "LU.revert(1)", extra=["--address", f"127.0.0.1:{port}"])
        assert r.returncode == 0, r.stdout + r.stderr

        with open(victim) as f:
            assert f.read() == VICTIM_TEXT
        assert planted_untouched(sticky_dir, names, victim) == []
        (trace,) = trace_files(mine, t.pid)
        st = os.stat(trace)
        assert st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o600
        assert hit_counts(read_trace(trace))["workload.leaf"] > 0
        assert atk.run_as(intruder, try_read, trace) == "EACCES"
        assert atk.run_as(intruder, try_read, os.path.join(mine, f"token-{os.geteuid()}")) == "EACCES"
        t.run("work 2")
        assert t.alive()
    finally:
        t.close()


PROFILE_AND_RUN_ON = (
    "from pyliveupdatescripts import FP, UpdateStub\n"
    "UpdateStub().start()\n"
    "def f(x):\n    return x + 1\n"
    "print(FP.profile('__main__.f'))\n"
    "print('sum', sum(f(i) for i in range(1000)))\n"
)


@pytest.mark.parametrize("shared_owner", ["root", "attacker"])
@pytest.mark.parametrize("planted", ["directory", "symlink"])
def test_our_name_taken_in_a_sticky_directory_is_refused(intruder, shared_owner, planted, victim, tmp_path):
    """The attacker made <dir>/0 first (its own directory full of traps, or a symlink to one): root's stub
    refuses it with one line saying what to do, writes nothing through it, and the program runs on."""
    if shared_owner == "root":
        shared = tempfile.mkdtemp(prefix="pylu-shared-", dir="/tmp")
        os.chmod(shared, 0o1777)
    else:
        shared = atk.run_as(intruder, make_own_dir, tempfile.mktemp(prefix="pylu-atk-", dir="/tmp"), 0o1777)
    try:
        traps = atk.run_as(intruder, make_own_dir, os.path.join(shared, "traps"), 0o777)
        names = [f"token-{os.geteuid()}"] + [f"pylu-{pid}.sock" for pid in range(2, 4000)]
        atk.run_as(intruder, plant, traps, names, victim)
        ours = os.path.join(shared, str(os.geteuid()))
        if planted == "directory":
            atk.run_as(intruder, os.rename, traps, ours)
            traps = ours
        else:
            atk.run_as(intruder, make_own_dir, ours, 0, traps)
        r = run_python(PROFILE_AND_RUN_ON, {"PYLU_TRACE_DIR": shared})
        assert r.returncode == 0, r.stderr
        assert "sum 500500" in r.stdout
        started = [line for line in r.stderr.splitlines() if "stub not started" in line]
        assert len(started) == 1 and ours in started[0], r.stderr
        assert ("symbolic link" if planted == "symlink" else "is not ours") in started[0]
        assert "not recording" in r.stderr
        with open(victim) as f:
            assert f.read() == VICTIM_TEXT
        assert planted_untouched(traps, names, victim) == []
        assert sorted(os.listdir(traps)) == sorted(names)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_attacker_owned_sticky_directory_keeps_our_files_private(intruder, victim):
    """A sticky directory of another user's: ours inside it is made 0700 and theirs cannot get in (at worst they
    could rename it away: denial of service, documented)."""
    shared = atk.run_as(intruder, make_own_dir, tempfile.mktemp(prefix="pylu-atk-", dir="/tmp"), 0o1777)
    try:
        t = Target(shared)
        try:
            assert controller(shared, "FP.profile('workload.leaf')", pid=t.pid).returncode == 0
            t.run("work 5")
            assert controller(shared, "LU.revert(1)", pid=t.pid).returncode == 0
            ours = os.path.join(shared, str(os.geteuid()))
            (trace,) = trace_files(ours, t.pid)
            assert atk.run_as(intruder, try_read, trace) == "EACCES"
            assert hit_counts(read_trace(trace))["workload.leaf"] > 0
        finally:
            t.close()
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.parametrize("kind", ["attacker's directory", "symlink to ours", "group-writable"])
def test_unsafe_explicit_trace_dir_is_refused(intruder, kind, tmp_path, victim):
    """PYLU_TRACE_DIR that another user controls (theirs, a symlink of theirs, writable by others without the
    sticky bit) is refused with one line; nothing is written there and the program runs on."""
    scratch = tempfile.mkdtemp(prefix="pylu-scratch-", dir="/tmp")
    os.chmod(scratch, 0o1777)
    try:
        if kind == "attacker's directory":
            directory = atk.run_as(intruder, make_own_dir, os.path.join(scratch, "theirs"), 0o755)
            expect = "can be changed by other users"
        elif kind == "symlink to ours":
            real = tmp_path / "real"
            real.mkdir()
            directory = atk.run_as(intruder, make_own_dir, os.path.join(scratch, "link"), 0, str(real))
            expect = "symbolic link"
        else:
            directory = os.path.join(scratch, "shared")
            os.mkdir(directory)
            os.chmod(directory, 0o775)
            expect = "can be changed by other users"
        if kind == "attacker's directory":
            atk.run_as(intruder, plant, directory, [f"pylu-{pid}.sock" for pid in range(2, 2000)], victim)
        before = sorted(os.listdir(directory))
        r = run_python(PROFILE_AND_RUN_ON, {"PYLU_TRACE_DIR": directory})
        assert r.returncode == 0, r.stderr
        assert "sum 500500" in r.stdout
        (line,) = [ln for ln in r.stderr.splitlines() if "stub not started" in ln]
        assert expect in line and directory in line, line
        assert sorted(os.listdir(directory)) == before
        with open(victim) as f:
            assert f.read() == VICTIM_TEXT
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_existing_names_in_our_own_directory_are_never_opened(tmp_path, victim):
    """Even where only we write, a name already taken (a file, a symlink to a file we must not touch) is skipped:
    the trace goes to the next free name, created exclusively; nothing existing is opened or truncated."""
    d = tmp_path / "traces"
    d.mkdir()
    code = (
        "import os, time\n"
        f"d, victim = {str(d)!r}, {victim!r}\n"
        "now = int(time.time() * 1000)\n"
        "for ms in range(now, now + 3000):\n"
        "    name = os.path.join(d, f'{os.getpid()}-{ms}.pylu')\n"
        "    if ms % 2:\n"
        "        os.symlink(victim, name)\n"
        "    else:\n"
        "        with open(name, 'w') as f:\n"
        "            f.write('keep')\n"
        "from pyliveupdatescripts import FP\n"
        "from pyliveupdate import _native\n"
        "def f(x):\n    return x + 1\n"
        "print('applied at', time.time_ns() // 1000000, 'planted from', now)\n"
        "FP.profile('__main__.f')\n"
        "print('sum', sum(f(i) for i in range(1000)))\n"
        "_native.flush()\n"
        "print('trace', _native.trace_path())\n"
    )
    r = run_python(code, {"PYLU_TRACE_DIR": str(d)})
    assert r.returncode == 0, r.stderr
    path = r.stdout.split("trace ", 1)[1].strip()
    applied, planted_from = (int(w) for w in r.stdout.split("applied at ", 1)[1].split()[::3][:2])
    if applied < planted_from + 3000:  # the usual case: every name from then on to the window's end was taken
        assert path.endswith(f"-{planted_from + 3000}.pylu"), (path, applied, planted_from)
    with open(victim) as f:
        assert f.read() == VICTIM_TEXT
    kept = [p for p in trace_files(d) if p != path]
    assert len(kept) == 3000
    for p in kept:
        if os.path.islink(p):
            assert os.readlink(p) == victim
        else:
            with open(p) as f:
                assert f.read() == "keep"
    assert not os.path.islink(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert hit_counts(read_trace(path))["__main__.f"] == 1000


# --- the token ---


def test_token_swap_race_never_accepts_the_attackers_token(intruder):
    """Root's token file in a directory the attacker owns (PYLU_TOKEN_FILE there, or the old shared directory
    made by them): for 3 s they swap it (renameat2 RENAME_EXCHANGE) with a file of theirs holding their token
    while root reads the token. Checked by name then opened (the old way), their token got in dozens of times in
    3 s; opened once and checked on that descriptor, it never does."""
    from pyliveupdate.control import auth

    theirs_token = "a" * 64
    d = atk.run_as(intruder, make_own_dir, tempfile.mktemp(prefix="pylu-atk-", dir="/tmp"), 0o755)
    try:
        token, evil = os.path.join(d, "token"), os.path.join(d, "evil")
        with open(os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write("r" * 64)

        def write_theirs(path, text):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(text)

        atk.run_as(intruder, write_theirs, evil, theirs_token)
        racer = atk.Background(intruder, os.path.join(d, "stop"), swap_tokens, token, evil)
        outcomes: dict = {}
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    key = {theirs_token: "ATTACKER'S TOKEN", "r" * 64: "ours"}[auth.read_token(token)]
                except auth.AuthError:
                    key = "refused"
                outcomes[key] = outcomes.get(key, 0) + 1
        finally:
            swaps = racer.stop()
        assert swaps > 100, swaps  # the race was really run ...
        assert outcomes.get("refused", 0) > 0, outcomes  # ... and their file was under the name at times
        assert "ATTACKER'S TOKEN" not in outcomes, outcomes
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_started_stub_refuses_a_planted_token_file(intruder, sticky_dir):
    """PYLU_TOKEN_FILE naming a file of another user's: the TCP start is refused, nothing of the stub runs."""
    planted = os.path.join(sticky_dir, "token")

    def write(path):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("a" * 64)

    atk.run_as(intruder, write, planted)
    d = tempfile.mkdtemp(prefix="pylu-own-", dir="/tmp")
    try:
        code = (
            "import threading\n"
            f"from pyliveupdatescripts import UpdateStub\nUpdateStub(address='127.0.0.1:{free_port()}').start()\n"
            "print('threads', sorted(t.name for t in threading.enumerate() if t.name.startswith('pylu')))\n"
        )
        r = run_python(code, {"PYLU_TRACE_DIR": d, "PYLU_TOKEN_FILE": planted})
        assert r.returncode == 0, r.stderr
        assert "stub not started" in r.stderr and "must be a regular file of uid" in r.stderr
        assert "threads []" in r.stdout
        assert os.listdir(d) == []
    finally:
        shutil.rmtree(d, ignore_errors=True)


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
