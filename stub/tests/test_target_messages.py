"""What a target that gives nothing says, in this process (docs/STUB.md, "Targets"): each refusal names why — a
target that is not a name, a glob inside a name, a missing attribute, a built-in, something not a function —
and an update object shows what it is."""

import sys

import pytest
from conftest import PROGRAMS

sys.path.insert(0, PROGRAMS)

pytestmark = pytest.mark.usefixtures("in_process_trace_dir", "revert_everything_after")


def refusal(targets):
    from pyliveupdate.updates import UpdateError
    from pyliveupdatescripts import FP

    with pytest.raises(UpdateError) as info:
        FP.profile(targets)
    return str(info.value)


@pytest.mark.parametrize(
    ("targets", "says"),
    [
        (42, "targets are a dotted name or a list of them ('__main__.bar', ['__main__.**', 'mod.*']), not 42"),
        ("workload.le*", "'workload.le*': '*' and '**' stand for whole names"),
        ("work*.leaf", "not part of one like 'work*'"),
        ("builtins.len", "'builtins.len': no function found (it is built in, not Python code: <built-in function len>"),
        ("workload.nothere", "'workload.nothere': no function found (workload has no attribute 'nothere')"),
        ("workload.Shape.nothere", "(workload.Shape has no attribute 'nothere')"),
        ("os.sep", "'os.sep': no function found (it is str '/', not a Python function)"),
        # A method or property reached through an instance (`__main__.app.wsgi_app` of a Flask app) names the
        # function to profile; it used to say "it is function <function Sto...>, not a Python function".
        ("instances.store.get", "'instances.store.get': no function found (instances.store is an instance of "
                                "instances.Store; targets reach functions through modules and classes: "
                                "'instances.Store.get')"),
        ("instances.store.total", "classes: 'instances.Store.total')"),
        ("instances.store.*", "'instances.store.*': matched no function (instances.store is an instance of "
                              "instances.Store; targets reach functions through modules and classes: "
                              "'instances.Store.*')"),
        ("workload.leaf.*", "'workload.leaf.*': matched no function (workload.leaf is a function: name it "
                            "without '*')"),
        ("workload.nothere.**", "'workload.nothere.**': matched no function (workload has no attribute 'nothere')"),
    ],
)
def test_why_nothing_was_found(targets, says):
    import instances  # noqa: F401
    import workload  # noqa: F401  (loaded, so its names resolve)

    assert says in refusal(targets)


def test_a_redefine_shows_what_it_redefines():
    import workload
    from pyliveupdatescripts import Redefine

    def leaf(x):
        return x

    assert repr(Redefine("workload", None, {"workload.leaf": leaf})) == "<Redefine('workload', workload.leaf)>"
    assert workload.leaf.__code__ is not leaf.__code__


def test_a_pattern_among_several_that_matches_nothing_is_said():
    """A mistyped glob pattern next to good ones (`FP.profile(['app.**', 'flask.ap.**'])`) used to vanish
    without a word: only the good ones were profiled and the answer did not name the bad one."""
    import workload  # noqa: F401
    from pyliveupdatescripts import FP

    answer = str(FP.profile(["workload.leaf", "workload.nothere.**", "workload.Shape.nothere.*"]))
    assert "profiling 1 functions (1 matched" in answer
    assert "not found: 'workload.nothere.**': matched no function (workload has no attribute 'nothere')" in answer
    assert "not found: 'workload.Shape.nothere.*': matched no function (workload.Shape has no attribute" in answer
