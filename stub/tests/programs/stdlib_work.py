"""A deterministic workload over stdlib modules (json with its pure-Python encoder and scanner, fractions,
difflib), counted three ways by test_stdlib_counts.py, each in a fresh interpreter:

    python stdlib_work.py cprofile   cProfile's ncalls per function
    python stdlib_work.py starts     invocations counted independently (3.12+: sys.monitoring PY_START; ≤ 3.11:
                                     settrace 'call' events of frames that had not run yet), with each
                                     function's kind
    python stdlib_work.py pylu       the hits pylu records (FP.profile of the three modules, nested functions
                                     and comprehensions included), read back from its trace

Each prints {"file:first line:name": [count, is_generator_or_coroutine]} as JSON, for the modules' functions.
"""

import difflib
import fractions
import json
import json.decoder
import json.encoder
import json.scanner
import os
import sys

json.encoder.c_make_encoder = None
json.encoder.encode_basestring = json.encoder.py_encode_basestring
json.encoder.encode_basestring_ascii = json.encoder.py_encode_basestring_ascii
json.scanner.make_scanner = json.scanner.py_make_scanner

FILES = {os.path.realpath(f) for f in (json.__file__, json.encoder.__file__, json.decoder.__file__,
                                      json.scanner.__file__, fractions.__file__, difflib.__file__)}
PATTERNS = ["json.**", "fractions.**", "difflib.**"]
CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR = 0x20, 0x80, 0x200


def work():
    data = {"a": [1, 2.5, "x\u00e9\n", None, True, {"b": [3, -4.25, float("inf")]}], "c": 'q"', "d": list(range(9))}
    for _ in range(10):
        text = json.dumps(data)
        json.dumps(data, indent=2, sort_keys=True)
        json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        json.JSONDecoder().decode(text)
        json.loads(text, object_pairs_hook=dict)
    f = fractions.Fraction(0)
    for i in range(1, 40):
        f += fractions.Fraction(1, i) * fractions.Fraction(i, i + 1) - fractions.Fraction(1, 3)
        f = f.limit_denominator(10**6)
    (str(f), float(f), round(f, 3), fractions.Fraction("3.1415"), fractions.Fraction(2.5), f < 1, f == fractions.Fraction(1, 2))
    a = [f"line {i % 7} {i // 3}" for i in range(60)]
    b = [f"line {i % 5} {i // 3}" for i in range(60)]
    list(difflib.unified_diff(a, b))
    list(difflib.context_diff(a[:30], b[:30]))
    list(difflib.ndiff(a[:15], b[:15]))
    difflib.SequenceMatcher(None, "abcdefgh" * 8, "abxdefgy" * 8).ratio()
    difflib.get_close_matches("appel", ["ape", "apple", "peach", "puppy"])


def key(file, first_line, name):
    return f"{os.path.realpath(file)}:{first_line}:{name}"


def is_generator(code) -> bool:
    return bool(code.co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR))


def by_cprofile() -> dict:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    work()
    prof.disable()
    return {
        key(file, line, name): [stat[1], None]
        for (file, line, name), stat in pstats.Stats(prof).stats.items()
        if os.path.realpath(file) in FILES
    }


def by_starts() -> dict:
    counts: dict = {}

    def count(code):
        if os.path.realpath(code.co_filename) in FILES:
            k = key(code.co_filename, code.co_firstlineno, code.co_name)
            counts.setdefault(k, [0, is_generator(code)])[0] += 1

    if sys.version_info >= (3, 12):
        mon = sys.monitoring
        tool = next(t for t in range(6) if mon.get_tool(t) is None)
        mon.use_tool_id(tool, "counter")
        mon.register_callback(tool, mon.events.PY_START, lambda code, offset: count(code))
        mon.set_events(tool, mon.events.PY_START)
        work()
        mon.set_events(tool, 0)
    else:
        import dis

        resume = dis.opmap.get("RESUME")

        def first_run(frame) -> bool:
            if resume is None:
                return frame.f_lasti == -1  # ≤ 3.10: no instruction run yet
            code = frame.f_code.co_code  # 3.11: at RESUME 0, the function's start (not RESUME 1+, a resumption)
            return code[frame.f_lasti] == resume and code[frame.f_lasti + 1] == 0

        def tracer(frame, event, arg):
            if event == "call" and first_run(frame):
                count(frame.f_code)

        sys.settrace(tracer)
        work()
        sys.settrace(None)
    return counts


def by_pylu() -> dict:
    from pyliveupdate import _native
    from pyliveupdatescripts import FP, LU

    print(FP.profile(PATTERNS, comprehensions=True), file=sys.stderr)
    work()
    LU.revert_all()
    _native.flush()
    trace = _native.read_trace(_native.trace_path())
    assert trace["errors"] == [], trace["errors"]
    defs = {e[2]: e for e in trace["events"] if e[0] == "func_def"}
    counts: dict = {}
    for e in trace["events"]:
        if e[0] == "enter":
            _, _, _id, qualname, _module, file, line = defs[e[2]]
            counts.setdefault(key(file, line, qualname.rsplit(".", 1)[-1]), [0, None])[0] += 1
    return counts


if __name__ == "__main__":
    how = {"cprofile": by_cprofile, "starts": by_starts, "pylu": by_pylu}[sys.argv[1]]
    print(json.dumps(how()))
