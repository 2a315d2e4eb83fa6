#!/usr/bin/env bash
# Runs the tests of the Node-RED package: installs its npm packages from
# package-lock.json, runs the mocha suites in a Node-RED test runtime
# against embedded stores, then the editor test in headless Chromium.
#
# Needs the Node binding (bindings/node/build.sh) and the polystat command
# (cargo build -p polystat-cli) built, and the example transforms
# (transforms/build.sh). POLYSTAT_TEST_DATA may name the data folder of the
# cm-3 job; without it the tests use the sample job on examples/data.
set -euo pipefail

# The project's test script names the same data folder POLYSTAT_SHARED_DATA.
if [[ -z "${POLYSTAT_TEST_DATA:-}" && -n "${POLYSTAT_SHARED_DATA:-}" ]]; then
    export POLYSTAT_TEST_DATA="$POLYSTAT_SHARED_DATA"
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

missing=()
[[ -f "$root/bindings/node/polystat.node" ]] || missing+=("bindings/node/polystat.node (run bindings/node/build.sh)")
[[ -x "${POLYSTAT_CLI:-$root/target/debug/polystat}" ]] || missing+=("target/debug/polystat (run cargo build -p polystat-cli)")
[[ -f "$root/transforms/dist/review-rule.wasm" ]] || missing+=("transforms/dist/review-rule.wasm (run transforms/build.sh)")
if (( ${#missing[@]} > 0 )); then
    printf 'test.sh: missing %s\n' "${missing[@]}" >&2
    exit 1
fi

cd "$here"
# npm ci empties node_modules and downloads every package again, so it runs
# only when package-lock.json changed since the last install.
stamp=node_modules/.installed-package-lock.json
if ! cmp -s package-lock.json "$stamp"; then
    echo "== node-red: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
fi

echo "== node-red: mocha"
npm test

if [[ ! -x /usr/bin/chromium ]]; then
    echo "== node-red: installing chromium"
    if ! apt-get install -y -qq chromium >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq chromium >/dev/null
    fi
fi

echo "== node-red: editor test"
npm run --silent test:editor
