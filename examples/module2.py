"""Imported by the patch (examples/patch.py) into module1's namespace: the new code of ``module1.foo`` uses it."""


def double(a):
    return a * 2
