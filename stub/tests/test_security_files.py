"""Another local user (a throwaway account, see attacker.py) against a stub run by root: names and directories
planted where the stub creates its files, and the token race (docs/SECURITY.md, "Files and directories"). The
host keeps serving through all of them. The tests hold whatever fs.protected_symlinks / protected_regular /
protected_hardlinks are: the stub relies on none."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time

import pytest

import attacker as atk
from attacker import VICTIM_TEXT, free_port, make_own_dir, plant, planted_untouched, run_python, swap_tokens, try_read
from conftest import Target, controller, hit_counts, read_trace, trace_files


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
