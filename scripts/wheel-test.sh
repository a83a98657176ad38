#!/usr/bin/env bash
# Proves the Python distributions install as the README says: builds them
# into dist/ (scripts/wheel-build.sh: the manylinux2014 wheel of the binary
# and the provider's wheel, both through `twine check`), installs both into
# a fresh venv from that local wheel directory with
# `pip install --find-links dist airflow-provider-peaka` (Airflow itself
# from the package index, held to the CI pins), and gates with them against
# the fake Peaka API: the installed peaka-wait from the venv's PATH
# (--version, then a ready cache), and the provider's gate, which must find
# that same binary on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where cargo builds: CARGO_TARGET_DIR when set (relative to the repo root).
target=${CARGO_TARGET_DIR:-target}

python=${PYTHON:-python3}
work=$(mktemp -d)
fake=
trap '[ -z "$fake" ] || kill "$fake" 2>/dev/null || true; rm -rf "$work"' EXIT

./scripts/wheel-build.sh
wheel=$(ls dist/peaka_wait-*.whl)
echo "wheel: $(basename "$wheel") ($(wc -c <"$wheel") bytes)"

"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --find-links dist \
  -c airflow-provider/requirements-ci.txt airflow-provider-peaka
# Read whole, not piped into `grep -q`: grep would stop at the first match and
# pip, writing on, would fail on the closed pipe (pipefail).
files=$("$work/venv/bin/pip" show --files peaka-wait)
grep -q 'bin/peaka-wait$' <<<"$files" \
  || { echo "wheel: pip did not install peaka-wait from dist/" >&2; exit 1; }

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

# The provider, installed from dist/, gates with the binary its venv holds
# (the venv is not activated and not on PATH, as in many Airflow images).
PATH=/usr/bin:/bin "$work/venv/bin/python" - "$base_url" "$work/venv/bin/peaka-wait" <<'PY'
import asyncio, logging, sys
from peaka_airflow import gate

logging.basicConfig(level=logging.INFO, format="%(message)s")
found = gate.find_binary()
assert found == sys.argv[2], f"the provider found {found}, not the wheel's binary"
spec = gate.GateSpec(project_id="demo", cache_ids=["completes-after-1s~provider"], timeout="1m")
value = asyncio.run(gate.run_gate(spec, "demo-key", sys.argv[1], logging.getLogger("wheel")))
assert value["result"] == "ready", value
print("wheel: the provider gated with", found, "->", value["result"])
PY
echo "wheel: ok"
