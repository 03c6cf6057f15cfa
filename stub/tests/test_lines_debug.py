"""LineProfiler and the debuggers in this process, on both backends (code swap ≤ 3.11, sys.monitoring 3.12+):
line hits and times, debug values in the trace and on stderr, exact revert, overlapping updates, bad input."""

import re
import sys

import pytest

from conftest import PROGRAMS
from inproc import events_since, now, while_called

sys.path.insert(0, PROGRAMS)

pytestmark = pytest.mark.usefixtures("in_process_trace_dir", "revert_everything_after")


def _lines_since(t0):
    _trace, events, names = events_since(t0)
    out: dict = {}
    for e in events:
        if e[0] == "line":
            key = (names[e[2]], e[3])
            hits, total = out.get(key, (0, 0))
            out[key] = (hits + 1, total + e[4])
    return out


def _debug_since(t0):
    _trace, events, names = events_since(t0)
    return [(names[e[2]], e[3], e[4], e[5], e[6]) for e in events if e[0] == "debug"]


def _last_update():
    from pyliveupdatescripts import LU

    return max(u for u, x in LU._updates.items() if x.applied)


def test_chosen_lines_hits_and_revert_exact():
    import linedemo
    from pyliveupdatescripts import LP, LU

    code = linedemo.bar.__code__
    loop, c = linedemo.line_of("loop"), linedemo.line_of("c")
    t0 = now()
    answer = LP.profile("linedemo.bar", [loop, c])
    assert "linedemo.bar" in str(answer)
    assert linedemo.bar(5) == sum(i * 2 for i in range(5)) + 1
    linedemo.bar(3)
    lines = _lines_since(t0)
    assert lines[("linedemo.bar", loop)][0] == 5 + 3
    assert lines[("linedemo.bar", c)][0] == 2
    assert set(lines) == {("linedemo.bar", loop), ("linedemo.bar", c)}
    assert all(total > 0 for _hits, total in lines.values())
    LU.revert(_last_update())
    assert linedemo.bar.__code__ is code
    t1 = now()
    linedemo.bar(2)
    assert _lines_since(t1) == {}


def test_every_line_when_empty_and_patterns():
    import linedemo
    from pyliveupdatescripts import LP

    t0 = now()
    LP.profile(["linedemo.bar"], [])
    linedemo.bar(2)
    got = {line for (_f, line) in _lines_since(t0)}
    expected = {linedemo.line_of(m) for m in ("init", "loop", "c", "ret")}
    assert expected <= got


def test_exception_closes_the_last_line():
    import linedemo
    from pyliveupdatescripts import LP

    t0 = now()
    LP.profile("linedemo.fails", [])
    with pytest.raises(ValueError):
        linedemo.fails(1)
    lines = _lines_since(t0)
    assert lines[("linedemo.fails", linedemo.line_of("raise"))][0] == 1
    assert lines[("linedemo.fails", linedemo.line_of("y"))][0] == 1


def test_overlapping_fp_lp_vd_revert_in_any_order():
    import linedemo
    from pyliveupdatescripts import FP, LP, LU, VD

    code = linedemo.bar.__code__
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        ids = []
        FP.profile("linedemo.bar")
        ids.append(_last_update())
        LP.profile("linedemo.bar", [linedemo.line_of("c")])
        ids.append(_last_update())
        VD.debug("linedemo.bar", "c", echo=False)
        ids.append(_last_update())
        t0 = now()
        assert linedemo.bar(2) == 3
        assert _lines_since(t0)[("linedemo.bar", linedemo.line_of("c"))][0] == 1
        assert ("linedemo.bar", linedemo.line_of("c"), "defined", "c", "3") in _debug_since(t0)
        for k in order:
            LU.revert(ids[k])
            assert linedemo.bar(2) == 3
        assert linedemo.bar.__code__ is code
        t1 = now()
        linedemo.bar(2)
        assert _lines_since(t1) == {} and _debug_since(t1) == []


def test_func_debugger_parameters_return_and_exception(capsys):
    import linedemo
    from pyliveupdatescripts import FD

    t0 = now()
    FD.debug(["linedemo.bar", "linedemo.fails"])
    linedemo.bar(2, b=5)
    with pytest.raises(ValueError):
        linedemo.fails(4)
    got = _debug_since(t0)
    kinds = [(f, k, n, v) for f, _l, k, n, v in got]
    assert ("linedemo.bar", "parameters", "a", "2") in kinds
    assert ("linedemo.bar", "parameters", "b", "5") in kinds
    assert ("linedemo.bar", "return", "return", "6") in kinds
    assert ("linedemo.fails", "return", "exception", "ValueError('bad 5')") in kinds
    err = capsys.readouterr().err
    assert "pylu-debug: linedemo.bar" in err and "parameters: a=2, b=5" in err
    assert "returnvalues: return=6" in err


def test_line_debugger_uses_and_defs_echo_off(capsys):
    import linedemo
    from pyliveupdatescripts import LD

    c = linedemo.line_of("c")
    t0 = now()
    LD.debug("linedemo.bar", [c], echo=False)
    linedemo.bar(3)
    got = [(k, n, v) for _f, line, k, n, v in _debug_since(t0) if line == c]
    assert ("used", "total", "6") in got
    assert ("defined", "c", "7") in got
    assert "pylu-debug" not in capsys.readouterr().err


def test_var_debugger_every_value():
    import linedemo
    from pyliveupdatescripts import VD

    t0 = now()
    VD.debug("linedemo.bar", "total", echo=False)
    linedemo.bar(3)
    defined = [v for _f, _l, k, n, v in _debug_since(t0) if k == "defined" and n == "total"]
    assert defined == ["0", "0", "2", "6"]


def test_repr_failures_and_cut(capsys):
    import linedemo
    from pyliveupdatescripts import FD

    FD.debug(["linedemo.weird", "linedemo.big"], repr_limit=50)
    t0 = now()
    assert isinstance(linedemo.weird(linedemo.Loud()), linedemo.Loud)
    assert isinstance(linedemo.weird(linedemo.Deep()), linedemo.Deep)
    assert linedemo.big(10_000) == 10_000
    values = [v for _f, _l, k, n, v in _debug_since(t0) if k == "parameters"]
    assert values[0] == "<repr failed: RuntimeError: no repr for you>"
    assert values[1].startswith("<repr failed: RecursionError")
    assert values[2] == "10000"
    big = [v for f, _l, k, n, v in _debug_since(t0) if f == "linedemo.big" and k == "return"]
    assert big == ["10000"]


def test_bad_inputs_change_nothing():
    import linedemo
    from pyliveupdate.updates import UpdateError
    from pyliveupdatescripts import LD, LP, LU, VD

    before = len(LU._updates)
    with pytest.raises(UpdateError, match="no loaded module matches '__mian__.bar'"):
        LP.profile("__mian__.bar", [1])
    with pytest.raises(UpdateError, match="has no code on line 999"):
        LP.profile("linedemo.bar", [999])
    with pytest.raises(UpdateError, match="no variable 'nope'"):
        VD.debug("linedemo.bar", "nope")
    with pytest.raises(UpdateError, match="lines are line numbers"):
        LD.debug("linedemo.bar", ["x"])
    assert len(LU._updates) == before
    assert linedemo.bar(1) == 1


def test_an_attribute_name_is_refused_as_a_variable():
    """`VD.debug('...Store.get', 'items')` where the code only has `self.items`: refused with why. It used to be
    accepted (the name is in `co_names`) and then never reported anything."""
    import instances
    from pyliveupdate.update import Instrument
    from pyliveupdate.updates import UpdateError
    from pyliveupdatescripts import LU, VD

    before = len(LU._updates)
    says = "'items' is not a variable of instances.Store.get: there it is only an attribute or method name (x.items)"
    with pytest.raises(UpdateError, match=re.escape(says)):
        VD.debug("instances.Store.get", "items")
    with pytest.raises(UpdateError, match=re.escape(says)):
        Instrument("instances.Store.get", {("var_use", ("items",)): lambda _variable: None})
    assert len(LU._updates) == before
    t0 = now()
    VD.debug("instances.Store.get", "count", echo=False)
    assert instances.store.get("Apple") == 3
    assert [(k, n, v) for _f, _l, k, n, v in _debug_since(t0)] == [("defined", "count", "3"), ("used", "count", "3")]


def test_threads_see_whole_states_while_applied_and_reverted():
    import linedemo
    from pyliveupdatescripts import LP, LU

    def apply_and_revert():
        for _ in range(20):
            LP.profile("linedemo.bar", [])
            LU.revert(_last_update())

    assert while_called(lambda: linedemo.bar(4), lambda r: r == 13, apply_and_revert) == []


def test_generator_lines_and_debuggers():
    """Every version (≤ 3.11: the trampoline's drive runs each step inside the probes' hooks)."""
    import linedemo
    from pyliveupdatescripts import FD, LP, VD

    t0 = now()
    LP.profile("linedemo.gen", [linedemo.line_of("yield")])
    FD.debug("linedemo.gen_returns", echo=False)
    VD.debug("linedemo.gen", "i", echo=False)
    assert list(linedemo.gen(3)) == [0, 1, 2]
    g = linedemo.gen_returns(2, k=10)
    assert [next(g), next(g)] == [10, 11]
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == 21
    assert _lines_since(t0)[("linedemo.gen", linedemo.line_of("yield"))][0] == 3
    got = _debug_since(t0)
    assert [(k, n, v) for f, _l, k, n, v in got if f == "linedemo.gen_returns"] == [
        ("parameters", "n", "2"), ("parameters", "k", "10"), ("return", "return", "21")]
    # The for line runs a 4th time to end the loop and VD shows `i` after each line assigning it (as on 3.12+).
    assert [v for f, _l, k, n, v in got if f == "linedemo.gen" and k == "defined"] == ["0", "1", "2", "2"]


def test_generator_line_debugger_and_instrument():
    import linedemo
    from pyliveupdate.update import Instrument, UpdateManager
    from pyliveupdatescripts import LD, LU

    code = linedemo.gen_returns.__code__
    step = linedemo.line_of("gstep")
    seen = []
    UpdateManager.apply_update(Instrument("linedemo.gen_returns", {
        ("func_begin",): lambda _parameters: seen.append(("begin", _parameters)),
        ("func_end",): lambda _returnvalues: seen.append(("end", _returnvalues)),
        ("line_after", (step,)): lambda i: seen.append(("after", i)),
    }))
    LD.debug("linedemo.gen_returns", [step], echo=False)
    t0 = now()
    assert list(linedemo.gen_returns(2, k=5)) == [5, 6]
    assert seen == [("begin", {"n": 2, "k": 5}), ("after", 0), ("after", 1), ("end", 11)]
    used = [(n, v) for f, line, k, n, v in _debug_since(t0) if f == "linedemo.gen_returns" and line == step]
    assert used == [("k", "5"), ("i", "0"), ("k", "5"), ("i", "1")]
    LU.revert(_last_update())
    LU.revert(_last_update())
    assert linedemo.gen_returns.__code__ is code


def test_coroutine_lines_and_func_debugger():
    import asyncio

    import linedemo
    from pyliveupdatescripts import FD, LP, LU

    code = linedemo.coro.__code__
    t0 = now()
    LP.profile("linedemo.coro", [linedemo.line_of("await"), linedemo.line_of("total")])
    FD.debug("linedemo.coro", echo=False)
    assert asyncio.run(linedemo.coro(3)) == 3
    lines = _lines_since(t0)
    assert lines[("linedemo.coro", linedemo.line_of("await"))][0] == 3
    assert lines[("linedemo.coro", linedemo.line_of("total"))][0] == 3
    got = [(k, n, v) for f, _l, k, n, v in _debug_since(t0) if f == "linedemo.coro"]
    assert got == [("parameters", "n", "3"), ("return", "return", "3")]
    LU.revert(_last_update())
    LU.revert(_last_update())
    assert linedemo.coro.__code__ is code


def test_generator_fp_and_lp_revert_in_any_order():
    import linedemo
    from pyliveupdatescripts import FP, LP, LU

    code = linedemo.gen.__code__
    for order in ([0, 1], [1, 0]):
        ids = []
        FP.profile("linedemo.gen")
        ids.append(_last_update())
        LP.profile("linedemo.gen", [])
        ids.append(_last_update())
        t0 = now()
        assert list(linedemo.gen(2)) == [0, 1]
        _trace, events, names = events_since(t0)
        calls = [e[0] for e in events if e[0] in ("enter", "suspend", "resume", "exit") and names[e[2]] == "linedemo.gen"]
        assert calls == ["enter", "suspend", "resume", "suspend", "resume", "exit"]
        assert _lines_since(t0)[("linedemo.gen", linedemo.line_of("yield"))][0] == 2
        LU.revert(ids[order[0]])
        t1 = now()
        assert list(linedemo.gen(2)) == [0, 1]
        assert (("linedemo.gen", linedemo.line_of("yield")) in _lines_since(t1)) == (order[0] == 0)
        LU.revert(ids[order[1]])
        assert linedemo.gen.__code__ is code
        t2 = now()
        assert list(linedemo.gen(2)) == [0, 1]
        assert _lines_since(t2) == {}
