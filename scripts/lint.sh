#!/usr/bin/env bash
# The project's conventions as checks (run by .ci/run before the tests): Rust formatting, clippy with warnings as
# errors over every crate and target (the workspace lints: unsafe_op_in_unsafe_fn, undocumented_unsafe_blocks),
# the same two over the fuzz targets' own workspace, and ruff over the Python code. Installs ruff into
# .venv-lint on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (every crate and target, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> the fuzz targets (a workspace of their own): cargo fmt --check, cargo clippy -D warnings"
# Not fuzzed here (that needs cargo-fuzz and sanitizers: docs/LEGACY.md), but kept compiling with the APIs they drive.
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --manifest-path fuzz/Cargo.toml --locked --bins -- -D warnings

echo "==> ruff"
source scripts/find_python.sh
py="$(find_python 3.11 || find_python 3.13 || command -v python3)"
if [ ! -x .venv-lint/bin/ruff ]; then
    "$py" -m venv .venv-lint
    .venv-lint/bin/python -m pip install --quiet --disable-pip-version-check ruff
fi
.venv-lint/bin/ruff check stub tests examples
echo "conventions: all checks passed"
