"""LP's native line timer (stub/src/lines.rs) in this process: the hits it records against the counts the
program keeps itself (programs/linenative.py), through recursion, an exception unwinding out of a chosen line,
two threads, generators across resumptions, a debugger's call nested in a timed one, and a failure of
the timer, which must stop itself and leave the host running."""

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from conftest import PROGRAMS
from inproc import events_since, now

sys.path.insert(0, PROGRAMS)

pytestmark = pytest.mark.usefixtures("in_process_trace_dir", "revert_everything_after")


def _line_records(t0, func):
    """[(thread, line, duration, t)] of `func`'s line records since t0, in the order they ended."""
    _trace, events, names = events_since(t0)
    rows = [(e[1], e[3], e[4], e[5]) for e in events if e[0] == "line" and names[e[2]] == func]
    return sorted(rows, key=lambda r: r[3])


def _hits(rows) -> dict:
    out: dict = {}
    for _thread, line, _took, _t in rows:
        out[line] = out.get(line, 0) + 1
    return out


def _source(func) -> str:
    """What feeds the frame probes of `func` (the native timer or the Python callbacks)."""
    from pyliveupdate.instrument import frames

    with frames.registry.lock:
        found = [w.source for w in frames.registry.watches.values() if w.code.co_name == func.__name__
                 and w.code.co_firstlineno == func.__code__.co_firstlineno]
    assert len(found) == 1, found
    return found[0]


def test_native_timer_takes_lp_alone():
    import linenative as m
    from pyliveupdate import _native
    from pyliveupdatescripts import LP

    LP.profile("linenative.tracer_seen", [])
    assert _source(m.tracer_seen) == "native"
    if sys.version_info < (3, 12):
        # The C tracer is on for the call only, and the thread's tracer is back to none after it.
        assert m.tracer_seen() is _native.line_tracer
        assert sys.gettrace() is None
    else:
        tool = next(t for t in range(6) if sys.monitoring.get_tool(t) == "pylu-lines")
        assert sys.monitoring.get_local_events(tool, m.tracer_seen.__code__) & sys.monitoring.events.LINE


def test_recursion_each_frame_timed_on_its_own():
    import linenative as m
    from pyliveupdatescripts import LP

    lines = {k: m.line_of(k) for k in ("test", "base", "step")}
    LP.profile("linenative.rec", list(lines.values()))
    assert _source(m.rec) == "native"
    m.HITS.clear()
    t0 = now()
    assert m.rec(6) == 6 and m.rec(3) == 3
    rows = _line_records(t0, "linenative.rec")
    assert _hits(rows) == {lines[k]: m.HITS[k] for k in lines}
    # The outer frames' `step` lines end after, and last longer than, the inner ones they called (a timer keyed
    # by code object instead of frame would mix them up).
    steps = [took for _th, line, took, _t in rows if line == lines["step"]]
    assert len(steps) == 9
    first, second = steps[:6], steps[6:]
    assert first == sorted(first) and second == sorted(second)
    assert all(took > 0 for took in steps)


def test_exception_unwinding_out_of_a_chosen_line():
    import linenative as m
    from pyliveupdatescripts import LP

    lines = {k: m.line_of(k) for k in ("before", "call", "never")}
    LP.profile("linenative.unwinds", [])
    m.HITS.clear()
    t0 = now()
    for n in range(4):
        with pytest.raises(KeyError):
            m.unwinds(n)
    assert m.rec(2) == 2  # the thread's stack is still right afterwards
    rows = _line_records(t0, "linenative.unwinds")
    assert _hits(rows) == {lines["before"]: m.HITS["before"], lines["call"]: m.HITS["call"]}
    assert m.HITS["call"] == 4 and m.HITS["never"] == 0
    assert all(took > 0 for _th, line, took, _t in rows if line == lines["call"])


def test_two_threads_counted_apart():
    import linenative as m
    from pyliveupdatescripts import LP

    body = m.line_of("tbody")
    LP.profile("linenative.per_thread", [body])
    m.HITS.clear()
    t0 = now()
    barrier = threading.Barrier(2)

    def run(n):
        barrier.wait()
        for _ in range(20):
            m.per_thread(n)

    workers = [threading.Thread(target=run, args=(n,)) for n in (7, 11)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    rows = _line_records(t0, "linenative.per_thread")
    by_thread: dict = {}
    for thread, line, _took, _t in rows:
        assert line == body
        by_thread[thread] = by_thread.get(thread, 0) + 1
    assert sorted(by_thread.values()) == sorted(m.HITS[t.ident] for t in workers) == [140, 220]


@pytest.mark.parametrize("source", ["native", "python"])
def test_generator_lines_across_resumptions(source):
    """On every version: ≤ 3.11 traces the generator's frame for each resumption (drive's hooks), 3.12+ has
    sys.monitoring's local events; both record the same hits, and nothing stays traced between resumptions."""
    import linenative as m
    from pyliveupdatescripts import LD, LP

    lines = {k: m.line_of(k) for k in ("gstart", "gbody", "gyield", "gend")}
    LP.profile("linenative.produce", list(lines.values()))
    if source == "python":
        LD.debug("linenative.produce", [m.line_of("gend")], echo=False)  # a debugger takes the Python probes
    assert _source(m.produce) == source
    m.HITS.clear()
    t0 = now()
    gen = m.produce(5)
    got = [next(gen), next(gen)]
    assert sys.gettrace() is None  # the tracer (≤ 3.11) is on only while the generator's frame runs
    away = now()
    assert m.rec(3) == 3  # other code runs between resumptions
    back = now()
    got += list(gen)
    assert got == [0, 2, 4, 6, 8]
    rows = _line_records(t0, "linenative.produce")
    # A line's time stops at the yield and restarts at the resume: none spans the time the frame was away.
    assert not [r for r in rows if r[3] - r[2] < away and r[3] > back]
    assert _hits(rows) == {
        lines["gstart"]: m.HITS["gstart"],
        lines["gbody"]: m.HITS["gbody"],
        lines["gyield"]: m.HITS["gbody"],
        lines["gend"]: m.HITS["gend"],
    }
    assert m.HITS["gbody"] == 5
    # Closed while suspended, and thrown into: the frame runs its end inside the hooks too.
    t1 = now()
    gen = m.produce(5)
    next(gen)
    gen.close()
    gen = m.produce(5)
    next(gen)
    with pytest.raises(KeyError):
        gen.throw(KeyError(1))
    assert sys.gettrace() is None
    assert _hits(_line_records(t1, "linenative.produce")) == {lines["gstart"]: 2, lines["gbody"]: 2, lines["gyield"]: 2}


def test_debugger_nested_in_a_timed_call_and_back_to_native():
    import linenative as m
    from pyliveupdatescripts import LP, LU, VD

    LP.profile("linenative.calls_debugged", [])
    lp = max(u for u, x in LU._updates.items() if x.applied)
    VD.debug("linenative.debugged", "w", echo=False)
    assert _source(m.calls_debugged) == "native" and _source(m.debugged) == "python"
    t0 = now()
    assert m.calls_debugged(3) == 9
    _trace, events, names = events_since(t0)
    assert ("linenative.debugged", "w", "8") in [(names[e[2]], e[5], e[6]) for e in events if e[0] == "debug"]
    rows = _line_records(t0, "linenative.calls_debugged")
    assert _hits(rows) == {m.line_of(k): 1 for k in ("oa", "ob", "oret")}
    # A debugger on the timed function itself takes its lines back to the Python probes, and gives them back.
    VD.debug("linenative.calls_debugged", "a", echo=False)
    vd = max(u for u, x in LU._updates.items() if x.applied)
    assert _source(m.calls_debugged) == "python"
    t1 = now()
    assert m.calls_debugged(1) == 5
    assert _hits(_line_records(t1, "linenative.calls_debugged")) == {m.line_of(k): 1 for k in ("oa", "ob", "oret")}
    LU.revert(vd)
    assert _source(m.calls_debugged) == "native"
    LU.revert(lp)
    t2 = now()
    assert m.calls_debugged(1) == 5
    assert _line_records(t2, "linenative.calls_debugged") == []


def test_a_failing_timer_stops_itself_and_the_host_runs_on(tmp_path):
    # Its own process: a failed timer stays off in the process that saw it fail.
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {PROGRAMS!r})
        import linenative as m
        from pyliveupdate import _native
        from pyliveupdate.instrument import frames
        from pyliveupdatescripts import LP

        LP.profile("linenative.rec", [])
        _native.fail_next_line_for_test()
        assert m.rec(4) == 4 and m.rec(2) == 2
        assert "native line timer failed" in _native.lines_error()
        answer = LP.profile("linenative.unwinds", [])  # profiled after the failure: the Python probes time it
        assert "lines timed by the Python probes (slower): the native line timer failed" in answer, answer
        from pyliveupdate.updates import LU

        listing = str(LU.ls())
        assert "line timer: " in listing and "native line timer failed" in listing, listing
        try:
            m.unwinds(1)
        except KeyError:
            pass
        sources = sorted(w.source for w in frames.registry.watches.values())
        _native.flush()
        trace = _native.read_trace(_native.trace_path())
        names = {{e[2]: e[3] for e in trace["events"] if e[0] == "func_def"}}
        timed = sorted({{names[e[2]] for e in trace["events"] if e[0] == "line"}})
        print(sources, timed)
        """
    )
    env = dict(os.environ, PYLU_TRACE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "['native', 'python'] ['unwinds']", r.stdout + r.stderr
    assert r.stderr.count("pylu: the native line timer failed") == 1, r.stderr
