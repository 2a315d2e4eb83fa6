#!/usr/bin/env bash
# Builds the native addon into bindings/node/polystat.node.
#
# The addon is built by cargo as part of the workspace, not by the napi CLI:
# the CLI builds for an explicit target and so shares no build output with
# the Rust tests, which would double the build. Pass --release for an
# optimized addon (benchmarks); the default is the debug build the tests use.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
profile=debug
args=()
if [[ ${1:-} == --release ]]; then
    profile=release
    args=(--release)
fi
cargo build --manifest-path "$root/Cargo.toml" -p polystat-node "${args[@]}" >&2
target=${CARGO_TARGET_DIR:-$root/target}
# Copy, then rename, so a Node process that has the old addon open keeps a
# whole file.
cp "$target/$profile/libpolystat_node.so" "$here/polystat.node.tmp"
mv "$here/polystat.node.tmp" "$here/polystat.node"
echo "built $here/polystat.node ($profile)" >&2
