#!/usr/bin/env bash
# Copies the project's fixtures into the fuzz corpora, so fuzzing starts from real traces and logs.
# Usage: fuzz/seed.sh   (from anywhere; corpora land in fuzz/corpus/<target>/, which git ignores)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
mkdir -p "$here/corpus/binary_reader" "$here/corpus/legacy_lines" "$here/corpus/flamegraph_folded"
shopt -s nullglob
copied=0
# flamegraph_folded: an options byte (0: the defaults but a minimum width of 0) before each folded file.
for f in "$root"/fixtures/analyzer/expected/*.folded; do
    { printf '\000'; cat "$f"; } > "$here/corpus/flamegraph_folded/$(basename "$f")"
    copied=$((copied + 1))
done
for f in "$root"/fixtures/binary/*.pylu; do
    cp "$f" "$here/corpus/binary_reader/"
    copied=$((copied + 1))
done
for f in "$root"/fixtures/legacy/*.log; do
    cp "$f" "$here/corpus/legacy_lines/"
    copied=$((copied + 1))
done
# The start of a generated log as well, when pylu-gen is built (cargo build --release -p pylu-gen): many
# kinds of lines in a few KiB (small inputs keep the fuzzer fast).
gen="$root/target/release/pylu-gen"
if [ -x "$gen" ]; then
    tmp="$(mktemp -d)"
    "$gen" --format legacy --size 4K --processes 2 --threads 2 --functions 40 -o "$tmp/gen.log" > /dev/null
    head -c 4096 "$tmp/gen.log" > "$here/corpus/legacy_lines/generated-head.log"
    rm -rf "$tmp"
    copied=$((copied + 1))
fi
echo "seeded $copied files into $here/corpus"
