"""What a failed command answers, in this process (docs/STUB.md, "pylu-controller"): a mistake in the command
itself, a syntax error included, is the one line that matters (a syntax error's line and caret with it); an
error raised by a patch file's module code shows the patch's frames (which statement failed), never the stub's;
`--traceback` gives every frame."""

import pytest

pytestmark = pytest.mark.usefixtures("in_process_trace_dir", "revert_everything_after")


def run(code, filename="<pylu>", full=False):
    from pyliveupdate.control.commands import make_namespace, run_command

    ok, _output, error = run_command(code, make_namespace(), filename, full)
    assert not ok
    return error


STUB_FRAMES = ("commands.py", "ast.py", "redefine.py", "Traceback")


@pytest.mark.parametrize(
    ("code", "last"),
    [
        ("FP.profile(['helpers.**'", "SyntaxError: "),
        ("    x += 1", "IndentationError: unexpected indent"),
        ("for i in range(2):", ("IndentationError: expected an indented block", "SyntaxError: ")),  # 3.9: EOF
        ("nosuch", "NameError: name 'nosuch' is not defined"),
    ],
)
def test_a_mistake_in_the_command_is_one_line(code, last):
    error = run(code)
    assert error.rstrip("\n").splitlines()[-1].startswith(last), error
    assert not any(frame in error for frame in STUB_FRAMES), error


def test_a_syntax_error_shows_its_line_and_caret():
    error = run("FP.profile(['helpers.**'")
    assert 'File "<pylu>", line 1' in error and "^" in error, error


def test_traceback_asked_gives_every_frame():
    error = run("FP.profile(['helpers.**'", full=True)
    assert "Traceback" in error and "commands.py" in error, error


def test_a_patch_with_a_syntax_error_is_its_line(tmp_path):
    path = str(tmp_path / "badpatch.py")
    error = run("import os\ndef f(:\n    pass\n", path)
    assert f'File "{path}", line 2' in error and "SyntaxError" in error, error
    assert not any(frame in error for frame in STUB_FRAMES), error


def test_a_patch_module_code_error_shows_the_patch_frames(tmp_path):
    path = str(tmp_path / "badpatch2.py")
    error = run("import os\nx = 1\nos.nothere()\n", path)
    assert error.startswith("Traceback (most recent call last):"), error
    assert f'File "{path}", line 3, in <module>' in error and "os.nothere()" in error, error
    assert error.rstrip().endswith("AttributeError: module 'os' has no attribute 'nothere'"), error
    assert "commands.py" not in error, error


def test_a_stub_error_raised_from_a_patch_names_the_patch_line(tmp_path):
    path = str(tmp_path / "p.py")
    error = run("import os\n\nFP.profile('__mian__.**')\n", path)
    assert f'File "{path}", line 3, in <module>' in error, error
    assert error.rstrip().splitlines()[-1].startswith("UpdateError: nothing to profile"), error
    assert "commands.py" not in error and "funcprofiler.py" not in error, error


def test_an_error_in_the_programs_code_keeps_its_frames_not_the_stubs(tmp_path):
    path = tmp_path / "badpatch3.py"
    path.write_text("import os\n\nos.nothere()\n")
    # patch() run by the stub itself (not sent by the controller): the file is the program's code here.
    error = run(f"u = patch({str(path)!r})")
    assert error.startswith("Traceback (most recent call last):"), error
    assert f'File "{path}", line 3, in <module>' in error and 'File "<pylu>", line 1' in error, error
    assert "commands.py" not in error and "redefine.py" not in error, error
