#!/usr/bin/env bash
# Runs every test of pylu: the Rust workspace (formats, analyzer) and the stub's pytest suite on each Python
# version we support (built with maturin per version; a version missing on this machine is skipped with a line).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo test (formats, analyzer)"
cargo test --workspace --exclude pylu-stub --locked

if [ -f stub/tests/run.sh ]; then
    echo "==> stub: pytest per Python version"
    bash stub/tests/run.sh
else
    echo "SKIP: stub/tests/run.sh not present"
fi

echo "==> exports: read back by polars, pyarrow, DuckDB, pstats, gprof2dot"
bash tests/exports/run.sh
