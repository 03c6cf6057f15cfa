"""A second local user for the attack tests (test_security_*.py): a throwaway account made with useradd and removed
afterwards, whose steps run in a forked child of the test process after setuid (the interpreter may live where
that user cannot exec it, e.g. under /root), their result sent back through a pipe."""

from __future__ import annotations

import ctypes
import errno
import os
import pickle
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import warnings
from dataclasses import dataclass

VICTIM_TEXT = "root only: must never be overwritten\n"
AT_FDCWD = -100
RENAME_EXCHANGE = 2


@dataclass
class User:
    name: str
    uid: int
    gid: int


def why_no_second_user() -> str | None:
    """Why the attack tests cannot run here (None when they can)."""
    if os.geteuid() != 0:
        return "attack tests need root: they create a throwaway user and attack a root-owned stub"
    if not shutil.which("useradd") or not shutil.which("userdel"):
        return "attack tests need useradd and userdel to create a throwaway user"
    return None


def create_user() -> User:
    name = f"pyluatk{os.getpid() % 100000}"
    subprocess.run(["useradd", "-M", "-U", "-s", "/usr/sbin/nologin", name], check=True, capture_output=True)
    pw = pwd.getpwnam(name)
    return User(name, pw.pw_uid, pw.pw_gid)


def delete_user(user: User) -> None:
    subprocess.run(["userdel", user.name], capture_output=True)


def _become(user: User) -> None:
    os.setgroups([])
    os.setgid(user.gid)
    os.setuid(user.uid)


def _fork_as(user: User, fn, *args) -> tuple:
    """(pid, read end): fn(*args) running as `user` in a forked child that pickles its outcome into the pipe."""
    r, w = os.pipe()
    with warnings.catch_warnings():
        # pytest's process has threads (in-process tests' recorder): the child only makes system calls, pickles
        # its result and leaves with os._exit, taking no lock another thread could have held at the fork.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(r)
        try:
            _become(user)
            result = ("ok", fn(*args))
        except BaseException as err:  # sent back, re-raised in the parent
            result = ("err", repr(err))
        try:
            with os.fdopen(w, "wb") as f:
                pickle.dump(result, f)
        finally:
            os._exit(0)
    os.close(w)
    return pid, r


def _outcome(pid: int, r: int):
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind != "ok":
        raise AssertionError(f"attacker step failed: {value}")
    return value


def run_as(user: User, fn, *args):
    """fn(*args) in a forked child running as `user`; its return value (or its exception) comes back here."""
    return _outcome(*_fork_as(user, fn, *args))


class Background:
    """fn(stop_path, *args) running as `user` in a forked child until `stop()`; its return value is `stop()`'s.
    fn must return when `stop_path` exists."""

    def __init__(self, user: User, stop_path: str, fn, *args):
        self.stop_path = stop_path
        self._child = _fork_as(user, fn, stop_path, *args)

    def stop(self):
        with open(self.stop_path, "w"):
            pass
        return _outcome(*self._child)


def exchange(a: str, b: str) -> bool:
    """renameat2(RENAME_EXCHANGE): swaps two names atomically (the token race's tool)."""
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE)
    return rc == 0


def status_field(pid: int, field: str) -> int:
    """A number from /proc/PID/status (Threads, VmRSS in kB)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


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
        if exchange(a, b):
            swaps += 1
    return swaps
