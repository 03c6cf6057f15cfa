"""Updates: every modification applied to the running program (a FuncProfiler run now; line profiling,
debuggers, Instrument and Redefine next), listed, reverted and re-applied by id. Each apply and revert writes
an update marker to the trace."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from . import _native, recording
from .instrument import NotInstrumentable, instrumentation
from .text import Text

# Reverted updates kept (to be listed and re-applied); older ones are forgotten, so a long apply/revert session
# does not grow the history forever. Applied updates are always kept.
MAX_REVERTED_KEPT = 32
# LU.ls() names at most this many functions under an applied update (LU.ls(full=True): all, reverted ones too).
LISTED = 20

_applies = threading.local()


def applies_on_this_thread() -> int:
    """How many updates this thread has applied (the control channel tells an apply that records nothing)."""
    return getattr(_applies, "count", 0)


class UpdateError(Exception):
    pass


@dataclass
class Update:
    id: int
    kind: str
    description: str
    targets: list  # [Target]
    echo: bool = False
    applied: bool = False
    skipped: list = field(default_factory=list)  # [(name, reason)]
    created: float = field(default_factory=time.time)
    active: list = field(default_factory=list)  # the targets this update holds while applied
    probe: object = None  # target -> frames.Probe: line and value probes added to each target (LP, debuggers)
    custom: tuple = ()  # (apply(id), revert(id)) of an update that is not instrumentation (Redefine)
    custom_names: tuple = ()  # the functions a custom update changes (Redefine's names), for `ls`

    def functions(self) -> list:
        """The names of the functions this update holds (while applied) or would hold (reverted)."""
        if self.custom:
            return list(self.custom_names)
        return [t.name for t in (self.active if self.applied else self.targets)]

    def apply(self) -> None:
        _applies.count = applies_on_this_thread() + 1
        recording.ensure_recording()
        self.skipped = []
        self.active = []
        if self.custom:
            self.custom[0](self.id)
        for target in self.targets:
            try:
                instrumentation.acquire(target.func, self.id, self.echo, target.options)
            except NotInstrumentable as why:
                self.skipped.append((target.name, str(why)))
                continue
            if self.probe is not None:
                try:
                    instrumentation.add_probe(target.func, self.id, self.probe(target))
                except NotInstrumentable as why:
                    instrumentation.release(target.func, self.id)
                    self.skipped.append((target.name, str(why)))
                    continue
            self.active.append(target)
        self.applied = True
        _native.update_marker(self.id, True, self.description)

    def revert(self) -> None:
        for target in self.active:
            if self.probe is not None:
                instrumentation.remove_probe(target.func, self.id)
            instrumentation.release(target.func, self.id)
        if self.custom:
            self.custom[1](self.id)
        self.active = []
        self.applied = False
        _native.update_marker(self.id, False, self.description)
        _native.flush()


class UpdateManager:
    """``LU``: the list of updates."""

    def __init__(self) -> None:
        self._updates: dict = {}
        self._next_id = 1
        self._forgotten = 0
        self._lock = threading.RLock()

    def add(self, kind: str, description: str, targets: list, echo: bool = False, probe=None) -> Update:
        with self._lock:
            update = Update(self._next_id, kind, description, targets, echo, probe=probe)
            self._next_id += 1
            self._updates[update.id] = update
            update.apply()
            return update

    def add_custom(self, kind: str, description: str, apply, revert, names=()) -> Update:
        """An update that changes the program itself (Redefine): `apply(id)` and `revert(id)` do the work on the
        functions `names`."""
        with self._lock:
            update = Update(self._next_id, kind, description, [], custom=(apply, revert), custom_names=tuple(names))
            self._next_id += 1
            self._updates[update.id] = update
            try:
                update.apply()
            except BaseException:
                del self._updates[update.id]
                raise
            return update

    @staticmethod
    def apply_update(update) -> Text:
        """The original's ``UpdateManager.apply_update(Instrument(...) or Redefine(...))``."""
        from .custom import apply_update

        return apply_update(update)

    @staticmethod
    def revert_update(update_id) -> Text:
        return LU.revert(update_id)

    def next_id(self) -> int:
        return self._next_id

    def updates_since(self, first_id: int) -> list:
        with self._lock:
            return [u for uid, u in self._updates.items() if uid >= first_id]

    def get(self, update_id: int) -> Update:
        try:
            return self._updates[int(update_id)]
        except (KeyError, ValueError, TypeError):
            pass
        if isinstance(update_id, int) and 0 < update_id < self._next_id:
            raise UpdateError(
                f"update {update_id} was reverted and forgotten (the last {MAX_REVERTED_KEPT} reverted updates are kept)"
            )
        raise UpdateError(f"no update {update_id!r} (LU.ls() lists them)")

    def _compact(self) -> None:
        """Forgets the oldest reverted updates beyond `MAX_REVERTED_KEPT`."""
        reverted = [u.id for u in self._updates.values() if not u.applied]
        for uid in reverted[: max(0, len(reverted) - MAX_REVERTED_KEPT)]:
            del self._updates[uid]
            self._forgotten += 1

    def ls(self, full: bool = False) -> Text:
        """Every update kept, one row each; under an applied one its functions, the first `LISTED` of them (a
        framework's `FP.profile('django.**')` holds thousands, and a session keeps 32 reverted updates):
        `full=True` lists every function of every update, reverted ones included."""
        with self._lock:
            footer = [f"recorder: {recording.state()}"]
            line_timer_failure = _native.lines_error()
            if line_timer_failure:
                footer.append(f"line timer: {line_timer_failure} (LP now times lines with the Python probes)")
            if self._forgotten:
                footer.insert(0, f"({self._forgotten} older reverted updates forgotten)")
            if not self._updates:
                return Text("\n".join(["no updates", *footer]))
            lines = [f"{'id':>3}  {'state':<8} {'kind':<13} {'functions':>9}  description"]
            for u in self._updates.values():
                state = "applied" if u.applied else "reverted"
                names = u.functions() if u.custom else [t.name for t in u.targets]
                lines.append(f"{u.id:>3}  {state:<8} {u.kind:<13} {len(u.functions()):>9}  {u.description}")
                if not (u.applied or full):
                    continue
                shown = names if full else names[:LISTED]
                lines += [f"       {name}" for name in shown]
                if len(shown) < len(names):
                    lines.append(f"       ... and {len(names) - len(shown)} more (LU.ls(full=True) lists them all)")
                skipped = u.skipped if full else u.skipped[:LISTED]
                lines += [f"       (skipped {name}: {why})" for name, why in skipped]
                if len(skipped) < len(u.skipped):
                    lines.append(f"       ... and {len(u.skipped) - len(skipped)} more skipped")
            return Text("\n".join(lines + footer))

    def revert(self, update_id: int) -> Text:
        with self._lock:
            update = self.get(update_id)
            if not update.applied:
                return Text(f"update {update.id} is not applied")
            update.revert()
            self._compact()
            return Text(f"reverted update {update.id}: {update.description}")

    def apply(self, update_id: int) -> Text:
        with self._lock:
            update = self.get(update_id)
            if update.applied:
                return Text(f"update {update.id} is already applied")
            update.apply()
            return Text(f"applied update {update.id}: {update.description} ({len(update.functions())} functions)")

    def revert_all(self) -> Text:
        with self._lock:
            done = [u.id for u in self._updates.values() if u.applied]
            for uid in done:
                self._updates[uid].revert()
            self._compact()
            return Text(f"reverted {len(done)} updates")


LU = UpdateManager()
