#!/usr/bin/env bash
# Builds the wheels a user installs and tests them installed, per supported Python: the analyzer's wheel once
# (pylu-analyzer, py3-none: its binaries serve every Python), the stub's wheel (pyliveupdate-rs) per version,
# both pip-installed into a fresh venv (no editable install, so a file missing from a wheel fails here), then
# mypy's stubtest of _native.pyi against the built extension, the stub's pytest suite (stub/tests) and the
# end-to-end tests (tests/e2e), run from a directory where the source tree's stub/python is not importable.
# A missing interpreter is reported (SKIP line), never skipped silently; any failure makes the exit non-zero.
# Usage: bash stub/tests/run.sh [VERSION ...]     (default: 3.9 3.11 3.13; PYLU_STUB_PYTHONS overrides)
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stub="$(dirname "$here")"
repo="$(dirname "$stub")"
wheels="$repo/target/wheels"
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
    read -r -a versions <<< "${PYLU_STUB_PYTHONS:-3.9 3.11 3.13}"
fi
pip_quiet=(--quiet --disable-pip-version-check)

# shellcheck source=../../scripts/find_python.sh
source "$repo/scripts/find_python.sh"

# The build tools (maturin) live in a venv kept between runs; the tests never run there.
build_venv() {
    local v="$1" py="$2" venv="$repo/.venv-$v"
    if [ ! -x "$venv/bin/python" ]; then
        "$py" -m venv "$venv" >&2 || return 1
    fi
    if ! "$venv/bin/python" -c "import maturin" 2>/dev/null; then
        "$venv/bin/python" -m pip install "${pip_quiet[@]}" "maturin>=1.5,<2" >&2 || return 1
    fi
    echo "$venv"
}

# maturin prints cargo's progress (a line per crate compiled); its own banner lines are dropped.
maturin_build() {
    local target_dir="$1" dir="$2"
    shift 2
    (cd "$dir" && CARGO_TARGET_DIR="$target_dir" "$@" 2>&1 | grep --line-buffered -v -E "^(📦|🔗|🐍|⚠️|🛠|🍹)";
     exit "${PIPESTATUS[0]}")
}

failed=()
analyzer_wheel=""
for v in "${versions[@]}"; do
    if ! py="$(find_python "$v")"; then
        echo "SKIP: python $v not installed"
        continue
    fi
    echo "=== python $v ($py)"
    venv="$(build_venv "$v" "$py")" || { failed+=("$v (build venv)"); continue; }

    if [ -z "$analyzer_wheel" ]; then
        echo "--- building the analyzer's wheel (pylu-analyzer: pylu-analyze, pylu-processlogs; profile dist)"
        rm -rf "$wheels/analyzer"
        # Its own target dir: the dist profile's stripped binaries must not replace target/release's.
        if ! maturin_build "$repo/target/wheel-analyzer" "$repo/analyzer" \
                "$venv/bin/maturin" build --profile dist --out "$wheels/analyzer"; then
            echo "analyzer wheel: build FAILED"
            exit 1
        fi
        analyzer_wheel="$(ls "$wheels"/analyzer/pylu_analyzer-*.whl)"
    fi

    echo "--- building the stub's wheel for python $v"
    rm -rf "$wheels/py$v"
    # One target dir per version: builds for different Pythons must not overwrite each other's artefacts, and
    # must not wait on the workspace's shared target lock.
    if ! maturin_build "$repo/target/stub-py$v" "$stub" \
            "$venv/bin/maturin" build --release --interpreter "$venv/bin/python" --out "$wheels/py$v"; then
        failed+=("$v (build)")
        continue
    fi

    echo "--- installing the wheels into a fresh venv"
    test_venv="$repo/target/test-venv-$v"
    rm -rf "$test_venv"
    "$py" -m venv "$test_venv" || { failed+=("$v (venv)"); continue; }
    # The stub's wheel names its dependency (pylu-analyzer==version); --no-index takes it from the built one.
    if ! "$test_venv/bin/python" -m pip install "${pip_quiet[@]}" --no-index --find-links "$wheels/analyzer" \
            "$wheels/py$v"/*.whl \
        || ! "$test_venv/bin/python" -m pip install "${pip_quiet[@]}" pytest mypy; then
        failed+=("$v (pip)")
        continue
    fi

    # Outside the source tree: only the installed packages can be imported.
    work="$(mktemp -d)"
    echo "--- stubtest: stub/python/pyliveupdate/_native.pyi against the built extension"
    if ! (cd "$work" && "$test_venv/bin/python" -m mypy.stubtest pyliveupdate._native); then
        failed+=("$v (stubtest)")
    fi
    echo "--- pytest stub/tests"
    if ! (cd "$work" && "$test_venv/bin/python" -m pytest -q -p no:cacheprovider --rootdir "$stub" "$stub/tests"); then
        failed+=("$v (stub tests)")
    fi
    echo "--- pytest tests/e2e"
    if ! (cd "$work" && "$test_venv/bin/python" -m pytest -q -p no:cacheprovider --rootdir "$repo/tests/e2e" \
            "$repo/tests/e2e"); then
        failed+=("$v (e2e tests)")
    fi
    rm -rf "$work"
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "stub: FAILED on python ${failed[*]}"
    exit 1
fi
echo "stub and end-to-end: all tested Python versions passed"
