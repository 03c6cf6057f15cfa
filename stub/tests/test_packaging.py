"""The package's shape as installed: the tools live in ``pyliveupdate`` and the package never imports its
compatibility shim ``pyliveupdatescripts``, which re-exports exactly the tools under the original's import path."""

import subprocess
import sys


def run(code):
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_the_package_never_imports_its_shim():
    out = run(
        "import sys\n"
        "from pyliveupdate import UpdateStub, tools\n"
        "from pyliveupdate.control.commands import make_namespace\n"
        "namespace = make_namespace()\n"
        "print(sorted(n for n in tools.__all__ if n in namespace))\n"
        "print([m for m in sys.modules if m.split('.')[0] == 'pyliveupdatescripts'])\n"
    )
    names, shims = out.splitlines()
    assert "'FP'" in names and "'LU'" in names and "'UpdateStub'" in names, names
    assert shims == "[]", shims


def test_the_shim_re_exports_the_tools():
    out = run(
        "import pyliveupdatescripts, pyliveupdate.tools as t\n"
        "print(sorted(pyliveupdatescripts.__all__) == sorted(t.__all__))\n"
        "print(all(getattr(pyliveupdatescripts, n) is getattr(t, n) for n in t.__all__))\n"
        "from pyliveupdatescripts import UpdateStub, FP, LU\n"
        "print(UpdateStub.__module__, type(FP).__module__)\n"
    )
    same, identical, modules = out.splitlines()
    assert same == "True" and identical == "True", out
    assert modules == "pyliveupdate.stub pyliveupdate.tools.funcprofiler", modules
