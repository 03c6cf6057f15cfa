"""``LP``: the line profiler. ``LP.profile('__main__.bar', [11, 12])`` records, per execution of each chosen
line, how long it ran (from the line's start to the next line event or the frame's return or unwind; callees
included, as line_profiler counts); every line of the function when the list is empty. Targets are patterns
as FP takes them. The calls of the functions are recorded too (their enter and exit), which gives the lines'
report each function's own time. ``pylu-analyze lines`` reports them. The lines of a function that only LP
watches are timed natively, without a Python callback per line (instrument/lines.py)."""

from __future__ import annotations

from .instrument import frames
from .instrument import lines as native_lines
from .probing import apply, chosen_lines, line_numbers, resolve
from .text import Text


class _LineTimes(frames.Probe):
    def __init__(self, lines: frozenset, every_line: bool) -> None:
        self.lines = lines
        # Every line asked: also every line of new code the function gets later (Redefine).
        self.every_line = every_line


class LineProfiler:
    @staticmethod
    def profile(targets, lines=()) -> Text:
        """`targets`: a pattern or a list of them; `lines`: line numbers (all the function's when empty). When
        a pattern matches several functions, each is profiled on the chosen lines it holds."""
        asked = line_numbers(lines)
        found = resolve(targets, "line-profile")
        chosen: dict = {}
        errors = []
        for target in found:
            try:
                chosen[id(target.func)] = chosen_lines(target, asked)
            except Exception as why:  # noqa: BLE001  (UpdateError: a line the function does not have)
                errors.append((target, why))
        if errors and (len(found) == 1 or not chosen):
            raise errors[0][1]
        targets_ok = [t for t in found if id(t.func) in chosen]
        description = f"LP.profile({targets!r}, {list(asked)!r})"
        answer = apply("LineProfiler", description, targets_ok, lambda t: _LineTimes(chosen[id(t.func)], not asked))
        failed = native_lines.error()
        if failed is not None:
            answer = Text(f"{answer}\n  lines timed by the Python probes (slower): {failed}")
        return answer


LP = LineProfiler
