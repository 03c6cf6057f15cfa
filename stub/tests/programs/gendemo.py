"""Generators ended every way (test_generator_ends.py)."""


def plain():
    yield 1
    yield 2


def guarded():
    try:
        yield 1
    finally:
        pass
