"""The stub's listeners: accept connections on daemon threads, authenticate, run the command, reply.
Commands from several controllers may run at the same time, each on its own thread."""

from __future__ import annotations

import os
import socket
import stat
import sys
import threading

from .. import paths
from . import auth
from .commands import run_command
from .protocol import ProtocolError, recv_message, send_message


class ControlServer:
    def __init__(self, namespace: dict, directory: str, tcp_address: str | None = None, token_file: str | None = None):
        self.namespace = namespace
        self.directory = directory
        self.tcp_address = tcp_address
        self.token_file = token_file
        self.unix_path: str | None = None
        self.tcp_bound: tuple | None = None
        self._sockets: list = []
        self._token: str | None = None

    def start(self) -> None:
        self._start_unix()
        if self.tcp_address:
            self._start_tcp()

    def _start_unix(self) -> None:
        path = paths.socket_path(os.getpid(), self.directory)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            pass
        else:
            # A leftover of an earlier process with our pid; only ever remove our own socket.
            if stat.S_ISSOCK(st.st_mode) and st.st_uid == os.getuid():
                os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        # Another user could connect in the instant before the chmod; the peer uid check refuses them anyway.
        os.chmod(path, 0o600)
        sock.listen(16)
        self.unix_path = path
        self._serve(sock, self._authenticate_unix)

    def _start_tcp(self) -> None:
        host, port = auth.loopback_address(self.tcp_address)
        self._token = auth.load_or_create_token(self.token_file or paths.default_token_file(self.directory))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(16)
        self.tcp_bound = sock.getsockname()[:2]
        self._serve(sock, self._authenticate_tcp)

    def _serve(self, sock: socket.socket, authenticate) -> None:
        self._sockets.append(sock)
        threading.Thread(target=self._accept_loop, args=(sock, authenticate), name="pylu-control", daemon=True).start()

    def _accept_loop(self, sock: socket.socket, authenticate) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._handle, args=(conn, authenticate), name="pylu-command", daemon=True).start()

    def _authenticate_unix(self, conn: socket.socket, request: dict) -> None:
        auth.check_unix_peer(conn)

    def _authenticate_tcp(self, conn: socket.socket, request: dict) -> None:
        if self._token is None or not auth.token_matches(self._token, request.get("token")):
            raise auth.AuthError("bad or missing token")

    def _handle(self, conn: socket.socket, authenticate) -> None:
        pid = os.getpid()
        try:
            with conn:
                conn.settimeout(60)
                if conn.family == socket.AF_UNIX:
                    try:
                        auth.check_unix_peer(conn)  # before reading anything the peer sends
                    except auth.AuthError as why:
                        send_message(conn, {"ok": False, "pid": pid, "output": "", "error": str(why)})
                        return
                request = recv_message(conn)
                try:
                    authenticate(conn, request)
                except auth.AuthError as why:
                    send_message(conn, {"ok": False, "pid": pid, "output": "", "error": str(why)})
                    return
                conn.settimeout(None)
                op = request.get("op")
                if op == "ping":
                    reply = {"ok": True, "pid": pid, "output": "", "error": ""}
                elif op == "run" and isinstance(request.get("code"), str):
                    ok, output, error = run_command(request["code"], self.namespace, str(request.get("filename") or "<pylu>"))
                    reply = {"ok": ok, "pid": pid, "output": output, "error": error}
                else:
                    reply = {"ok": False, "pid": pid, "output": "", "error": f"unknown request {op!r}"}
                send_message(conn, reply)
        except (OSError, ProtocolError):
            pass  # the controller went away; nothing to tell anyone
        except BaseException as err:  # the host must never see the control channel fail
            try:
                print(f"pylu: control channel error: {err!r}", file=sys.stderr)
            except Exception:
                pass

    def _close_listeners(self) -> None:
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass
        self._sockets = []

    def stop(self) -> None:
        self._close_listeners()
        if self.unix_path:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass
            self.unix_path = None

    def abandon_after_fork(self) -> None:
        """In a forked child: the parent's listening sockets (and their file) stay the parent's."""
        self._close_listeners()
        self.unix_path = None
