"""A hot fix, as the original's examples/patch.py: ``module1.foo`` gets new code that uses ``module2.double``.
Sent to a running program with ``pylu-controller -c "patch('examples/patch.py')"`` (the controller sends the
file's code; it runs in the stub's command namespace). ``LU.revert(N)`` takes it back."""

from pyliveupdate.update import Redefine, UpdateManager


def predefine():
    from module2 import double  # noqa: F401  (bound in module1's namespace by Redefine)


def new_foo(a):
    return double(a) + 100  # noqa: F821  (module1.double, bound by predefine)


update = Redefine("module1", predefine, {"module1.foo": new_foo})
print(UpdateManager.apply_update(update))
