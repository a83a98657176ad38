#!/usr/bin/env bash
# The GitHub Action's install step: puts a peaka-wait binary on the runner
# and sets the step output `bin` to its path.
#
# 1. A binary already in the runner's tool cache for this version is used.
# 2. Else, when the action runs from a release tag, the release binary for
#    the runner's OS/arch is downloaded and checked against its sha256.
# 3. Else it is built from the action's own source with `cargo install
#    --locked` (Rust is on the hosted runners) and kept in the tool cache.
set -euo pipefail

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ACTION_PATH/Cargo.toml" | head -n 1)
case "${RUNNER_OS:-Linux}/${RUNNER_ARCH:-X64}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  Windows/X64) target=x86_64-pc-windows-msvc ;;
  *) target="" ;;
esac
exe=peaka-wait
[ "${RUNNER_OS:-}" = Windows ] && exe=peaka-wait.exe

cache_root="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/peaka-wait/$version/${RUNNER_ARCH:-X64}"
bin="$cache_root/bin/$exe"

found() {
  echo "peaka-wait $version: $1 ($bin)"
  echo "bin=$bin" >>"$GITHUB_OUTPUT"
  exit 0
}

[ -x "$bin" ] && found "from the tool cache"

# A release binary, when the action is used at a version tag.
if [ -n "$target" ] && [[ "${ACTION_REF:-}" == v* ]] && command -v gh >/dev/null 2>&1; then
  asset="peaka-wait-$target.tar.gz"
  tmp=$(mktemp -d)
  if gh release download "$ACTION_REF" --repo "$ACTION_REPOSITORY" --dir "$tmp" \
       --pattern "$asset" --pattern "$asset.sha256" 2>/dev/null; then
    (cd "$tmp" && if command -v sha256sum >/dev/null; then sha256sum -c "$asset.sha256"; else shasum -a 256 -c "$asset.sha256"; fi)
    mkdir -p "$cache_root/bin"
    tar -xzf "$tmp/$asset" -C "$cache_root/bin" "$exe"
    found "release binary for $target, sha256 verified"
  fi
  echo "no release binary for $target at $ACTION_REF; building from source"
fi

command -v cargo >/dev/null 2>&1 || { echo "::error title=peaka-wait::no release binary for this runner and no cargo to build one"; exit 1; }
cargo install --locked --quiet --path "$ACTION_PATH" --root "$cache_root" --bin peaka-wait
found "built from source"
