#!/usr/bin/env bash
# Runs every test of the project: formatting and lint checks, the example
# WebAssembly transforms, the test servers (PostgreSQL, Redis and FerretDB on
# loopback, installed when missing), then the Rust suites, the Python
# binding's pytest suite, the Node binding's node:test suite and the
# Node-RED package's tests. Exits non-zero on any failure and stops the servers
# it started.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# The real public data set lives beside the project checkout when present;
# tests that need it read this variable.
if [[ -z "${POLYSTAT_SHARED_DATA:-}" && -d "$root/../shared/data" ]]; then
    export POLYSTAT_SHARED_DATA="$root/../shared/data"
fi

echo "== building example transforms"
transforms/build.sh

echo "== guest crate and example transforms (native unit tests)"
cargo test --quiet --manifest-path transforms/Cargo.toml

echo "== rustfmt"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== starting test servers"
# A separate assignment keeps `set -e` in force if the script fails.
service_urls=$(tests/services.sh up)
eval "$service_urls"
trap 'tests/services.sh down >&2 || true' EXIT

echo "== cargo test"
cargo test --workspace

echo "== python binding"
# A virtual environment under the git-ignored target/ keeps the packages
# out of the system Python. The wheel is built once, in the dev profile, so
# it reuses the dependencies that cargo test compiled.
venv="$root/target/python-venv"
wheels="$root/target/python-wheels"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    "maturin>=1.16,<2" pytest pandas pyarrow
rm -rf "$wheels"
(cd bindings/python && "$venv/bin/maturin" build --quiet --profile dev --strip --out "$wheels")
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheels"/polystat-*.whl
"$venv/bin/python" -m pytest -q bindings/python/tests

echo "== node binding"
# The addon is the workspace's debug build, so it reuses what cargo test
# compiled.
bindings/node/build.sh
# TypeScript, for the check of the type definitions.
(cd bindings/node && npm ci --no-audit --no-fund --loglevel=error)
(cd bindings/node && node --test --test-concurrency=1 test/)

echo "== node-red package"
# The package's tests compare a flow's computation with the one the
# polystat command stores; cargo test built the command already.
cargo build --quiet -p polystat-cli
bindings/node-red/test.sh
