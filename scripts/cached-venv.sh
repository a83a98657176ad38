#!/usr/bin/env bash
# cached-venv.sh NAME REQUIREMENTS: prints the path of a venv with the pinned
# REQUIREMENTS installed, cached under ~/.cache/peaka-wait/NAME-venv-KEY,
# KEY being the hash of the requirements and the Python version. A fresh
# machine (or a new pin) builds it; venvs of older pins are removed.
# Progress goes to stderr, the path alone to stdout.
set -euo pipefail
name=$1
requirements=$2
python=${PYTHON:-python3}
key=$({ cat "$requirements"; "$python" --version; } | sha256sum | cut -c1-16)
venv="${HOME}/.cache/peaka-wait/$name-venv-$key"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "$name: building the venv $venv" >&2
  rm -rf "${HOME}/.cache/peaka-wait/$name-venv-"*
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  touch "$venv/.complete"
else
  echo "$name: reusing the venv $venv" >&2
fi
echo "$venv"
