"""Targets of the Instrument and Redefine tests."""


def helper(x):
    return x * 10


def foo(a):
    b = a + 1  # L:b
    return b * 2  # L:ret


def make_counter():
    count = 0

    def step():
        nonlocal count
        count += 1
        return count

    return step


counter = make_counter()
routes = {"foo": foo}
