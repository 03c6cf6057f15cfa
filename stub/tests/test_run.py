"""``python -m pyliveupdate run`` and ``PYLU_PROFILE``: a program profiled from its start (examples/regression's
shop), its modules imported after the start profiled, the trace where asked, the exit code passed through, the
control channel listening."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

from conftest import controller, hit_counts, read_trace, trace_files

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPO, "examples", "regression")
PTH = "pyliveupdate-autostart.pth"


def run(args, **kw):
    env = dict(os.environ, PYTHONPATH=EXAMPLE, **kw.pop("env", {}))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=env,
                          cwd=EXAMPLE, **kw)


def hits(directory):
    files = trace_files(str(directory))
    assert len(files) == 1, files
    return hit_counts(read_trace(files[0]))


def test_run_module_profiles_from_the_start_and_passes_the_exit_code(tmp_path):
    out = run(["-m", "pyliveupdate", "run", "-p", "shop.**", "-o", str(tmp_path), "-m", "shop",
               "--orders", "20", "--exit", "3"])
    assert out.returncode == 3, out.stderr
    assert out.stdout.startswith("total "), out.stdout
    counts = hits(tmp_path)
    # shop.pricing is imported by the program after the start: its functions are counted from the first call.
    assert counts["shop.pricing.base_price"] == 60, counts
    assert counts["shop.pricing.discount"] == 60
    assert counts["shop.pricing._spin"] == 180


def test_run_script_and_bad_usage(tmp_path):
    script = tmp_path / "main.py"
    script.write_text("import sys\nfrom shop import pricing\nprint(pricing.tax(10))\nsys.exit(int(sys.argv[1]))\n")
    traces = tmp_path / "traces"
    out = run(["-m", "pyliveupdate", "run", "-p", "shop.pricing.tax", "-o", str(traces), str(script), "5"])
    assert out.returncode == 5, out.stderr
    assert hits(traces)["shop.pricing.tax"] == 1
    bad = run(["-m", "pyliveupdate", "run", "-m", "shop"])
    assert bad.returncode == 2 and "give at least one -p" in bad.stderr.splitlines()[0], bad.stderr
    raised = run(["-m", "pyliveupdate", "run", "-p", "shop.**", "-o", str(tmp_path / "t2"), "-c"])
    assert raised.returncode == 2 and "unknown option -c" in raised.stderr


def test_control_channel_works_while_running(tmp_path):
    script = tmp_path / "wait.py"
    script.write_text("import sys\nfrom shop import pricing\nprint('ready', flush=True)\nsys.stdin.readline()\n"
                      "pricing.tax(1)\n")
    env = dict(os.environ, PYTHONPATH=EXAMPLE)
    proc = subprocess.Popen([sys.executable, "-m", "pyliveupdate", "run", "-p", "shop.**", "-o", str(tmp_path),
                             str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=EXAMPLE)
    try:
        assert proc.stdout.readline().strip() == "ready"
        listed = controller(tmp_path, "LU.ls()", pid=proc.pid)
        assert listed.returncode == 0, listed.stderr
        assert "FP.profile(['shop.pricing.**'])" in listed.stdout and "shop.pricing.tax" in listed.stdout, listed.stdout
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()


def test_pylu_profile_from_the_environment(tmp_path):
    # The wheel installs the .pth at the root of site-packages (stub/pyproject.toml's include).
    installed = os.path.join(sysconfig.get_paths()["purelib"], PTH)
    assert os.path.exists(installed), f"{installed}: the wheel did not install the autostart .pth"
    out = run(["-m", "shop", "--orders", "10", "--exit", "4"],
              env={"PYLU_PROFILE": "shop.pricing.discount, shop.pricing.tax", "PYLU_TRACE_DIR": str(tmp_path)})
    assert out.returncode == 4, out.stderr
    counts = hits(tmp_path)
    assert counts["shop.pricing.discount"] == 30 and counts["shop.pricing.tax"] == 30, counts
    assert "shop.pricing.base_price" not in counts
    # Unset: nothing starts, nothing is written.
    quiet = tmp_path / "unset"
    quiet.mkdir()
    out = run(["-m", "shop", "--orders", "2"], env={"PYLU_TRACE_DIR": str(quiet)})
    assert out.returncode == 0 and os.listdir(quiet) == [] and out.stderr == ""


def test_ci_gate_on_the_example(tmp_path, analyzer_bins):
    """README's CI job: a baseline and a candidate recorded with `run`, then the gate. The candidate's
    `pricing.discount` does 4x the work — far more than a loaded machine's swing between two runs (measured up to
    ~30 %), so that this end-to-end check cannot pass or fail by noise; the gate's sensitivity to a 1.5x change
    among many functions is tested on generated traces (analyzer/tests/it/diff.rs)."""
    analyze, _ = analyzer_bins  # as the wheels installed it, like the CI job in README
    for name, extra in (("base", []), ("cand", ["--slow-factor", "4"])):
        out = run(["-m", "pyliveupdate", "run", "-p", "shop.**", "-o", str(tmp_path / name), "-m", "shop",
                   "--orders", "150", *extra])
        assert out.returncode == 0, out.stderr
    gate = subprocess.run([analyze, "diff", "-q", str(tmp_path / "base"), str(tmp_path / "cand"),
                           "--fail-on", "p50:+25%", "--format", "markdown"], capture_output=True, text=True)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "regressed shop.pricing.discount: p50" in gate.stderr, gate.stderr
    assert "**Gate: failed**" in gate.stdout


def test_a_missing_program_is_one_line(tmp_path):
    cases = ((["nosuch.py"], "pylu run: can't open file "), (["-m", "nosuchmod"], "pylu run: No module named nosuchmod"))
    for what, line in cases:
        out = run(["-m", "pyliveupdate", "run", "-p", "shop.**", "-o", str(tmp_path / "never"), *what])
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith(line) and out.stderr.count("\n") == 1, out.stderr
        assert not (tmp_path / "never").exists()  # refused before anything is made
