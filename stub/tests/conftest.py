"""Helpers shared by the stub's tests: a real target process with the stub, the controller driving it, and the
trace read back through ``pyliveupdate._native.read_trace``."""

from __future__ import annotations

import collections
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import attacker

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "programs")


def read_trace(path):
    from pyliveupdate import _native

    return _native.read_trace(path)


def trace_files(directory, pid=None):
    pattern = f"{pid}-*.pylu" if pid else "*.pylu"
    return sorted(glob.glob(os.path.join(directory, pattern)))


def func_names(trace) -> dict:
    return {e[2]: f"{e[4]}.{e[3]}" for e in trace["events"] if e[0] == "func_def"}


def hit_counts(trace) -> collections.Counter:
    names = func_names(trace)
    return collections.Counter(names[e[2]] for e in trace["events"] if e[0] == "enter")


def kinds_by_func(trace, name) -> list:
    ids = {i for i, n in func_names(trace).items() if n == name}
    return [e[0] for e in trace["events"] if e[0] in ("enter", "exit", "exit_raised", "suspend", "resume") and e[2] in ids]


class Target:
    """programs/target.py running with the stub; `run("work 10")` runs a workload and waits for it."""

    def __init__(self, trace_dir, env_extra=None, preexec_fn=None):
        env = dict(os.environ, PYLU_TRACE_DIR=str(trace_dir), PYTHONUNBUFFERED="1")
        env.update(env_extra or {})
        self.trace_dir = str(trace_dir)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(PROGRAMS, "target.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            preexec_fn=preexec_fn,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("ready"), line + self.proc.stderr.read()
        self.pid = self.proc.pid

    def run(self, command: str) -> list:
        """Sends one command; returns the lines the target printed before its "ok"."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            assert line, "target exited: " + self.proc.stderr.read()
            if line.strip() == "ok":
                return lines
            lines.append(line.strip())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> str:
        if self.alive():
            try:
                self.proc.stdin.write("exit\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.stderr.read()

    def trace(self):
        files = trace_files(self.trace_dir, self.pid)
        assert len(files) == 1, files
        return read_trace(files[0])


def controller(trace_dir, *commands, pid=None, extra=(), stdin=None):
    args = [sys.executable, "-m", "pyliveupdate.controller", "--trace-dir", str(trace_dir), *extra]
    if pid:
        args += ["--pid", str(pid)]
    for c in commands:
        args += ["-c", c]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, input=stdin)


@pytest.fixture
def trace_dir(tmp_path):
    d = tmp_path / "traces"
    d.mkdir()
    return d


@pytest.fixture
def target(trace_dir):
    t = Target(trace_dir)
    yield t
    t.close()


# --- the attack tests' fixtures (test_security_*.py) ---


@pytest.fixture(scope="session")
def intruder():
    why = attacker.why_no_second_user()
    if why:
        pytest.skip(why)
    user = attacker.create_user()
    yield user
    attacker.delete_user(user)


@pytest.fixture
def sticky_dir():
    """A root-owned world-writable sticky directory under /tmp, like /tmp/pyliveupdate."""
    d = tempfile.mkdtemp(prefix="pylu-shared-", dir="/tmp")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def victim(tmp_path):
    p = tmp_path / "victim"
    p.write_text(attacker.VICTIM_TEXT)
    p.chmod(0o600)
    return str(p)


@pytest.fixture(scope="module")
def in_process_trace_dir(tmp_path_factory):
    """For the in-process test modules (`pytestmark = pytest.mark.usefixtures(...)`): one trace file per process."""
    from inproc import setup_trace_dir

    return setup_trace_dir(tmp_path_factory)


@pytest.fixture
def revert_everything_after():
    """For the in-process test modules: each test starts with nothing profiled."""
    yield
    from pyliveupdate.updates import LU

    LU.revert_all()


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def analyzer_bins():
    """pylu-analyze and pylu-processlogs as the wheels installed them: the pylu-analyzer wheel puts them beside
    this interpreter (stub/tests/run.sh runs the suite in a venv made from the built wheels)."""
    bindir = os.path.dirname(sys.executable)
    bins = tuple(os.path.join(bindir, name) for name in ("pylu-analyze", "pylu-processlogs"))
    missing = [b for b in bins if not os.access(b, os.X_OK)]
    if missing:
        pytest.fail(f"not installed beside {sys.executable}: {missing} (install the pylu-analyzer wheel)")
    return bins
