"""``FP``: the function profiler. ``FP.profile(['__main__.**', 'module1.**'])`` records every call of the
matched functions (enter and exit, with the time) into the trace; nothing is printed per call unless
``echo=True``."""

from __future__ import annotations

from pyliveupdate.instrument.targets import TargetNotFound, find
from pyliveupdate.text import Text
from pyliveupdate.updates import LU, UpdateError


class FuncProfiler:
    def profile(self, targets, echo: bool = False) -> Text:
        patterns = [targets] if isinstance(targets, str) else list(targets)
        found: dict = {}
        missing = []
        for pattern in patterns:
            try:
                for target in find(pattern):
                    found.setdefault(id(target.func), target)
            except TargetNotFound as why:
                missing.append(str(why))
        if not found:
            raise UpdateError("nothing to profile: " + ("; ".join(missing) or f"{patterns!r} matched no function"))
        description = f"FP.profile({patterns!r})"
        update = LU.add("FuncProfiler", description, sorted(found.values(), key=lambda t: t.name), echo)
        lines = [f"update {update.id}: profiling {len(update.active)} functions"]
        lines += [f"  skipped {name}: {why}" for name, why in update.skipped]
        lines += [f"  not found: {m}" for m in missing]
        return Text("\n".join(lines))


FP = FuncProfiler()
