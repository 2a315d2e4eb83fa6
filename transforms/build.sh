#!/usr/bin/env bash
# Builds every transform crate under examples/ and fixtures/ for
# wasm32-unknown-unknown in release mode and copies each module to
# dist/PACKAGE.wasm. Prints only errors and one summary line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target=wasm32-unknown-unknown
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

if ! rustup target list --installed | grep -qx "$target"; then
    if ! rustup target add "$target" >"$log" 2>&1; then
        cat "$log" >&2
        echo "build.sh: 'rustup target add $target' failed" >&2
        exit 1
    fi
fi

cargo build --quiet --release --workspace \
    --manifest-path "$root/Cargo.toml" \
    --target "$target" \
    --target-dir "$root/target"

mkdir -p "$root/dist"
built=()
for manifest in "$root"/examples/*/Cargo.toml "$root"/fixtures/*/Cargo.toml; do
    package="$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)"
    module="$root/target/$target/release/${package//-/_}.wasm"
    if [[ ! -f "$module" ]]; then
        echo "build.sh: $module was not produced; is [lib] crate-type = [\"cdylib\"] set in $manifest?" >&2
        exit 1
    fi
    cp "$module" "$root/dist/$package.wasm"
    built+=("$package ($(( $(stat -c %s "$module") / 1024 )) KiB)")
done

summary="$(printf '%s, ' "${built[@]}")"
echo "built ${#built[@]} transforms into $root/dist: ${summary%, }"
