"""Functions defined inside profiled functions (closures made before and after the update, lambdas, methods of
local classes, comprehensions when asked), in this process: hits, names, exact revert, the update's answer."""

import gc
import sys
import types

import pytest
from conftest import PROGRAMS
from inproc import events_since, hits_since, now

sys.path.insert(0, PROGRAMS)

OLD = sys.version_info < (3, 12)


pytestmark = pytest.mark.usefixtures("in_process_trace_dir", "revert_everything_after")


def functions_with_code(code):
    return [o for o in gc.get_objects() if type(o) is types.FunctionType and o.__code__ is code]


def test_closures_made_before_and_after_the_update_are_recorded_under_their_qualname():
    import nestdemo
    from pyliveupdatescripts import FP

    before = nestdemo.make_counter()
    t0 = now()
    answer = str(FP.profile("nestdemo.make_counter"))
    after = nestdemo.make_counter(5)
    assert before(2) == 2 and before(times=3) == 5
    assert after() == 6 and after(step=2, times=2) == 10
    hits = hits_since(t0)
    assert hits["nestdemo.make_counter"] == 1
    assert hits["nestdemo.make_counter.<locals>.bump"] == 4
    assert "profiling 2 functions (1 matched, 1 nested in them)" in answer


def test_lambdas_nested_defs_and_comprehensions_only_when_asked():
    import nestdemo
    from pyliveupdatescripts import FP

    t0 = now()
    answer = str(FP.profile("nestdemo.outer"))
    assert nestdemo.outer(4) == 10 + 14 + 10 + 10  # inner and square over 0..3, then two sums of inner
    hits = hits_since(t0)
    assert hits["nestdemo.outer"] == 1
    assert hits["nestdemo.outer.<locals>.inner"] == 12
    assert hits["nestdemo.outer.<locals>.<lambda>"] == 4
    assert not any("comp>" in name or "genexpr" in name for name in hits)
    assert "not profiled: " + ("2 comprehensions" if OLD else "1 generator expressions") in answer

    from pyliveupdate.updates import LU

    LU.revert_all()
    t1 = now()
    FP.profile("nestdemo.outer", comprehensions=True)
    nestdemo.outer(4)
    hits = hits_since(t1)
    assert hits["nestdemo.outer.<locals>.inner"] == 12
    assert hits["nestdemo.outer.<locals>.<genexpr>"] == 1
    if OLD:  # from 3.12 list comprehensions are inlined: no frame, no call
        assert hits["nestdemo.outer.<locals>.<listcomp>"] == 1


def test_revert_gives_back_every_original_code_object():
    import nestdemo
    from pyliveupdatescripts import FP, LU

    top = nestdemo.make_counter.__code__
    bump_code = nestdemo.make_counter().__code__
    before = nestdemo.make_counter()
    FP.profile("nestdemo.make_counter")
    during = nestdemo.make_counter()
    t0 = now()
    LU.revert(max(LU._updates))
    assert nestdemo.make_counter.__code__ is top
    assert before.__code__ is bump_code and during.__code__ is bump_code
    assert nestdemo.make_counter().__code__ is bump_code
    before()
    during()
    assert hits_since(t0) == {}
    assert all(f.__code__ is bump_code for f in functions_with_code(bump_code))


def test_nested_generators_and_local_classes():
    import nestdemo
    from pyliveupdatescripts import FP

    t0 = now()
    FP.profile(["nestdemo.make_producer", "nestdemo.with_class"])
    assert list(nestdemo.make_producer()(2)) == [0, 1]
    local = nestdemo.with_class()
    assert local().method() is True  # super() still finds the class cell
    assert local().twice() == [True, True]
    _trace, events, names = events_since(t0)
    kinds = [e[0] for e in events if e[0] != "update" and names.get(e[2]) == "nestdemo.make_producer.<locals>.produce"]
    assert kinds == ["enter", "suspend", "resume", "suspend", "resume", "exit"]
    hits = hits_since(t0)
    assert hits["nestdemo.with_class.<locals>.Local.method"] == 3
    assert hits["nestdemo.with_class.<locals>.Local.twice"] == 1


def test_a_closure_matched_and_nested_is_profiled_once():
    import nestdemo
    from pyliveupdatescripts import FP

    t0 = now()
    answer = str(FP.profile("nestdemo.**"))
    assert nestdemo.kept(1) == 11
    assert nestdemo.make_adder(1)(1) == 2
    hits = hits_since(t0)
    assert hits["nestdemo.make_adder.<locals>.<lambda>"] == 2
    assert "1 matched functions are profiled as nested in another matched one" in answer


def test_stub_work_on_a_host_thread_is_not_recorded():
    """FP.profile called by the program itself runs the stub's code (target search, instrumentation) on the
    program's thread: calls it makes into profiled modules are not the program's."""
    import inspect

    from pyliveupdatescripts import FP

    FP.profile("inspect.ismodule")
    t0 = now()
    FP.profile("nestdemo.outer")  # the target search calls inspect.ismodule
    assert inspect.ismodule(inspect)
    assert hits_since(t0) == {"inspect.ismodule": 1}


def test_the_answer_names_what_was_skipped_and_why():
    from pyliveupdatescripts import FP

    # An async generator nested in a profiled function is profiled on every version (≤ 3.11: by a trampoline).
    answer = str(FP.profile("nestdemo.stream"))
    assert "profiling 2 functions (1 matched, 1 nested in them)" in answer
    assert "skipped" not in answer
    answer = str(FP.profile("nestdemo.clash"))
    if OLD:
        why = "parameter names ['_pylu_x'] clash with the trampoline's"
        assert "profiling 1 functions (1 matched, 0 nested in them)" in answer
        assert f"skipped 1, by reason: {why} (1)" in answer
        assert f"skipped nestdemo.clash.<locals>.inner: {why}" in answer
    else:
        assert "profiling 2 functions (1 matched, 1 nested in them)" in answer
        assert "skipped" not in answer