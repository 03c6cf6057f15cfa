#!/usr/bin/env bash
# Builds the stub for each supported Python and runs its pytest suite there.
# A missing interpreter is reported (SKIP line), never skipped silently; any failure makes the exit non-zero.
# Usage: bash stub/tests/run.sh [VERSION ...]     (default: 3.9 3.11 3.13; PYLU_STUB_PYTHONS overrides)
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stub="$(dirname "$here")"
repo="$(dirname "$stub")"
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
    read -r -a versions <<< "${PYLU_STUB_PYTHONS:-3.9 3.11 3.13}"
fi

# shellcheck source=../../scripts/find_python.sh
source "$repo/scripts/find_python.sh"

failed=()
for v in "${versions[@]}"; do
    if ! py="$(find_python "$v")"; then
        echo "SKIP: python $v not installed"
        continue
    fi
    echo "=== stub on python $v ($py)"
    venv="$repo/.venv-$v"
    if [ ! -x "$venv/bin/python" ]; then
        "$py" -m venv "$venv" || { failed+=("$v (venv)"); continue; }
    fi
    if ! "$venv/bin/python" -c "import maturin, pytest" 2>/dev/null; then
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" pytest \
            || { failed+=("$v (pip)"); continue; }
    fi
    # One target dir per version: builds for different Pythons must not overwrite each other's artefacts, and
    # must not wait on the workspace's shared target lock.
    if ! (cd "$stub" && CARGO_TARGET_DIR="$repo/target/stub-py$v" VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" \
            "$venv/bin/maturin" develop --release --quiet 2>&1 | grep -v -E "^(📦|🔗|🐍|⚠️|🛠)" | tail -20; exit "${PIPESTATUS[0]}"); then
        failed+=("$v (build)")
        continue
    fi
    if ! (cd "$stub" && "$venv/bin/python" -m pytest -q -p no:cacheprovider tests); then
        failed+=("$v (tests)")
    fi
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "stub: FAILED on python ${failed[*]}"
    exit 1
fi
echo "stub: all tested Python versions passed"
