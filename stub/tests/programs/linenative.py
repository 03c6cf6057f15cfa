"""Functions for the native line timer's tests. Each counts its own lines in HITS (on the very line it counts:
one line, one line event), so the tests compare what LP recorded with what the code says it ran. Line numbers
matter: tests find them by marker."""

import collections
import sys
import threading

HITS: collections.Counter = collections.Counter()


def rec(n):
    HITS["test"] += 1; done = n == 0  # L:test  # noqa: E702
    if done:
        HITS["base"] += 1; return 0  # L:base  # noqa: E702
    HITS["step"] += 1; return rec(n - 1) + 1  # L:step  # noqa: E702


def boom(n):
    raise KeyError(n)


def unwinds(n):
    HITS["before"] += 1; k = n + 1  # L:before  # noqa: E702
    HITS["call"] += 1; boom(k)  # L:call  # noqa: E702
    HITS["never"] += 1  # L:never


def per_thread(n):
    for i in range(n):  # L:tfor
        HITS[threading.get_ident()] += 1; i = i + 1  # L:tbody  # noqa: E702
    return n


def produce(n):
    HITS["gstart"] += 1  # L:gstart
    for i in range(n):
        HITS["gbody"] += 1; x = i * 2  # L:gbody  # noqa: E702
        yield x  # L:gyield
    HITS["gend"] += 1  # L:gend


def tracer_seen():
    return sys.gettrace()  # L:seen


def debugged(v):
    w = v * 2  # L:w
    return w


def calls_debugged(n):
    a = n + 1  # L:oa
    b = debugged(a)  # L:ob
    return b + 1  # L:oret


def line_of(marker: str) -> int:
    with open(__file__) as f:
        for number, text in enumerate(f, 1):
            if "# L:" in text and text.split("# L:")[1].split()[0] == marker:
                return number
    raise LookupError(marker)
