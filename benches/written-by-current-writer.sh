#!/usr/bin/env bash
# Exits 0 if the generated binary set in DIR was written by this checkout's trace writer (its files' format minor
# version is the current one), so the benchmarks reuse it; otherwise they regenerate it. Since format 1.1 full
# blocks end on page boundaries, which changes how the page cache holds the files and what mapping them costs
# (docs/FORMAT.md), so an older set would measure something else.
# Usage: benches/written-by-current-writer.sh DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minor=$(grep -o 'FORMAT_MINOR: u16 = [0-9]*' "$root/formats/src/binary/header.rs" | grep -o '[0-9]*$')
first=$(find "$1" -name '*.pylu' 2>/dev/null | sort | head -n 1)
[ -n "$first" ] && [ "$(od -An -tu2 -j10 -N2 "$first" | tr -d ' ')" = "$minor" ]
