"""Generators and coroutines that outlive an update (test_generator_lifetimes.py)."""

import types


def ticker():
    n = 0
    while True:
        n += 1
        yield n


@types.coroutine
def pause():
    yield


async def worker():
    while True:
        await pause()


async def stream():
    n = 0
    while True:
        await pause()
        n += 1
        yield n
