"""Thread identity under a thread-per-request server (socketserver.ThreadingMixIn), in this process: the OS
gives a finished thread's ident to the next thread, and the trace must still tell every thread apart. Each
block's thread id is the thread's serial (never reused in a process), and a thread-ident record carries the OS's
ids (docs/FORMAT.md, minor version 2). The analyzer gives each thread its own root, and `--group-threads`
gathers them into one."""

import collections
import json
import socket
import socketserver
import subprocess
import sys
import threading

import pytest
from conftest import PROGRAMS
from inproc import events_since, now, profiled_for_the_module

sys.path.insert(0, PROGRAMS)

REQUESTS = 300


@pytest.fixture(scope="module", autouse=True)
def _profiled(tmp_path_factory):
    yield from profiled_for_the_module(tmp_path_factory, "reqserver", "reqserver.*")


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        import reqserver

        self.wfile.write(reqserver.handle(self.rfile.readline()))


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = True


def serve_requests(n):
    with Server(("127.0.0.1", 0), Handler) as server:
        loop = threading.Thread(target=server.serve_forever, name="serve-loop")
        loop.start()
        try:
            for i in range(n):
                # One at a time: each request's thread has ended (and freed its ident) before the next starts.
                with socket.create_connection(server.server_address) as s:
                    s.sendall(b"%d\n" % i)
                    assert s.makefile("rb").readline() == b"%d\n" % (2 * i)
        finally:
            server.shutdown()
            loop.join()


def test_every_request_thread_is_its_own_thread_in_the_trace(analyzer_bins, tmp_path):
    from pyliveupdate import _native

    t0 = now()
    serve_requests(REQUESTS)
    trace, events, names = events_since(t0)
    handle_enters = [e for e in events if e[0] == "enter" and names[e[2]] == "reqserver.handle"]
    assert len(handle_enters) == REQUESTS
    serials = {e[1] for e in handle_enters}
    assert len(serials) == REQUESTS, "each request's thread has its own id in the trace"
    idents = collections.defaultdict(set)
    thread_names = collections.defaultdict(set)
    for e in trace["events"]:
        if e[0] == "thread_ident" and e[1] in serials:
            idents[e[1]].add(e[2])
        if e[0] == "thread_name" and e[1] in serials:
            thread_names[e[1]].add(e[2])
    assert all(len(v) == 1 for v in idents.values()) and len(idents) == REQUESTS
    assert all(len(v) == 1 for v in thread_names.values()) and len(thread_names) == REQUESTS
    # What this is about: the OS did reuse idents (glibc reuses a finished thread's stack and so its ident).
    os_idents = {next(iter(v)) for v in idents.values()}
    assert len(os_idents) < REQUESTS, "no ident was reused: the test did not exercise reuse"

    analyze, _ = analyzer_bins
    path = _native.trace_path()

    def summary(*args):
        out = subprocess.run(
            [analyze, "summary", "--format", "json", "--quiet", "--func", "^reqserver\\.", *args, path],
            capture_output=True,
            check=True,
        )
        return json.loads(out.stdout)

    def handle_hits(thread):
        return sum(n["hits"] for n in thread["tree"] if n["function"] == "reqserver.handle")

    # Earlier tests of this process may have run the server too: count this test's threads by their serials.
    per_thread = [t for t in summary()["threads"] if handle_hits(t) > 0]
    assert len(per_thread) >= REQUESTS
    assert all(handle_hits(t) == 1 for t in per_thread), "one request per thread, none merged"
    grouped = summary("--group-threads", "Thread-*")
    roots = [t for t in grouped["threads"] if handle_hits(t) > 0]
    assert [t["thread"] for t in roots] == ["Thread-*"]
    assert handle_hits(roots[0]) == len(per_thread)
    assert [c["function"] for c in roots[0]["tree"][0]["children"]] == ["reqserver.answer", "reqserver.parse"]
