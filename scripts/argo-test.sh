#!/usr/bin/env bash
# Validates the Argo WorkflowTemplate offline against Argo's schema (the
# models hera-workflows ships, pinned in examples/argo/requirements-ci.txt)
# and the gate's rules (retry on exit 3 only, a deadline above the timeout,
# the key from a Secret, the summary as an output parameter), then proves
# each rule refuses a template that breaks it (scripts/argo_check.py). The
# venv is cached under ~/.cache/peaka-wait/, keyed by the pinned
# requirements and the Python version; a fresh machine builds it.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=$(./scripts/cached-venv.sh argo examples/argo/requirements-ci.txt)

"$venv/bin/ruff" check --quiet --line-length 110 --select E,F,W,I,UP,B scripts/argo_check.py
"$venv/bin/ruff" format --check --quiet --line-length 110 scripts/argo_check.py
"$venv/bin/python" scripts/argo_check.py examples/argo/workflowtemplate.yaml
echo "argo: ok"
