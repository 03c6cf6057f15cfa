"""Functions defined inside functions: closures, lambdas, comprehensions, classes, generators, a closure kept
at module level. Used by test_nested.py."""


def outer(n):
    def inner(x):
        return x + 1

    square = lambda v: v * v  # noqa: E731 (the lambda is what the test profiles)
    total = 0
    for i in range(n):
        total += inner(i) + square(i)
    total += sum([inner(i) for i in range(n)])
    total += sum(inner(i) for i in range(n))
    return total


def make_counter(start=0):
    count = start

    def bump(step=1, *, times=1):
        nonlocal count
        count += step * times
        return count

    return bump


def make_producer():
    def produce(k):
        yield from range(k)

    return produce


def with_class():
    class Local:
        def method(self):
            return super().__repr__().startswith("<")

        def twice(self):
            return [self.method() for _ in range(2)]

    return Local


def make_adder(k):
    return lambda v: v + k


kept = make_adder(10)  # a closure the module keeps: matched by 'nestdemo.**' and nested in make_adder


def stream(n):
    async def agen():
        yield n

    return agen


def clash():
    def inner(_pylu_x):  # a parameter named like the ≤ 3.11 trampoline's own
        return _pylu_x

    return inner
