"""The stub never records its own work: its command threads encode replies with json and run commands, and
none of that is the program's."""

from conftest import controller, hit_counts


def test_command_threads_are_not_recorded(target, trace_dir):
    r = controller(trace_dir, "FP.profile(['json.**', '__main__.main_helper'])", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    # Each command runs, and its reply is JSON-encoded, on a stub thread: through the profiled json and main_helper.
    r = controller(trace_dir, "LU.ls()", "main.main_helper(1)", "import json; json.dumps([1])", pid=target.pid)
    assert r.returncode == 0, r.stdout + r.stderr
    target.run("work 2")  # the program's own calls: main_helper twice, no json
    assert controller(trace_dir, "LU.revert(1)", pid=target.pid).returncode == 0
    trace = target.trace()
    assert trace["errors"] == []
    assert dict(hit_counts(trace)) == {"__main__.main_helper": 2}
    # The profiled functions' definitions were written (from the command thread) all the same.
    assert any(e[0] == "func_def" and e[4] == "json.encoder" for e in trace["events"])
