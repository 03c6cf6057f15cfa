"""Functions for the line profiler and debugger tests (line numbers matter: tests find them by marker)."""

import asyncio


def bar(a, b=2):
    total = 0  # L:init
    for i in range(a):
        total += i * b  # L:loop
    c = total + 1  # L:c
    return c  # L:ret


def fails(x):
    y = x + 1  # L:y
    raise ValueError(f"bad {y}")  # L:raise


class Loud:
    def __repr__(self):
        raise RuntimeError("no repr for you")


class Deep:
    def __repr__(self):
        return repr(self)


def weird(v):
    w = v  # L:w
    return w


def big(n):
    s = "x" * n  # L:s
    return len(s)


def gen(n):
    for i in range(n):
        yield i  # L:yield


def gen_returns(n, k=0):
    for i in range(n):
        yield k + i  # L:gstep
    return k * 2 + 1


async def coro(n):
    total = 0
    for i in range(n):
        await asyncio.sleep(0)  # L:await
        total += i  # L:total
    return total


def line_of(marker: str) -> int:
    with open(__file__) as f:
        for number, text in enumerate(f, 1):
            if text.rstrip().endswith("# L:" + marker):
                return number
    raise LookupError(marker)
