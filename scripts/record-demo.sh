#!/usr/bin/env bash
# Re-records fixtures/demo/service.pylu: runs examples/service.py with the stub, profiles it live through
# pylu-controller, and keeps the trace it wrote. Needs the stub installed (bash stub/tests/run.sh 3.11 installs
# the wheels into target/test-venv-3.11).
# The committed fixture is what the demo and the analyzer's demo test read; re-record only on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-target/test-venv-3.11/bin/python}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
PYLU_TRACE_DIR="$dir" SERVICE_ROUNDS=0 SERVICE_PAUSE=0.005 "$py" examples/service.py &
pid=$!
for _ in $(seq 50); do ls "$dir"/*.sock >/dev/null 2>&1 && break; sleep 0.1; done
"$(dirname "$py")/pylu-controller" --trace-dir "$dir" --pid "$pid" -c "FP.profile('__main__.**')"
sleep "${DEMO_SECONDS:-0.5}"
"$(dirname "$py")/pylu-controller" --trace-dir "$dir" --pid "$pid" -c "LU.revert(1)"
kill -TERM "$pid"
wait "$pid" || true
mkdir -p fixtures/demo
cp "$dir"/*.pylu fixtures/demo/service.pylu
ls -l fixtures/demo/service.pylu
