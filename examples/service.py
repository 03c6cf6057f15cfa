"""A small threaded "web service" for demos: request handlers over a fake database, template rendering, a
generator streaming rows, an async section and a handler that sometimes fails. Start it, then profile it live:

    python examples/service.py &                     # serves fake requests forever (SERVICE_ROUNDS=N stops)
    pylu-controller -c "FP.profile('__main__.**')"
    pylu-processlogs -i /tmp/pyliveupdate/

scripts/record-demo.sh records fixtures/demo/service.pylu from it.
"""

import asyncio
import os
import threading
import time

from pyliveupdatescripts import UpdateStub

UpdateStub().start()


class Database:
    def __init__(self):
        self.rows = {i: ("item-%d" % i, i * 3) for i in range(200)}

    def query(self, start, count):
        time.sleep(0.0002)
        return [self.rows[i % 200] for i in range(start, start + count)]

    def stream(self, count):
        for i in range(count):
            yield self.rows[i % 200]


class Templates:
    def render(self, name, rows):
        return "<%s>%s</%s>" % (name, "".join(self.render_row(r) for r in rows), name)

    def render_row(self, row):
        return "<li>%s=%d</li>" % row


db = Database()
templates = Templates()


def index(request_id):
    rows = db.query(request_id, 20)
    return templates.render("index", rows)


def detail(request_id):
    rows = list(db.stream(5))
    if request_id % 7 == 0:
        raise KeyError(request_id)
    return templates.render("detail", rows)


async def fetch(i):
    await asyncio.sleep(0)
    return i * 2


async def gather_all():
    return sum(await asyncio.gather(*(fetch(i) for i in range(5))))


def report(request_id):
    return asyncio.run(gather_all())


def handle(request_id):
    view = (index, detail, report)[request_id % 3]
    try:
        return view(request_id)
    except KeyError:
        return "404"


def worker(rounds, pause):
    done = 0
    while not rounds or done < rounds:
        handle(done)
        done += 1
        time.sleep(pause)


def main():
    rounds = int(os.environ.get("SERVICE_ROUNDS", "0"))  # 0: forever
    pause = float(os.environ.get("SERVICE_PAUSE", "0.01"))
    threads = [threading.Thread(target=worker, args=(rounds, pause), name="worker-%d" % i) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
