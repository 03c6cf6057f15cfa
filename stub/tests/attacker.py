"""A second local user for the attack tests (test_security.py): a throwaway account made with useradd and removed
afterwards, whose steps run in a forked child of the test process after setuid (the interpreter may live where
that user cannot exec it, e.g. under /root), their result sent back through a pipe."""

from __future__ import annotations

import ctypes
import os
import pickle
import pwd
import shutil
import subprocess
import warnings
from dataclasses import dataclass

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
