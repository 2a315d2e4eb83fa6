#!/usr/bin/env bash
# Runs the main job on the project's sample data against the embedded store
# (polystat.db in the working directory), building what it needs first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# Build output goes to stderr so stdout carries only the JSON summary.
"$root/transforms/build.sh" >&2
cargo run --quiet --manifest-path "$root/Cargo.toml" -p polystat-cli -- \
    evaluate "$root/examples/jobs/sample-pull-request-review.json" "$@"
