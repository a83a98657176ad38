#!/usr/bin/env bash
# The GitHub Action's install step: puts a peaka-wait binary on the runner
# and sets the step output `bin` to its path.
#
# Nothing found on the runner runs unverified, because a self-hosted
# runner's tool cache may be shared with other jobs and outlive a source
# change:
# 1. At a release tag, the release's published sha256 is the key: the
#    release archive is kept in the tool cache under that checksum, checked
#    against it on every use (downloaded again when it does not match) and
#    unpacked for this job alone, in $RUNNER_TEMP.
# 2. Otherwise (@main, @<sha>, a fork, no release binary), the binary is
#    built from the action's own source with `cargo install --locked` and
#    kept under a digest of that source (Cargo.toml, Cargo.lock, .cargo/,
#    src/), with its own sha256 recorded beside it. A cached build is used
#    only when that record matches the binary and neither is writable by
#    another account; else it is built again. A build of other source never
#    matches: the key moves with every change.
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
tool_cache="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/peaka-wait"
job_dir="${RUNNER_TEMP:-/tmp}"

found() {
  echo "peaka-wait $version: $1 ($bin)"
  echo "bin=$bin" >>"$GITHUB_OUTPUT"
  exit 0
}

# The sha256 of a file (or of stdin), as 64 hex digits.
sha256() {
  local sum
  if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum "$@"); else sum=$(shasum -a 256 "$@"); fi
  echo "${sum%% *}"
}

# Why this file or directory may not be trusted, if it may not: another
# account owns it, or may write it. (Windows has no such modes to check.)
untrusted() {
  [ "${RUNNER_OS:-}" = Windows ] && return 1
  if [ -n "$(find "$1" -prune ! -user "$(id -u)")" ]; then
    echo "$1 belongs to another account"
  elif [ -n "$(find "$1" -prune \( -perm -g+w -o -perm -o+w \))" ]; then
    echo "$1 is writable by other accounts"
  else
    return 1
  fi
}

# A release binary, when the action is used at a version tag.
if [ -n "$target" ] && [[ "${ACTION_REF:-}" == v* ]] && command -v gh >/dev/null 2>&1; then
  asset="peaka-wait-$target.tar.gz"
  tmp=$(mktemp -d "$job_dir/peaka-wait-release.XXXXXX")
  if gh release download "$ACTION_REF" --repo "$ACTION_REPOSITORY" --dir "$tmp" \
       --pattern "$asset.sha256" 2>/dev/null; then
    want=$(sed -n '1s/^\([0-9a-fA-F]\{64\}\).*/\1/p' "$tmp/$asset.sha256" | tr 'A-F' 'a-f')
    [ -n "$want" ] || { echo "::error title=peaka-wait::$asset.sha256 of release $ACTION_REF holds no sha256"; exit 1; }
    kept="$tool_cache/sha256-$want/$asset"
    if [ -f "$kept" ] && [ "$(sha256 "$kept")" = "$want" ]; then
      archive="$kept"
      how="release binary for $target from the tool cache, sha256 verified"
    else
      [ -e "$kept" ] && echo "the cached $kept does not match the release's sha256; downloading it again"
      gh release download "$ACTION_REF" --repo "$ACTION_REPOSITORY" --dir "$tmp" --pattern "$asset"
      got=$(sha256 "$tmp/$asset")
      [ "$got" = "$want" ] || { echo "::error title=peaka-wait::$asset of release $ACTION_REF has sha256 $got, not the published $want"; exit 1; }
      archive="$tmp/$asset"
      how="release binary for $target, sha256 verified"
      # Kept for the next job; a cache that cannot be written costs a download.
      if mkdir -p "${kept%/*}" 2>/dev/null && cp "$archive" "$kept.$$" 2>/dev/null; then
        mv -f "$kept.$$" "$kept" || true
      fi
    fi
    mkdir -p "$tmp/bin"
    tar -xzf "$archive" -C "$tmp/bin" "$exe"
    bin="$tmp/bin/$exe"
    found "$how"
  fi
  echo "no release binary for $target at $ACTION_REF; building from source"
fi

# What is built: the digest of every file the build reads from the source.
source_digest() {
  (
    cd "$ACTION_PATH"
    { echo Cargo.toml; echo Cargo.lock; find .cargo src -type f 2>/dev/null || true; } | LC_ALL=C sort |
      while IFS= read -r file; do echo "$(sha256 "$file")  $file"; done | sha256
  )
}

cache_root="$tool_cache/$version-$(source_digest)/${RUNNER_ARCH:-X64}"
bin="$cache_root/bin/$exe"
record="$cache_root/$exe.sha256"

# Why the cached build may not run, if it may not.
unverified() {
  [ -f "$bin" ] || { echo "no cached build"; return 0; }
  [ -f "$record" ] || { echo "no sha256 recorded beside $bin"; return 0; }
  local path
  # Every level another account could rename or replace, down to the files.
  for path in "$tool_cache" "${cache_root%/*}" "$cache_root" "$cache_root/bin" "$bin" "$record"; do
    untrusted "$path" && return 0
  done
  [ "$(sha256 "$bin")" = "$(cat "$record")" ] || { echo "$bin does not match the sha256 recorded beside it"; return 0; }
  return 1
}

if ! why=$(unverified); then
  found "from the tool cache, sha256 verified"
fi
[ "$why" = "no cached build" ] || echo "not using the cached build: $why"

command -v cargo >/dev/null 2>&1 || { echo "::error title=peaka-wait::no release binary for this runner and no cargo to build one"; exit 1; }
# Built apart, then moved into place whole, so that no job ever sees half
# a build or a binary without its record.
if mkdir -p "${cache_root%/*}" 2>/dev/null; then
  chmod go-w "$tool_cache" "${cache_root%/*}" 2>/dev/null || true
fi
fresh=$(mktemp -d "${cache_root%/*}/.build.XXXXXX" 2>/dev/null) ||
  fresh=$(mktemp -d "$job_dir/peaka-wait-build.XXXXXX")
cargo install --locked --quiet --path "$ACTION_PATH" --root "$fresh" --bin peaka-wait
sha256 "$fresh/bin/$exe" >"$fresh/$exe.sha256"
chmod -R go-w "$fresh"
rm -rf "$cache_root" 2>/dev/null || true
if [ ! -e "$cache_root" ] && mv "$fresh" "$cache_root" 2>/dev/null && ! unverified >/dev/null; then
  found "built from source"
fi
# Another job's build took the place meanwhile, or a bad one could not be
# removed: this job uses its own.
bin="$fresh/bin/$exe"
found "built from source (not cached)"
