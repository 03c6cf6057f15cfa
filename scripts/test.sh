#!/usr/bin/env bash
# Runs every test of pylu: the Rust workspace (formats, analyzer), then per Python version we support the built
# wheels installed into a fresh venv with the stub's pytest suite and tests/e2e run against that install
# (stub/tests/run.sh; a version missing on this machine is skipped with a line).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo test (formats, analyzer)"
cargo test --workspace --exclude pylu-stub --locked

if [ -f stub/tests/run.sh ]; then
    echo "==> wheels per Python version: stub tests and tests/e2e against the installed wheels"
    bash stub/tests/run.sh
else
    echo "SKIP: stub/tests/run.sh not present"
fi

echo "==> exports: read back by polars, pyarrow, DuckDB, pstats, gprof2dot"
bash tests/exports/run.sh
