"""Async generators driven every way (test_async_generators.py). Line numbers are asserted: keep them."""

import asyncio


async def ticks(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def consume(n):
    total = 0
    async for v in ticks(n):
        total += v
    return total


async def echo():
    got = None
    try:
        while True:
            got = yield got
    except ValueError:
        yield "caught"


async def guarded(log):
    try:
        yield 1
        yield 2
    finally:
        await asyncio.sleep(0)
        log.append("finally ran")


async def fails():
    await asyncio.sleep(0)
    yield 1
    raise KeyError("inside")


async def waits(started):
    started.set()
    await asyncio.sleep(3600)
    yield 1
