"""Wire format of the control channel: each message is a 4-byte big-endian length and that many bytes of
UTF-8 JSON. Requests: ``{"op": "run", "code": str, "filename": str}`` or ``{"op": "ping"}`` (TCP adds
``"token"``). Replies: ``{"ok": bool, "pid": int, "output": str, "error": str}``."""

from __future__ import annotations

import json
import socket
import struct

MAX_MESSAGE = 64 << 20


class ProtocolError(Exception):
    pass


def send_message(sock: socket.socket, message: dict) -> None:
    body = json.dumps(message).encode("utf-8")
    sock.sendall(struct.pack(">I", len(body)) + body)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ProtocolError("connection closed mid-message")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket) -> dict:
    (length,) = struct.unpack(">I", _recv_exact(sock, 4))
    if length > MAX_MESSAGE:
        raise ProtocolError(f"message of {length} bytes is too large")
    try:
        message = json.loads(_recv_exact(sock, length).decode("utf-8"))
    except ValueError as err:
        raise ProtocolError(f"malformed message: {err}") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not an object")
    return message
