#!/usr/bin/env bash
# Sets pylu up on a fresh machine and runs the main job on a bundled recording: a flamegraph, folded stacks and a
# summary of fixtures/demo/service.pylu (recorded from examples/service.py by scripts/record-demo.sh) and of a
# small original-format pyliveupdate log.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p pylu-analyzer
bin=target/release
out=out/demo
mkdir -p "$out"

echo "==> what the bundled recording holds"
"$bin/pylu-analyze" info fixtures/demo/service.pylu

echo "==> pylu-processlogs (drop-in for the original): folded + summary + flamegraph"
"$bin/pylu-processlogs" -i fixtures/demo/service.pylu -o "$out"

echo "==> the same from the original's text log"
"$bin/pylu-processlogs" -i fixtures/legacy/nested_two_processes.log -o "$out"

echo "==> top functions by self time"
"$bin/pylu-analyze" summary --top 10 fixtures/demo/service.pylu

echo
echo "outputs:"
ls -l "$out"
