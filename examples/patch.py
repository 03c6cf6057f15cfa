"""Sent to a running stub with ``pylu-controller -c "patch('examples/patch.py')"``: the code runs in the
stub's command namespace (``FP``, ``LU``, ``main`` = the program's ``__main__``)."""

update = FP.profile(["__main__.bar", "module1.foo"])  # noqa: F821
print(update)
print(LU.ls())  # noqa: F821
