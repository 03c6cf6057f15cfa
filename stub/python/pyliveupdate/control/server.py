"""The stub's listeners: accept connections on daemon threads, authenticate, then answer the connection's
requests in turn, each connection with its own command namespace. Commands from several controllers may run at
the same time, each on its own thread. Starting is all or nothing."""

from __future__ import annotations

import os
import socket
import stat
import sys
import threading
import time

from .. import paths, recording, updates
from . import auth
from .commands import COMMAND_FILENAME, run_command
from .protocol import (
    AUTH_DEADLINE,
    MAX_AUTH_MESSAGE,
    Closed,
    ProtocolError,
    recv_message,
    send_message,
    send_reply,
)

# TCP connections that have not yet presented the token, at most; more are closed as soon as accepted. Each costs
# a thread and at most MAX_AUTH_MESSAGE bytes for at most AUTH_DEADLINE seconds.
MAX_UNAUTHENTICATED = 16


class ControlServer:
    def __init__(self, make_namespace, tdir: paths.TraceDir, tcp_address: str | None = None, token_file: str | None = None):
        self.make_namespace = make_namespace
        self.tdir = tdir
        self.tcp_address = tcp_address
        self.token_file = token_file
        self.unix_path: str | None = None
        self._unix_name: str | None = None
        self.tcp_bound: tuple | None = None
        self._sockets: list = []
        self._token: str | None = None
        self._unauthenticated = threading.BoundedSemaphore(MAX_UNAUTHENTICATED)

    def start(self) -> None:
        """Binds every listener, then serves them all; if anything fails, closes what was bound, removes what was
        created (socket file, a token file made just now) and raises: nothing of the stub runs."""
        bound: list = []
        remove_token = None
        try:
            tcp = auth.loopback_address(self.tcp_address) if self.tcp_address else None
            if tcp:
                self._token, remove_token = auth.load_or_create_token(self.tdir, self.token_file)
            bound.append((self._bind_unix(), False))
            if tcp:
                bound.append((self._bind_tcp(*tcp), True))
        except BaseException:
            for sock, _ in bound:
                sock.close()
            self._remove_socket_file()
            if remove_token:
                remove_token()
            raise
        for sock, is_tcp in bound:
            self._serve(sock, is_tcp)

    def _bind_unix(self) -> socket.socket:
        name = paths.socket_name(os.getpid())
        paths.remove_stale_socket(self.tdir, name)
        paths.remove_dead_sockets(self.tdir)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Through /proc/self/fd/<dir fd>/: the socket lands in the directory we verified, whatever was renamed.
            sock.bind(self.tdir.fd_path(name))
            self._unix_name = name
            st = os.stat(name, dir_fd=self.tdir.fd, follow_symlinks=False)
            if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
                raise paths.UnsafePath(f"{self.tdir.path} changed while the socket was bound: start again")
            # Another user could connect in the instant before the chmod; the peer uid check refuses them anyway.
            os.chmod(self.tdir.fd_path(name), 0o600)
            sock.listen(16)
        except BaseException:
            sock.close()
            raise
        self.unix_path = self.tdir.file_path(name)
        return sock

    def _bind_tcp(self, host: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(16)
        except BaseException:
            sock.close()
            raise
        self.tcp_bound = sock.getsockname()[:2]
        return sock

    def _serve(self, sock: socket.socket, tcp: bool) -> None:
        self._sockets.append(sock)
        threading.Thread(target=self._accept_loop, args=(sock, tcp), name="pylu-control", daemon=True).start()

    def _accept_loop(self, sock: socket.socket, tcp: bool) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed by stop()
            if tcp and not self._unauthenticated.acquire(blocking=False):
                conn.close()  # too many strangers at once: the next one waits for nothing
                continue
            try:
                threading.Thread(target=self._handle, args=(conn, tcp), name="pylu-command", daemon=True).start()
            except RuntimeError:  # no thread to be had: refuse this one, keep accepting
                conn.close()
                if tcp:
                    self._unauthenticated.release()

    @staticmethod
    def _refuse(conn: socket.socket, pid: int, why: str) -> None:
        try:
            send_message(conn, {"ok": False, "pid": pid, "output": "", "error": why})
        except OSError:
            pass

    def _authenticate_tcp(self, conn: socket.socket, pid: int) -> bool:
        """Reads the first message (small, complete within the deadline) and checks its token."""
        try:
            request = recv_message(conn, MAX_AUTH_MESSAGE, time.monotonic() + AUTH_DEADLINE)
        except ProtocolError as why:
            conn.settimeout(AUTH_DEADLINE)
            self._refuse(conn, pid, f"refused: {why}")
            return False
        conn.settimeout(AUTH_DEADLINE)
        if request.get("op") != "auth" or self._token is None or not auth.token_matches(self._token, request.get("token")):
            self._refuse(conn, pid, "refused: bad or missing token")
            return False
        send_message(conn, {"ok": True, "pid": pid, "output": "", "error": ""})
        return True

    def _handle(self, conn: socket.socket, tcp: bool) -> None:
        pid = os.getpid()
        try:
            with conn:
                if tcp:
                    try:
                        if not self._authenticate_tcp(conn, pid):
                            return
                    finally:
                        self._unauthenticated.release()
                else:
                    try:
                        auth.check_unix_peer(conn)  # before reading anything the peer sends
                    except auth.AuthError as why:
                        self._refuse(conn, pid, str(why))
                        return
                conn.settimeout(None)
                namespace = self.make_namespace()
                while True:
                    try:
                        request = recv_message(conn)
                    except Closed:
                        return
                    send_reply(conn, self._answer(request, namespace, pid))
        except (OSError, ProtocolError):
            pass  # the controller went away; nothing to tell anyone
        except BaseException as err:  # the host must never see the control channel fail
            try:
                print(f"pylu: control channel error: {err!r}", file=sys.stderr)
            except Exception:
                pass

    @staticmethod
    def _answer(request: dict, namespace: dict, pid: int) -> dict:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": pid, "output": "", "error": ""}
        if op != "run" or not isinstance(request.get("code"), str):
            return {"ok": False, "pid": pid, "output": "", "error": f"unknown request {op!r}"}
        before = updates.applies_on_this_thread()
        ok, output, error = run_command(
            request["code"],
            namespace,
            str(request.get("filename") or COMMAND_FILENAME),
            request.get("traceback") is True,
        )
        reply = {"ok": ok, "pid": pid, "output": output, "error": error}
        problem = recording.problem()
        if problem:
            reply["recording"] = problem
            reply["records_nothing"] = updates.applies_on_this_thread() > before
        return reply

    def _close_listeners(self) -> None:
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass
        self._sockets = []

    def _remove_socket_file(self) -> None:
        if self._unix_name:
            try:
                paths.remove_stale_socket(self.tdir, self._unix_name)
            except OSError:
                pass
        self._unix_name = None
        self.unix_path = None

    def stop(self) -> None:
        self._close_listeners()
        self._remove_socket_file()

    def abandon_after_fork(self) -> None:
        """In a forked child: the parent's listening sockets (and their file) stay the parent's."""
        self._close_listeners()
        self._unix_name = None
        self.unix_path = None
