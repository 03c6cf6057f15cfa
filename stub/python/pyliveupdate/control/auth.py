"""Who may talk to a stub: over the Unix socket, a peer with our uid (SO_PEERCRED); over TCP (loopback only),
whoever presents the token from our 0600 token file."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
import struct

from .. import paths


class AuthError(Exception):
    pass


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket, as the kernel saw it at connect time."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def check_unix_peer(sock: socket.socket) -> None:
    uid = peer_uid(sock)
    if uid != os.getuid():
        raise AuthError(f"connection from uid {uid} refused: only uid {os.getuid()} may control this process")


def loopback_address(address: str) -> tuple:
    """``'127.0.0.1:50050'`` → ``('127.0.0.1', 50050)``, refusing anything but a loopback address."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    host = host.strip("[]") or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"address {address!r}: give a loopback IP (127.0.0.1 or ::1), not a name") from None
    if not ip.is_loopback:
        raise ValueError(f"address {address!r} is not loopback: the stub never listens on other interfaces")
    return host, int(port)


def load_or_create_token(tdir: paths.TraceDir, token_file: str | None = None) -> tuple:
    """(token, remove): the token in `token_file` (default ``token-<uid>`` in the verified `tdir`), created
    (0600, exclusively: never through a planted name) if absent; `remove` deletes the file if it was created
    just now (for a start that is then refused), else is None. A file that is not ours alone is refused."""
    explicit = token_file or os.environ.get("PYLU_TOKEN_FILE")
    name = explicit or paths.token_name()
    dir_fd = None if explicit else tdir.fd
    token = secrets.token_hex(32)
    try:
        fd = os.open(name, paths.NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
    except FileExistsError:
        return read_token(name, dir_fd, explicit or tdir.file_path(name)), None
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")

    def remove() -> None:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass

    return token, remove


def read_token(path: str, dir_fd: int | None = None, shown: str | None = None) -> str:
    """The token in `path` (relative to `dir_fd` if given), read through `paths.read_trusted_file`."""
    shown = shown or path
    try:
        data = paths.read_trusted_file(path, dir_fd)
    except paths.UnsafePath as why:
        raise AuthError(f"token file {why}") from None
    except OSError as err:
        raise AuthError(f"cannot read token file {shown}: {err.strerror or err}") from None
    token = data.decode("ascii", "replace").strip()
    if len(token) < 16:
        raise AuthError(f"token file {shown} holds no usable token")
    return token


def token_matches(expected: str, presented) -> bool:
    return isinstance(presented, str) and hmac.compare_digest(expected.encode(), presented.encode())
