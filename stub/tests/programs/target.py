"""A long-running program with the stub, driven by pytest through the controller and stdin:
each stdin line is a workload to run ("work N", "async N", "exit"); "ok" is printed after each."""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pyliveupdatescripts import UpdateStub  # noqa: E402

import workload  # noqa: E402
from workload import leaf  # noqa: E402  (a from-import the instrumentation must reach)

address = os.environ.get("PYLU_TEST_ADDRESS")
UpdateStub(address=address).start()


def main_helper(x):
    return leaf(x) * 2


async def tick(i):
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return i


async def gather(n):
    return sum(await asyncio.gather(*(tick(i) for i in range(n))))


print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "work":
        workload.work(int(cmd[1]))
        for i in range(int(cmd[1])):
            main_helper(i)
    elif cmd[0] == "async":
        asyncio.run(gather(int(cmd[1])))
    elif cmd[0] == "fork":
        # A worker like gunicorn's or multiprocessing's: it must record into its own file and have its own socket.
        ready_r, ready_w = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(ready_r)
            for i in range(int(cmd[1])):
                main_helper(i)
            os.write(ready_w, b"x")
            os.close(ready_w)
            release = os.environ.get("PYLU_TEST_RELEASE", "")
            deadline = time.time() + 60
            while time.time() < deadline and not os.path.exists(release):
                time.sleep(0.02)
            sys.exit(0)  # a normal exit: atexit flushes the child's trace
        os.close(ready_w)
        os.read(ready_r, 1)
        os.close(ready_r)
        print("child", child, flush=True)
    elif cmd[0] == "exit":
        break
    print("ok", flush=True)
