"""Imported with ``from module1 import *`` by program1.py: profiling ``module1.**`` must still reach calls made
through program1's own reference to ``foo``."""


def foo(a):
    return baz(a) + 1


def baz(a):
    return a * 2
