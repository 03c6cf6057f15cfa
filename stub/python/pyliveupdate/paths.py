"""Where the stub keeps its files (traces, control sockets, the TCP token) and how it opens them, so that no other
local user can redirect, receive or replace them (docs/SECURITY.md).

Everything is created relative to a directory file descriptor opened with ``O_NOFOLLOW | O_DIRECTORY`` and
checked with ``fstat``: by default the user's own ``/tmp/pyliveupdate/<uid>/`` (0700) under the shared, sticky
``/tmp/pyliveupdate``. New files are ``O_CREAT | O_EXCL | O_NOFOLLOW`` and 0600; a file trusted for what it
says (the token) is opened once with ``O_NOFOLLOW`` and checked with ``fstat`` on that descriptor."""

from __future__ import annotations

import errno
import os
import stat
import threading
from dataclasses import dataclass, field

SHARED_ROOT = "/tmp/pyliveupdate"
SOCKET_PREFIX = "pylu-"
SOCKET_SUFFIX = ".sock"
TOKEN_PREFIX = "token-"
# A file trusted for its content is small; reading more would let a planted file cost memory.
MAX_TRUSTED_FILE = 4096

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a planted FIFO must not hang the reader before fstat refuses it.
_TRUSTED_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


class UnsafePath(OSError):
    """A directory or file another user could have planted or could change; the message says what and how to fix
    it, on one line."""


@dataclass
class TraceDir:
    """A verified directory: `fd` is what every file is created relative to; `path` is for messages and for
    binding sockets when /proc is missing. `created` lists what opening it created (for an all-or-nothing start)."""

    path: str
    fd: int
    created: list = field(default_factory=list)

    def file_path(self, name: str) -> str:
        return os.path.join(self.path, name)

    def fd_path(self, name: str) -> str:
        """A path naming `name` in this very directory, whatever has been renamed since it was verified:
        through /proc/self/fd when mounted (also keeps AF_UNIX paths short), else the directory's path."""
        proc = f"/proc/self/fd/{self.fd}"
        return os.path.join(proc, name) if os.path.isdir(proc) else self.file_path(name)

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def configured_dir() -> str | None:
    """The directory the user chose (``PYLU_TRACE_DIR``), or None for the default."""
    return os.environ.get("PYLU_TRACE_DIR") or None


def _mode(st: os.stat_result) -> str:
    return f"owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}"


def _open_dir(path: str, name: str | None, parent_fd: int | None, create_mode: int | None, created: list) -> int:
    """Opens `name` in `parent_fd` (or `path` itself), creating it with `create_mode` if missing and asked."""
    target = name if name is not None else path
    for _ in range(2):
        try:
            return os.open(target, _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            if create_mode is None:
                raise
            try:
                if parent_fd is None:
                    parent = os.path.dirname(path.rstrip("/"))
                    if parent:
                        os.makedirs(parent, exist_ok=True)
                os.mkdir(target, create_mode, dir_fd=parent_fd)
                created.append(path)
            except FileExistsError:
                pass  # another process made it: open it, and verify it, like any existing one
        except OSError as err:
            if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            # O_DIRECTORY | O_NOFOLLOW on a symlink fails with ENOTDIR: lstat only to word the message.
            try:
                link = stat.S_ISLNK(os.stat(target, dir_fd=parent_fd, follow_symlinks=False).st_mode)
            except OSError:
                link = err.errno == errno.ELOOP
            if link:
                raise UnsafePath(
                    f"{path} is a symbolic link: give the real directory (PYLU_TRACE_DIR) or remove the link"
                ) from None
            raise UnsafePath(f"{path} is not a directory: remove it or set PYLU_TRACE_DIR elsewhere") from None
    return os.open(target, _DIR_FLAGS, dir_fd=parent_fd)


def open_trace_dir(configured: str | None = None, create: bool = True) -> TraceDir:
    """The verified directory for this user's files.

    An explicit directory owned by us or root and writable by nobody else is used as it is. A sticky one (the
    default ``/tmp/pyliveupdate``, or any directory like /tmp) only holds per-user directories ``<uid>/``: ours
    must be owned by us and not writable by others. Anything else is refused (`UnsafePath`). With `create`, what
    is missing is created (the shared root 01777, ours 0700)."""
    explicit = configured or configured_dir()
    base = os.path.abspath(explicit) if explicit else SHARED_ROOT
    me = os.geteuid()
    created: list = []
    fd = _open_dir(base, None, None, (0o700 if explicit else 0o1777) if create else None, created)
    try:
        st = os.fstat(fd)
        if created and not explicit and st.st_uid == me:
            os.fchmod(fd, 0o1777)  # mkdir's mode went through the umask
            st = os.fstat(fd)
        private = st.st_uid in (me, 0) and not st.st_mode & 0o022
        sticky = bool(st.st_mode & stat.S_ISVTX)
        if explicit and private:
            base_fd, fd = fd, -1  # kept: returned below
            return TraceDir(base, base_fd, created)
        if not (sticky or private):
            raise UnsafePath(
                f"{base} ({_mode(st)}) can be changed by other users and is not sticky: "
                f"chmod go-w (or +t) it, or set PYLU_TRACE_DIR to a directory of yours"
            )
        # Shared: whoever owns `base` could rename our directory away (denial of service), never get into it.
        sub = os.path.join(base, str(me))
        sub_fd = _open_dir(sub, str(me), fd, 0o700 if create else None, created)
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        st = os.fstat(sub_fd)
        if st.st_uid != me:
            raise UnsafePath(f"{sub} ({_mode(st)}) is not ours (uid {me}): remove it, or set PYLU_TRACE_DIR")
        if st.st_mode & 0o022:
            raise UnsafePath(f"{sub} ({_mode(st)}) is writable by others: chmod 700 {sub}")
    except BaseException:
        os.close(sub_fd)
        raise
    return TraceDir(sub, sub_fd, created)


_lock = threading.Lock()
_cached: dict = {}


def trace_directory() -> TraceDir:
    """This process's verified directory (opened once per configured path, created if missing)."""
    key = configured_dir() or ""
    with _lock:
        tdir = _cached.get(key)
        if tdir is None:
            tdir = _cached[key] = open_trace_dir()
        return tdir


def forget(tdir: TraceDir) -> None:
    """Undoes `trace_directory` for a start that was refused: closes the directory and removes what opening it
    created, if still empty (never the shared root: another user's process may be about to use it)."""
    with _lock:
        for key, value in list(_cached.items()):
            if value is tdir:
                del _cached[key]
    tdir.close()
    for path in reversed(tdir.created):
        if path != SHARED_ROOT:
            try:
                os.rmdir(path)
            except OSError:
                pass


def create_file(tdir: TraceDir, name: str) -> int:
    """A new 0600 file `name` in `tdir`; FileExistsError if anything (a file, a symlink) has that name."""
    return os.open(name, NEW_FILE_FLAGS, 0o600, dir_fd=tdir.fd)


def read_trusted_file(path: str, dir_fd: int | None = None) -> bytes:
    """The content of a file we trust for what it says: opened once without following a symlink, then checked
    on that descriptor (regular, ours, no group/other bits, one link); at most `MAX_TRUSTED_FILE` bytes."""
    try:
        fd = os.open(path, _TRUSTED_READ_FLAGS, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symbolic link: the file itself must be given") from None
        raise
    try:
        st = os.fstat(fd)
        me = os.geteuid()
        if not stat.S_ISREG(st.st_mode) or st.st_uid != me or st.st_mode & 0o077 or st.st_nlink != 1:
            raise UnsafePath(
                f"{path} ({_mode(st)}, {st.st_nlink} links) must be a regular file of uid {me}, mode 0600, "
                f"with one link: remove it and let it be created again"
            )
        return os.read(fd, MAX_TRUSTED_FILE)
    finally:
        os.close(fd)


def socket_name(pid: int) -> str:
    return f"{SOCKET_PREFIX}{pid}{SOCKET_SUFFIX}"


def pid_of_socket(name: str) -> int | None:
    base = os.path.basename(name)
    if not (base.startswith(SOCKET_PREFIX) and base.endswith(SOCKET_SUFFIX)):
        return None
    digits = base[len(SOCKET_PREFIX) : -len(SOCKET_SUFFIX)]
    return int(digits) if digits.isdigit() else None


def token_name() -> str:
    return f"{TOKEN_PREFIX}{os.geteuid()}"


def remove_stale_socket(tdir: TraceDir, name: str) -> None:
    """Removes `name` if it is a socket of ours (a leftover of a dead process with our pid); anything else with
    that name is refused, never removed."""
    try:
        st = os.stat(name, dir_fd=tdir.fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(st.st_mode) and st.st_uid == os.geteuid():
        os.unlink(name, dir_fd=tdir.fd)
        return
    raise UnsafePath(f"{tdir.file_path(name)} exists and is not a socket of ours ({_mode(st)}): remove it")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_sockets(tdir: TraceDir) -> None:
    """Removes the sockets of ours whose process is gone: a process that ended without its exit handlers (a
    forked worker leaving by `os._exit`, as multiprocessing's do, or a killed one) leaves its socket behind.
    Called at each start (a forked child's included), so leftovers do not pile up. Anything that is not a
    socket of ours is left alone."""
    for name in os.listdir(tdir.fd):
        pid = pid_of_socket(name)
        if pid is not None and pid != os.getpid() and not pid_alive(pid):
            try:
                remove_stale_socket(tdir, name)
            except (OSError, UnsafePath):
                pass
