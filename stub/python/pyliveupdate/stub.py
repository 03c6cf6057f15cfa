"""``UpdateStub``: what a program starts to become controllable. Starting costs a listening socket and a
daemon thread; nothing is instrumented and no trace is written until a command asks."""

from __future__ import annotations

import atexit
import os
import sys
import threading

from . import forking, paths


class UpdateStub:
    _started_in_pid: int | None = None
    _lock = threading.Lock()
    _instance: "UpdateStub | None" = None
    _fork_hooks = False  # forking.install() done (once per process; a forked child inherits the hooks)

    def __init__(self, address: str | None = None, trace_dir: str | None = None, token_file: str | None = None):
        """`address`: optional ``'127.0.0.1:PORT'`` to also listen on loopback TCP (token-protected)."""
        self.address = address
        self.trace_dir = trace_dir
        self.token_file = token_file
        self.server = None

    def start(self) -> "UpdateStub":
        """Starts listening, all or nothing: when something is refused (an unsafe directory, a non-loopback
        address, a bad token file) nothing of the stub runs and nothing it made is left on disk. Never raises
        into the program: a failure is one line on stderr, and the program runs on without the stub."""
        with UpdateStub._lock:
            if UpdateStub._started_in_pid == os.getpid():
                return UpdateStub._instance or self
            try:
                self._start()
            except Exception as err:
                print(f"pylu: stub not started, nothing of it runs: {err}", file=sys.stderr)
                return self
            UpdateStub._started_in_pid = os.getpid()
            UpdateStub._instance = self
            return self

    def _start(self) -> None:
        if self.trace_dir:
            os.environ["PYLU_TRACE_DIR"] = self.trace_dir
        from . import recording  # noqa: F401  (registers the fork and exit hooks)
        from .control.auth import loopback_address
        from .control.commands import make_namespace
        from .control.server import ControlServer

        if self.address:
            loopback_address(self.address)  # refused before anything is created
        tdir = paths.trace_directory()
        server = ControlServer(make_namespace, tdir, self.address, self.token_file)
        try:
            server.start()
        except BaseException:
            if tdir.created:
                paths.forget(tdir)  # a directory made just now for this start goes too (if still empty)
            raise
        self.server = server
        atexit.register(self.stop)
        os.register_at_fork(after_in_child=self._restart_in_child)
        if not UpdateStub._fork_hooks:
            UpdateStub._fork_hooks = True
            forking.install()

    def _restart_in_child(self) -> None:
        if UpdateStub._instance is not self or self.server is None:
            return
        UpdateStub._lock = threading.Lock()
        UpdateStub._started_in_pid = None
        try:
            self.server.abandon_after_fork()
            # Only the Unix socket: the TCP port is the parent's.
            self.server.tcp_address = None
            self.server.start()
            UpdateStub._started_in_pid = os.getpid()
        except Exception as err:
            try:
                print(f"pylu: stub not restarted in child {os.getpid()}: {err}", file=sys.stderr)
            except Exception:
                pass

    @property
    def socket_path(self) -> str | None:
        return self.server.unix_path if self.server else None

    def stop(self) -> None:
        if self.server is not None and UpdateStub._started_in_pid == os.getpid():
            self.server.stop()
