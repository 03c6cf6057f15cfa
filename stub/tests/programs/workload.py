"""A deterministic workload whose call counts pytest compares with cProfile's."""

import functools


def leaf(x):
    return x + 1


def recursive(n):
    return 0 if n == 0 else 1 + recursive(n - 1)


def raises(x):
    if x % 3 == 0:
        raise ValueError(x)
    return x


def decorator(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@decorator
def decorated(x):
    return leaf(x)


class Shape:
    def area(self, k):
        return leaf(k) * 2

    @classmethod
    def make(cls):
        return cls()

    @staticmethod
    def unit():
        return 1

    @property
    def name(self):
        return "shape"

    class Inner:
        def deep(self):
            return leaf(0)


def gen(n):
    for i in range(n):
        yield leaf(i)


ROUTES = {"leaf": leaf}


def work(rounds=50):
    total = 0
    shape = Shape.make()
    bound = shape.area
    for i in range(rounds):
        total += leaf(i)
        total += recursive(i % 7)
        try:
            total += raises(i)
        except ValueError:
            total -= 1
        total += decorated(i)
        total += bound(i) + Shape.unit() + len(shape.name)
        total += Shape.Inner().deep()
        total += sum(gen(3))
        total += ROUTES["leaf"](i)
    return total
