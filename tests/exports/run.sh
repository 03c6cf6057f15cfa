#!/usr/bin/env bash
# Reads `pylu-analyze export` outputs back with polars, pyarrow, DuckDB, pstats (3.9, 3.11, 3.13), gprof2dot,
# snakeviz and tuna (their loaders).
# Creates its own venv (.venv-exports, gitignored) on the newest of the supported Pythons found, builds the
# binaries (debug, with the `parquet` feature) and runs pytest. A missing Python version prints a SKIP line.
# Usage: bash tests/exports/run.sh [pytest args…]
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# shellcheck source=../../scripts/find_python.sh
source "$repo/scripts/find_python.sh"

for v in 3.9 3.11 3.13; do
    find_python "$v" >/dev/null || echo "SKIP: python $v not installed (its pstats check is skipped)"
done

py=""
for v in 3.13 3.12 3.11; do
    if py="$(find_python "$v")"; then break; fi
done
if [ -z "$py" ]; then
    echo "SKIP: exports: no python 3.11+ found for polars, pyarrow and duckdb"
    exit 0
fi

venv="$repo/.venv-exports"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv" || { echo "exports: FAILED (venv)"; exit 1; }
fi
if ! "$venv/bin/python" -c "import polars, pyarrow, pandas, duckdb, gprof2dot, snakeviz, tuna, pytest" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check polars pyarrow pandas duckdb gprof2dot snakeviz tuna pytest \
        || { echo "exports: FAILED (pip)"; exit 1; }
fi

(cd "$repo" && cargo build --locked -q --workspace --exclude pylu-stub --bins) || { echo "exports: FAILED (build)"; exit 1; }
target="${CARGO_TARGET_DIR:-$repo/target}"
export PYLU_ANALYZE="$target/debug/pylu-analyze"
export PYLU_GEN="$target/debug/pylu-gen"
cd "$repo" && "$venv/bin/python" -m pytest -q -p no:cacheprovider -rs tests/exports "$@"
