"""A request handler for the thread-per-request server of test_thread_reuse: each request's thread calls
handle(), which calls parse() and answer()."""


def parse(data: bytes) -> int:
    return int(data.strip() or b"0")


def answer(n: int) -> bytes:
    return b"%d\n" % (n * 2)


def handle(data: bytes) -> bytes:
    return answer(parse(data))
