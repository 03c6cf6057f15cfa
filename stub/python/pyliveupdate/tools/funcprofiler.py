"""``FP``: the function profiler. ``FP.profile(['__main__.**', 'module1.**'])`` records every call of the
matched functions and of the functions defined inside them (nested ``def``s, closures, lambdas; comprehensions
and generator expressions with ``comprehensions=True``) into the trace; nothing is printed per call unless
``echo=True``."""

from __future__ import annotations

import collections
import sys

from pyliveupdate.instrument import Options, instrumentation, stub_work
from pyliveupdate.instrument.nested import tree, walk
from pyliveupdate.probing import pattern_list, resolve_reporting
from pyliveupdate.text import Text
from pyliveupdate.updates import LU

# Skipped functions listed one by one in the answer; beyond that, only counted per reason.
_LISTED = 20


class FuncProfiler:
    def profile(self, targets, echo: bool = False, nested: bool = True, comprehensions: bool = False) -> Text:
        """`nested`: also profile the functions defined inside the matched ones (closures made before or after
        the update alike). `comprehensions`: also the comprehensions and generator expressions inside them (on
        Python ≤ 3.11 every comprehension is a call; from 3.12 only generator expressions are)."""
        with stub_work():
            return self._profile(targets, echo, Options(nested=nested, comprehensions=comprehensions))

    def _profile(self, targets, echo: bool, options: Options) -> Text:
        patterns = pattern_list(targets)
        targets_found, missing = resolve_reporting(patterns, "profile", options)
        inside = _nested_in_others(targets_found, options)
        chosen = [t for t in targets_found if id(t.func.__code__) not in inside]
        description = f"FP.profile({patterns!r}" + _option_text(echo, options) + ")"
        with instrumentation.batch():
            update = LU.add("FuncProfiler", description, chosen, echo)
        return Text("\n".join(_answer(update, len(targets_found) - len(chosen), missing)))


def _nested_in_others(targets, options: Options) -> set:
    """id() of the code objects nested in the targets: a matched function made from one (a closure a module
    keeps as an attribute) is profiled as part of the function it is defined in, not twice."""
    codes: set = set()
    for t in targets:
        codes.update(id(n.code) for n in walk(tree(t.func.__code__, t.func.__qualname__, options)))
    return codes


def _option_text(echo: bool, options: Options) -> str:
    parts = []
    if echo:
        parts.append("echo=True")
    if not options.nested:
        parts.append("nested=False")
    if options.comprehensions:
        parts.append("comprehensions=True")
    return "".join(", " + p for p in parts)


def _answer(update, reached_inside: int, missing: list) -> list:
    nested = 0
    not_asked = 0
    skipped = list(update.skipped)
    for target in update.active:
        found = instrumentation.nested_of(target.func)
        if found is not None:
            nested += found[0]
            skipped += found[1]
            not_asked += found[2]
    total = len(update.active) + nested
    lines = [f"update {update.id}: profiling {total} functions ({len(update.active)} matched, {nested} nested in them)"]
    if reached_inside:
        lines.append(f"  {reached_inside} matched functions are profiled as nested in another matched one")
    if skipped:
        reasons = collections.Counter(why for _name, why in skipped)
        lines.append(f"  skipped {len(skipped)}, by reason: " + "; ".join(f"{why} ({n})" for why, n in reasons.most_common()))
        lines += [f"  skipped {name}: {why}" for name, why in skipped[:_LISTED]]
        if len(skipped) > _LISTED:
            lines.append(f"  ... and {len(skipped) - _LISTED} more skipped")
    if not_asked:
        what = "comprehensions and generator expressions" if sys.version_info < (3, 12) else "generator expressions"
        lines.append(f"  not profiled: {not_asked} {what} (FP.profile(..., comprehensions=True) profiles them)")
    lines += [f"  not found: {m}" for m in missing]
    return lines


FP = FuncProfiler()
