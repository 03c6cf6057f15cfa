"""Where the stub keeps its files: traces, control sockets and the TCP token, all in one trace directory."""

from __future__ import annotations

import os
import stat

DEFAULT_TRACE_DIR = "/tmp/pyliveupdate"
SOCKET_PREFIX = "pylu-"
SOCKET_SUFFIX = ".sock"


def trace_dir() -> str:
    return os.environ.get("PYLU_TRACE_DIR") or DEFAULT_TRACE_DIR


def ensure_trace_dir(path: str | None = None) -> str:
    """Creates the trace directory if needed. The default one is shared by every user of the machine, like
    /tmp (world-writable, sticky): each file in it is 0600 and owned by whoever wrote it."""
    path = path or trace_dir()
    if not os.path.isdir(path):
        shared = path == DEFAULT_TRACE_DIR
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            if shared:
                os.chmod(path, 0o1777)
        except FileExistsError:
            pass
    return path


def socket_path(pid: int, directory: str | None = None) -> str:
    return os.path.join(directory or trace_dir(), f"{SOCKET_PREFIX}{pid}{SOCKET_SUFFIX}")


def pid_of_socket(name: str) -> int | None:
    base = os.path.basename(name)
    if not (base.startswith(SOCKET_PREFIX) and base.endswith(SOCKET_SUFFIX)):
        return None
    digits = base[len(SOCKET_PREFIX) : -len(SOCKET_SUFFIX)]
    return int(digits) if digits.isdigit() else None


def default_token_file(directory: str | None = None) -> str:
    return os.environ.get("PYLU_TOKEN_FILE") or os.path.join(directory or trace_dir(), f"token-{os.getuid()}")


def is_private_file(path: str) -> bool:
    """Owned by us and unreadable by anyone else: the only kind of token file the stub and controller trust
    (in a shared directory another user could have planted one)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and (st.st_mode & 0o077) == 0
