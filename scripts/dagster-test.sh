#!/usr/bin/env bash
# Proves dagster-peaka under real Dagster (pinned in
# dagster-peaka/requirements-ci.txt, SQLite instances, no services): ruff,
# then its pytest suite against the fake Peaka API with the binaries built
# from this checkout — the sensor evaluated by Dagster across a refresh that
# completes and one that fails, the on-demand check, and the real sensor
# daemon (`dagster-daemon run -m dagster_peaka.definitions`) configured only
# by PEAKA_* variables, with the key scanned for in everything it wrote.
# The venv is cached under ~/.cache/peaka-wait/, keyed by the pinned
# requirements and the Python version; a fresh machine builds it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

venv=$(./scripts/cached-venv.sh dagster dagster-peaka/requirements-ci.txt)

# The package under test is reinstalled on every run; its peaka-wait
# dependency is the binary built here, found by path (pytest) or on PATH
# (the daemon), never a wheel from PyPI.
cargo build --locked --quiet -p peaka-wait -p fake-peaka
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall ./dagster-peaka

echo "dagster: ruff (lint and format) and pytest"
(cd dagster-peaka && "$venv/bin/ruff" check --quiet . && "$venv/bin/ruff" format --check --quiet .)
bin=$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)
PEAKA_WAIT_BIN="$bin/peaka-wait" PEAKA_FAKE_BIN="$bin/fake-peaka" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider dagster-peaka/tests
echo "dagster: ok"
