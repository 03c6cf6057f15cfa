"""Forks with the stub started (test_fork.py). argv[1]: "thread" starts a host thread of its own first;
"sockets" forks twice and reports, from the second child, whether the first (ended by os._exit, as
multiprocessing's workers do) left its socket behind."""

import os
import sys
import threading
import time

from pyliveupdatescripts import UpdateStub

UpdateStub().start()
mode = sys.argv[1]
if mode == "thread":
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()


def child_exits(then=None):
    pid = os.fork()
    if pid == 0:
        if then is not None:
            then()
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


first = child_exits()
if mode == "sockets":
    tdir = os.environ["PYLU_TRACE_DIR"]

    def report():
        print("first child's socket left:", os.path.exists(os.path.join(tdir, f"pylu-{first}.sock")))

    child_exits(report)
print("forked", mode, flush=True)
