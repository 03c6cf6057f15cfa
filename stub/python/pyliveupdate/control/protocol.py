"""Wire format of the control channel: each message is a 4-byte big-endian length and that many bytes of
UTF-8 JSON. A connection carries any number of requests, each answered in turn, and keeps its own command
namespace. Requests: ``{"op": "run", "code": str, "filename": str}`` or ``{"op": "ping"}``. Replies:
``{"ok": bool, "pid": int, "output": str, "error": str}``, plus ``"recording"`` (what is wrong with the
recorder, when something is) and ``"records_nothing"`` (the command applied an update that cannot record).

Over TCP the first message must be ``{"op": "auth", "token": str}``, at most `MAX_AUTH_MESSAGE` bytes, complete
within `AUTH_DEADLINE` seconds; it is answered (``ok`` or the refusal) before anything else is read."""

from __future__ import annotations

import json
import socket
import struct
import time

# Largest request or reply once authenticated (a patch file's code travels as one message).
MAX_MESSAGE = 64 << 20
# Largest first message over TCP, read before the token is checked: the token and a little JSON.
MAX_AUTH_MESSAGE = 4 << 10
# Seconds an unauthenticated TCP client has to send its first message, however slowly it trickles.
AUTH_DEADLINE = 5.0


class ProtocolError(Exception):
    pass


class Closed(ProtocolError):
    """The other end closed the connection between two messages (a normal end)."""


def send_message(sock: socket.socket, message: dict) -> None:
    body = json.dumps(message).encode("utf-8")
    sock.sendall(struct.pack(">I", len(body)) + body)


def send_reply(sock: socket.socket, reply: dict) -> None:
    """Sends a command's reply; one over `MAX_MESSAGE` (the reader would refuse it and lose the connection) is
    replaced by an error saying so: the command ran, the connection stays usable."""
    body = json.dumps(reply).encode("utf-8")
    if len(body) > MAX_MESSAGE:
        reply = {key: value for key, value in reply.items() if key not in ("output", "error")}
        reply.update(
            ok=False,
            output="",
            error=f"answer not sent: it is {len(body):,} bytes, over the {MAX_MESSAGE >> 20} MiB a message may "
            "carry (the command itself ran)\n",
        )
        body = json.dumps(reply).encode("utf-8")
    sock.sendall(struct.pack(">I", len(body)) + body)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None, at_start: bool = False) -> bytes:
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProtocolError("no complete message in time")
            sock.settimeout(left)
        try:
            chunk = sock.recv(min(n, 1 << 20))
        except socket.timeout:
            raise ProtocolError("no complete message in time") from None
        if not chunk:
            if at_start and not chunks:
                raise Closed("connection closed")
            raise ProtocolError("connection closed mid-message")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket, limit: int = MAX_MESSAGE, deadline: float | None = None) -> dict:
    """The next message; `deadline` (time.monotonic()) bounds the whole read. A length above `limit` is refused
    before any of the body is read."""
    (length,) = struct.unpack(">I", _recv_exact(sock, 4, deadline, at_start=True))
    if length > limit:
        raise ProtocolError(f"message of {length} bytes is too large (limit {limit})")
    try:
        message = json.loads(_recv_exact(sock, length, deadline).decode("utf-8"))
    except ValueError as err:
        raise ProtocolError(f"malformed message: {err}") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not an object")
    return message
