#!/usr/bin/env bash
# Builds the two Python distributions into dist/ of the checkout, as a
# package index accepts them:
# - peaka-wait: the binary in a manylinux2014 x86_64 wheel (maturin with
#   zig as the linker, so that it links against glibc 2.17 whatever the
#   build machine's glibc is);
# - airflow-provider-peaka: the provider's wheel.
# Then `twine check` reads both, and the binary in the wheel is checked to
# need no glibc symbol newer than 2.17 (what manylinux2014 promises).
# maturin, ziglang and twine come from PyPI, pinned, in a venv cached under
# ~/.cache/peaka-wait/ keyed by the pins.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
pins="maturin==1.16.0 ziglang==0.17.1 twine==7.0.0"
key=$({ echo "$pins"; "$python" --version; } | sha256sum | cut -c1-16)
tools="${HOME}/.cache/peaka-wait/wheel-tools-$key"
if [ ! -f "$tools/.complete" ]; then
  echo "wheel: building the tools venv $tools"
  rm -rf "${HOME}"/.cache/peaka-wait/wheel-tools-*
  "$python" -m venv "$tools"
  # shellcheck disable=SC2086 # the pins are words
  "$tools/bin/pip" install --quiet --disable-pip-version-check $pins
  touch "$tools/.complete"
fi

rm -rf dist
mkdir dist
# maturin finds zig through the ziglang package of its own venv.
PATH="$tools/bin:$PATH" "$tools/bin/maturin" build --release --zig --compatibility manylinux2014 \
  --target x86_64-unknown-linux-gnu --out dist --quiet
"$tools/bin/pip" wheel --quiet --disable-pip-version-check --no-deps -w dist ./airflow-provider
rm -rf airflow-provider/build

binary_wheel=$(ls dist/peaka_wait-*.whl)
provider_wheel=$(ls dist/airflow_provider_peaka-*.whl)
case "$binary_wheel" in
  *manylinux2014_x86_64*) ;;
  *) echo "wheel: $binary_wheel is not tagged manylinux2014_x86_64" >&2; exit 1 ;;
esac
"$tools/bin/twine" check --strict "$binary_wheel" "$provider_wheel"

# The newest glibc symbol version the binary needs, read from the wheel.
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
"$python" -m zipfile -e "$binary_wheel" "$unpacked"
newest=$(objdump -T "$unpacked"/peaka_wait-*.data/scripts/peaka-wait \
  | grep -o 'GLIBC_[0-9.]*' | sort -t. -k1,1 -k2,2n -k3,3n -u | tail -n 1)
echo "wheel: $(basename "$binary_wheel") needs $newest at most"
case "$newest" in
  GLIBC_2.[0-9] | GLIBC_2.1[0-7] | GLIBC_2.[0-9].* | GLIBC_2.1[0-7].*) ;;
  *) echo "wheel: the binary needs $newest, newer than manylinux2014's GLIBC_2.17" >&2; exit 1 ;;
esac
ls -l dist
