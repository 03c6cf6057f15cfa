"""Instrument payloads and Redefine with the original's API, in this process: join points and payload
binding, exact revert in any order with FP and LP, threads, bad input."""

import os
import sys

import pytest

from conftest import PROGRAMS
from inproc import now, while_called
from test_lines_debug import _debug_since, _last_update, _lines_since

sys.path.insert(0, PROGRAMS)

pytestmark = pytest.mark.usefixtures("in_process_trace_dir", "revert_everything_after")


def _line(marker):
    with open(os.path.join(PROGRAMS, "redefdemo.py")) as f:
        for number, text in enumerate(f, 1):
            if text.rstrip().endswith("# L:" + marker):
                return number
    raise LookupError(marker)


def test_join_points_and_binding():
    import redefdemo
    from pyliveupdate.update import Instrument, UpdateManager

    seen = []
    b_line, ret_line = _line("b"), _line("ret")
    update = Instrument("redefdemo.foo", {
        ("func_begin",): lambda _parameters: seen.append(("begin", _parameters)),
        "func_end": lambda _returnvalues: seen.append(("end", _returnvalues)),
        ("line_before", (ret_line,)): lambda _righthands, a: seen.append(("before", _righthands, a)),
        ("line_after", b_line): lambda _lefthands: seen.append(("after", _lefthands)),
        ("var_def", ("b",)): lambda _variable: seen.append(("def", _variable)),
        ("var_use", "b"): lambda _variable: seen.append(("use", _variable)),
    })
    code = redefdemo.foo.__code__
    UpdateManager.apply_update(update)
    assert redefdemo.foo(3) == 8
    assert ("begin", {"a": 3}) in seen
    assert ("end", 8) in seen
    assert ("before", {"b": 4}, 3) in seen
    assert ("after", {"b": 4}) in seen
    assert ("def", {"b": 4}) in seen and ("use", {"b": 4}) in seen
    from pyliveupdatescripts import LU

    LU.revert(_last_update())
    assert redefdemo.foo.__code__ is code
    seen.clear()
    redefdemo.foo(1)
    assert seen == []


def test_a_payload_that_raises_is_reported_once_and_skipped(capsys):
    import redefdemo
    from pyliveupdate.update import Instrument, UpdateManager

    def broken(a):
        raise RuntimeError("payload bug")

    UpdateManager.apply_update(Instrument("redefdemo.foo", {("func_begin",): broken}))
    assert [redefdemo.foo(i) for i in range(3)] == [2, 4, 6]
    err = capsys.readouterr().err
    assert err.count("RuntimeError: payload bug") == 1 and "Traceback" in err


def test_bad_instruments_change_nothing():
    from pyliveupdate.update import Instrument
    from pyliveupdate.updates import UpdateError
    from pyliveupdatescripts import LU

    before = len(LU._updates)
    with pytest.raises(UpdateError, match="does not have"):
        Instrument("redefdemo.foo", {("func_begin",): lambda nosuch: None})
    with pytest.raises(UpdateError, match="has no code on line 1"):
        Instrument("redefdemo.foo", {("line_after", (1,)): lambda: None})
    with pytest.raises(UpdateError, match="has no variable 'zz'"):
        Instrument("redefdemo.foo", {("var_def", ("zz",)): lambda _variable: None})
    with pytest.raises(UpdateError, match="join point"):
        Instrument("redefdemo.foo", {("line_middle",): lambda: None})
    with pytest.raises(UpdateError, match="no loaded module"):
        Instrument("__mian__.foo", {("func_begin",): lambda: None})
    assert len(LU._updates) == before


def _predefine():
    from redefdemo import helper  # noqa: F401


def _new_foo(a):
    return helper(a)  # noqa: F821  (bound by the predefine in the module)


def test_redefine_every_reference_and_revert_exact():
    import redefdemo
    from pyliveupdate.update import Redefine, UpdateManager
    from pyliveupdatescripts import LU
    from redefdemo import foo as imported

    code = redefdemo.foo.__code__
    UpdateManager.apply_update(Redefine("redefdemo", _predefine, {"redefdemo.foo": _new_foo}))
    assert imported(2) == 20 and redefdemo.routes["foo"](3) == 30
    LU.revert(_last_update())
    assert redefdemo.foo.__code__ is code
    assert imported(2) == 6


def test_redefine_refuses_another_closure():
    import redefdemo
    from pyliveupdate.update import Redefine
    from pyliveupdate.updates import UpdateError

    x = 1

    def closes_over(a):
        return a + x

    code = redefdemo.foo.__code__
    with pytest.raises(UpdateError, match="free variables"):
        Redefine("redefdemo", None, {"redefdemo.foo": closes_over})
    assert redefdemo.foo.__code__ is code


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (1, 2, 0)])
def test_profiled_then_redefined_stays_profiled_and_reverts_in_any_order(order):
    import redefdemo
    from pyliveupdate.update import Redefine, UpdateManager
    from pyliveupdatescripts import FP, LP, LU
    from inproc import hits_since

    code = redefdemo.foo.__code__
    FP.profile("redefdemo.foo")
    ids = [_last_update()]
    LP.profile("redefdemo.foo", [])
    ids.append(_last_update())
    UpdateManager.apply_update(Redefine("redefdemo", _predefine, {"redefdemo.foo": _new_foo}))
    ids.append(_last_update())
    t0 = now()
    assert redefdemo.foo(4) == 40
    assert hits_since(t0)["redefdemo.foo"] == 1
    assert _lines_since(t0)  # the new code's lines
    for k in order:
        LU.revert(ids[k])
        redefined = LU._updates[ids[2]].applied
        assert redefdemo.foo(1) == (10 if redefined else 4)
    assert redefdemo.foo.__code__ is code


def test_redefine_reverted_under_four_threads():
    import redefdemo
    from pyliveupdate.update import Redefine, UpdateManager
    from pyliveupdatescripts import FP, LU

    def redefine_and_revert():
        FP.profile("redefdemo.foo")
        for _ in range(20):
            UpdateManager.apply_update(Redefine("redefdemo", _predefine, {"redefdemo.foo": _new_foo}))
            LU.revert(_last_update())

    assert while_called(lambda: redefdemo.foo(2), lambda r: r in (6, 20), redefine_and_revert) == []


def test_patch_file(tmp_path):
    import redefdemo
    from pyliveupdatescripts import LU, patch

    p = tmp_path / "patch.py"
    p.write_text(
        "from pyliveupdate.update import Redefine, UpdateManager\n"
        "def predefine():\n"
        "    from redefdemo import helper\n"
        "def new_foo(a):\n"
        "    return helper(a) + 1\n"
        "UpdateManager.apply_update(Redefine('redefdemo', predefine, {'redefdemo.foo': new_foo}))\n"
    )
    answer = str(patch(str(p)))
    assert "1 updates applied" in answer
    assert redefdemo.foo(2) == 21
    LU.revert(_last_update())
    assert redefdemo.foo(2) == 6


def _new_foo_other_lines(x):
    pad = 0
    b = x * 10 + pad
    return b


def test_debuggers_and_payloads_follow_the_new_code_of_a_redefine(capsys):
    """FD, LD (every line), VD and Instrument's var_def on a function later redefined (a Flask view hot-fixed
    by `patch()`) report the new code: its parameters, its lines, where it reads and assigns the variable. They
    used to keep the old code's parameter names and line numbers and so went silent until the Redefine was
    reverted."""
    import redefdemo
    from pyliveupdate.update import Instrument, Redefine, UpdateManager
    from pyliveupdatescripts import FD, LD, LU, VD

    seen = []
    FD.debug("redefdemo.foo", echo=False)
    LD.debug("redefdemo.foo", [], echo=False)
    VD.debug("redefdemo.foo", "b")
    watch_b = Instrument("redefdemo.foo", {("var_def", ("b",)): lambda _variable: seen.append(_variable)})
    UpdateManager.apply_update(watch_b)
    UpdateManager.apply_update(Redefine("redefdemo", None, {"redefdemo.foo": _new_foo_other_lines}))
    redefine = _last_update()
    new_first = _new_foo_other_lines.__code__.co_firstlineno
    t0 = now()
    assert redefdemo.foo(4) == 40
    got = _debug_since(t0)
    assert ("redefdemo.foo", "parameters", "x", "4") in [(f, k, n, v) for f, _l, k, n, v in got]
    assert ("redefdemo.foo", "return", "return", "40") in [(f, k, n, v) for f, _l, k, n, v in got]
    # VD's and LD's values at the new code's lines: b assigned on the second line of the body, read on the third.
    assert [(line - new_first, n, v) for _f, line, k, n, v in got if k == "defined"].count((2, "b", "40")) == 2
    assert (3, "b", "40") in [(line - new_first, n, v) for _f, line, k, n, v in got if k == "used"]
    assert (1, "pad", "0") in [(line - new_first, n, v) for _f, line, k, n, v in got if k == "defined"]
    assert seen == [{"b": 40}]
    assert f"redefdemo.foo:{new_first + 2} defvalues: b=40" in capsys.readouterr().err

    # Reverted, they report the original code again.
    LU.revert(redefine)
    seen.clear()
    t0 = now()
    assert redefdemo.foo(3) == 8
    got = _debug_since(t0)
    assert ("parameters", "a", "3") in [(k, n, v) for _f, _l, k, n, v in got]
    assert (_line("b"), "defined", "b", "4") in [(line, k, n, v) for _f, line, k, n, v in got]
    assert seen == [{"b": 4}]
