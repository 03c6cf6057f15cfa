"""The original pyliveupdate's example program, unchanged in shape: two added lines make it controllable.

    python examples/program1.py            # in one terminal
    pylu-controller                        # in another: FP.profile(['__main__.**', 'module1.**']), LU.ls(), ...
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

## add these two lines to your own code
from pyliveupdatescripts import UpdateStub  # noqa: E402

UpdateStub().start()

from module1 import *  # noqa: E402,F401,F403


def bar(a):
    foo(a)  # noqa: F405
    b = a
    return b


class Foo:
    def print_object(self, a):
        return ("Foo.print_object", a)

    @classmethod
    def print_class(cls, a):
        return ("Foo.print_class", a)

    @staticmethod
    def print_static(a):
        return ("Foo.print_static", a)


def main():
    print("foo(1) =", foo(1), flush=True)  # noqa: F405
    bar(2)
    Foo().print_object(3)
    Foo.print_class(4)
    Foo.print_static(5)


if __name__ == "__main__":
    interval = float(os.environ.get("PROGRAM1_INTERVAL", "1"))
    rounds = int(os.environ.get("PROGRAM1_ROUNDS", "0"))  # 0: forever, as the original
    done = 0
    while not rounds or done < rounds:
        main()
        done += 1
        time.sleep(interval)
