"""Instrumentation semantics, in this process: what a change reaches, exact revert, threads, fork."""

import os
import sys
import threading
import time

import pytest

from conftest import PROGRAMS, read_trace, trace_files
from inproc import events_since, hits_since, now

sys.path.insert(0, PROGRAMS)


pytestmark = pytest.mark.usefixtures("in_process_trace_dir", "revert_everything_after")


def test_change_reaches_every_reference():
    import workload
    from pyliveupdatescripts import FP
    from workload import leaf as imported_leaf

    routes = {"r": workload.leaf}
    shape = workload.Shape()
    bound = shape.area
    t0 = now()
    FP.profile(["workload.leaf", "workload.Shape.area", "workload.decorated", "workload.Shape.make",
                "workload.Shape.unit", "workload.Shape.Inner.deep"])
    imported_leaf(1)
    routes["r"](2)
    bound(3)  # calls leaf too
    workload.decorated(4)  # the decorator's closure holds the original: calls leaf too
    workload.Shape.make()
    workload.Shape.unit()
    workload.Shape.Inner().deep()  # calls leaf
    hits = hits_since(t0)
    assert hits["workload.leaf"] == 5
    assert hits["workload.Shape.area"] == 1
    assert hits["workload.decorated"] == 1
    assert hits["workload.Shape.make"] == 1
    assert hits["workload.Shape.unit"] == 1
    assert hits["workload.Shape.Inner.deep"] == 1


def test_revert_restores_the_same_code_object_and_apply_again():
    import workload
    from pyliveupdatescripts import FP, LU

    originals = {name: getattr(workload, name).__code__ for name in ("leaf", "recursive", "gen")}
    FP.profile(["workload.leaf", "workload.recursive", "workload.gen"])
    uid = max(LU._updates)
    LU.revert(uid)
    for name, code in originals.items():
        assert getattr(workload, name).__code__ is code
    t0 = now()
    workload.leaf(1)
    assert hits_since(t0).get("workload.leaf") is None
    LU.apply(uid)
    t1 = now()
    workload.leaf(1)
    assert hits_since(t1)["workload.leaf"] == 1
    LU.revert(uid)
    for name, code in originals.items():
        assert getattr(workload, name).__code__ is code
    # Each apply and revert left a marker.
    _trace, events, _ = events_since(t0)
    markers = [(e[2], e[3]) for e in events if e[0] == "update" and e[2] == uid]
    assert markers == [(uid, "applied"), (uid, "reverted")]


def test_overlapping_updates_keep_instrumentation_until_the_last_revert():
    import workload
    from pyliveupdatescripts import FP, LU

    code = workload.leaf.__code__
    FP.profile("workload.leaf")
    first = max(LU._updates)
    FP.profile("workload.*")
    second = max(LU._updates)
    LU.revert(first)
    t0 = now()
    workload.leaf(0)
    assert hits_since(t0)["workload.leaf"] == 1
    LU.revert(second)
    assert workload.leaf.__code__ is code


def test_package_patterns():
    import pkgdemo
    import pkgdemo.sub.deep  # noqa: F401
    from pyliveupdate.instrument.targets import find

    names = sorted(t.name for t in find("pkgdemo.**"))
    assert names == ["pkgdemo.core.Service.handle", "pkgdemo.core.api", "pkgdemo.core.helper", "pkgdemo.sub.deep.deep_fn"]
    assert sorted(t.name for t in find("pkgdemo.core.*")) == [
        "pkgdemo.core.Service.handle", "pkgdemo.core.api", "pkgdemo.core.helper"]
    assert [t.name for t in find("pkgdemo.core.Service.handle")] == ["pkgdemo.core.Service.handle"]
    assert pkgdemo.api(1) == 3


def test_signatures_defaults_and_closures_survive():
    from pyliveupdatescripts import FP

    def make(offset):
        def fn(a, b=10, /, c=20, *rest, k, kk=5, **extra):
            return (a, b, c, rest, k, kk, extra, offset)

        return fn

    fn = make(7)
    mod = sys.modules[__name__]
    mod._closure_fn = fn
    expected = fn(1, k=2)
    FP.profile(f"{__name__}._closure_fn")
    assert fn(1, k=2) == expected
    assert fn(1, 2, 3, 4, k=9, z=1) == (1, 2, 3, (4,), 9, 5, {"z": 1}, 7)
    with pytest.raises(TypeError):
        fn(1)  # k is still required
    assert "a" not in fn(1, k=0)[6]
    frame_locals_ok = []

    def probe():
        frame_locals_ok.append(dict(sys._getframe(1).f_locals))  # introspecting the trampoline's frame

    mod._probe = probe

    class Base:
        def who(self):
            return "base"

    class Child(Base):
        def who(self):
            probe()
            return "child+" + super().who()

    mod.Child = Child
    FP.profile(f"{__name__}.Child.who")
    assert Child().who() == "child+base"
    assert frame_locals_ok


def test_eight_threads_while_applying_and_reverting():
    import workload
    from pyliveupdatescripts import FP, LU

    stop = threading.Event()
    errors = []

    def worker():
        try:
            while not stop.is_set():
                workload.leaf(1)
                workload.recursive(3)
                try:
                    workload.raises(3)
                except ValueError:
                    pass
                sum(workload.gen(2))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, name=f"worker-{i}") for i in range(8)]
    t0 = now()
    for t in threads:
        t.start()
    for _ in range(30):
        FP.profile(["workload.leaf", "workload.recursive", "workload.raises", "workload.gen"])
        time.sleep(0.003)
        LU.revert(max(LU._updates))
    FP.profile(["workload.leaf", "workload.recursive", "workload.raises", "workload.gen"])
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    trace, events, names = events_since(t0)
    assert trace["errors"] == []
    tids = {e[1] for e in events if e[0] == "enter"}
    assert len(tids) >= 8
    thread_names = {e[2] for e in trace["events"] if e[0] == "thread_name"}
    assert {f"worker-{i}" for i in range(8)} <= thread_names


# Forking a process that runs threads (the stub's command thread) is what this test is about: a pre-forking
# server (gunicorn) does it after the stub started. Python 3.12+ warns about it; the warning is expected here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_child_writes_its_own_file():
    import workload
    from pyliveupdate import _native
    from pyliveupdatescripts import FP

    FP.profile("workload.leaf")
    workload.leaf(0)
    parent_file = _native.trace_path()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            for i in range(7):
                workload.leaf(i)
            _native.flush()
            code = 0 if _native.trace_path() != parent_file else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    files = trace_files(os.environ["PYLU_TRACE_DIR"], pid)
    assert len(files) == 1
    child = read_trace(files[0])
    assert child["errors"] == [] and child["pid"] == pid and child["ppid"] == os.getpid()
    names = {e[2]: e[3] for e in child["events"] if e[0] == "func_def"}
    enters = [e for e in child["events"] if e[0] == "enter"]
    assert len(enters) == 7 and all(names[e[2]] == "leaf" for e in enters)


def test_nothing_printed_per_call_unless_echo(capfd):
    import workload
    from pyliveupdatescripts import FP, LU

    FP.profile("workload.leaf")
    workload.leaf(1)
    assert "workload.leaf" not in capfd.readouterr().err
    LU.revert_all()
    FP.profile("workload.leaf", echo=True)
    workload.leaf(1)
    err = capfd.readouterr().err
    assert f"pylu[{os.getpid()}] enter workload.leaf" in err and "exit workload.leaf" in err
    LU.revert_all()
    workload.leaf(1)
    assert "workload.leaf" not in capfd.readouterr().err


def test_ls_names_at_most_twenty_functions_of_an_applied_update_and_none_of_a_reverted_one():
    """After a few FP.profile('flask.**')-sized updates and reverts, LU.ls() used to print every function name of
    every update kept, reverted ones included: thousands of lines. Now an applied update names its first
    LISTED functions, a reverted one none; LU.ls(full=True) names them all."""
    import json  # noqa: F401  (json.** holds more than LISTED functions)

    from pyliveupdate.updates import LISTED
    from pyliveupdatescripts import FP, LU

    FP.profile("json.**")
    update = LU._updates[max(LU._updates)]
    names = sorted(t.name for t in update.targets)
    assert len(names) > LISTED

    def listed(text):
        rows = text.splitlines()
        at = next(i for i, row in enumerate(rows) if row.startswith(f"{update.id:>3}  "))
        under = []
        for row in rows[at + 1:]:
            if not row.startswith("       "):
                break
            under.append(row.strip())
        return rows[at], under

    row, under = listed(str(LU.ls()))
    assert "applied" in row and f"{len(names):>9}" in row
    assert under == names[:LISTED] + [f"... and {len(names) - LISTED} more (LU.ls(full=True) lists them all)"]
    assert listed(str(LU.ls(full=True)))[1] == names
    LU.revert(update.id)
    row, under = listed(str(LU.ls()))
    assert "reverted" in row and under == []
    assert listed(str(LU.ls(full=True)))[1] == names
