#!/usr/bin/env bash
# Proves the Python wheel: builds it with `pip wheel .` from the workspace
# (maturin, bindings = "bin"), installs it into a fresh venv, and runs the
# installed peaka-wait from that venv's PATH: --version, then one gate
# against the fake Peaka API (ready, exit 0, a JSON summary on stdout).
set -euo pipefail
cd "$(dirname "$0")/.."
# Where cargo builds: CARGO_TARGET_DIR when set (relative to the repo root).
target=${CARGO_TARGET_DIR:-target}

python=${PYTHON:-python3}
work=$(mktemp -d)
fake=
trap '[ -z "$fake" ] || kill "$fake" 2>/dev/null || true; rm -rf "$work"' EXIT

"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$work/dist" .
wheel=$(ls "$work"/dist/peaka_wait-*.whl)
echo "wheel: $(basename "$wheel") ($(wc -c <"$wheel") bytes)"
mkdir -p "$target/wheels"
cp "$wheel" "$target/wheels/"

"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$wheel"

cargo build --locked --quiet -p fake-peaka
"$target/debug/fake-peaka" >"$work/url" &
fake=$!
for _ in $(seq 50); do [ -s "$work/url" ] && break; sleep 0.1; done
base_url=$(head -n 1 "$work/url")
[ -n "$base_url" ] || { echo "wheel: the fake API did not start" >&2; exit 1; }

# Only the venv on PATH: the binary must be the one the wheel installed.
(
  export PATH="$work/venv/bin:/usr/bin:/bin"
  found=$(command -v peaka-wait)
  [ "$found" = "$work/venv/bin/peaka-wait" ] || { echo "wheel: peaka-wait found at '$found'" >&2; exit 1; }
  version=$(peaka-wait --version)
  echo "$version"
  [ "$version" = "peaka-wait $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)" ] \
    || { echo "wheel: unexpected version '$version'" >&2; exit 1; }
  code=0
  summary=$(PEAKA_API_KEY=demo-key peaka-wait --base-url "$base_url" --project-id demo \
    --cache-id completes-after-2s --timeout 1m --output json 2>"$work/stderr") || code=$?
  echo "$summary"
  [ "$code" -eq 0 ] || { cat "$work/stderr"; echo "wheel: the gate exited $code, not 0" >&2; exit 1; }
  case "$summary" in *'"result":"ready"'*) ;; *) echo "wheel: no ready summary" >&2; exit 1 ;; esac
)
echo "wheel: ok"
