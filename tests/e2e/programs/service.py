"""A small service as a user writes it: the stub's two lines, then work driven by stdin ("work N" runs N
requests and prints how many times each function ran, as JSON; "exit" ends). The counts are kept by the
program itself, so the analyzer's hits can be checked against what really ran."""

import collections
import json
import sys

from pyliveupdatescripts import UpdateStub

UpdateStub().start()

calls = collections.Counter()


def fib(n):
    calls["fib"] += 1
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def parse(text):
    calls["parse"] += 1
    return [int(word) for word in text.split()]


def fails(x):
    calls["fails"] += 1
    raise ValueError(x)


def handle(request):
    calls["handle"] += 1
    numbers = parse(request)
    try:
        fails(numbers[0])
    except ValueError:
        pass
    return sum(fib(n) for n in numbers)


print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd and cmd[0] == "work":
        calls.clear()
        total = sum(handle(f"{i % 7} {i % 5 + 3}") for i in range(int(cmd[1])))
        print(json.dumps({"total": total, "calls": calls}), flush=True)
    elif cmd and cmd[0] == "exit":
        break
