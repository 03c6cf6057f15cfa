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


def load_or_create_token(path: str) -> str:
    """The token in `path`, created (0600, exclusively) if absent. A file that is not ours alone is refused."""
    if not os.path.lexists(path):
        token = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            pass  # someone (another stub of ours?) just created it: read it below, with the same checks
        else:
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
    return read_token(path)


def read_token(path: str) -> str:
    if not paths.is_private_file(path):
        raise AuthError(f"token file {path} must be a regular file owned by uid {os.getuid()} with mode 0600")
    with open(path) as f:
        token = f.read().strip()
    if len(token) < 16:
        raise AuthError(f"token file {path} holds no usable token")
    return token


def token_matches(expected: str, presented) -> bool:
    return isinstance(presented, str) and hmac.compare_digest(expected.encode(), presented.encode())
