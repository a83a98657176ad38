#!/usr/bin/env bash
# Proves the container image: lints the Dockerfile, builds the final stage
# offline with podman from a locally built static binary (no base image is
# pulled), checks its size and user, and runs it against the fake API:
# ready exits 0, a failed refresh 1, JSON logs when asked, SIGTERM 143.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where cargo builds: CARGO_TARGET_DIR when set (relative to the repo root).
target=${CARGO_TARGET_DIR:-target}

hadolint --failure-threshold warning Dockerfile

host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --quiet -p peaka-wait --target "$host"
cargo build --locked --quiet -p fake-peaka
ctx=$(mktemp -d)
cp "$target/$host/release/peaka-wait" "$ctx/peaka-wait"

image=localhost/peaka-wait:ci
podman build --quiet --runtime runc --network host --build-context build="$ctx" -t "$image" . >/dev/null
size=$(podman image inspect "$image" --format '{{.Size}}')
user=$(podman image inspect "$image" --format '{{.Config.User}}')
echo "image: $size bytes, user $user"
[ "$size" -lt 10000000 ] || { echo "image is $size bytes, over 10 MB" >&2; exit 1; }
[ "$user" = "65532:65532" ] || { echo "image user is '$user'" >&2; exit 1; }

url_file=$(mktemp)
"$target/debug/fake-peaka" >"$url_file" &
fake=$!
trap 'kill "$fake" 2>/dev/null || true; podman rm -f peaka-wait-sigterm >/dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do [ -s "$url_file" ] && break; sleep 0.1; done
base_url=$(head -n 1 "$url_file")

gate() { # gate CACHE [podman run options...]: runs the image, prints its exit code
  local cache=$1
  shift
  local code=0
  podman run --rm --runtime runc --network host \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    -e PEAKA_API_KEY=demo-key -e PEAKA_BASE_URL="$base_url" -e PEAKA_PROJECT_ID=demo \
    -e PEAKA_CACHE_ID="$cache" -e PEAKA_INITIAL_INTERVAL=200ms -e PEAKA_TIMEOUT=1m \
    "$@" "$image" >"$ctx/stdout" 2>"$ctx/stderr" || code=$?
  echo "$code"
}

code=$(gate completes-after-1s~container)
[ "$code" = 0 ] || { echo "ready: exit $code" >&2; cat "$ctx/stderr" >&2; exit 1; }
echo "ready: exit 0 — $(cat "$ctx/stdout")"

code=$(gate fails-after-1s~container)
[ "$code" = 1 ] || { echo "failed: exit $code" >&2; cat "$ctx/stderr" >&2; exit 1; }
echo "failed: exit 1 — $(cat "$ctx/stdout")"

code=$(gate completes-after-500ms~container-json -e PEAKA_LOG_FORMAT=json -e PEAKA_OUTPUT=json)
[ "$code" = 0 ] || { echo "json: exit $code" >&2; exit 1; }
python3 - "$ctx/stderr" "$ctx/stdout" <<'PY'
import json, sys
logs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
assert logs and all({"timestamp", "level", "message"} <= set(l) for l in logs), logs
assert json.load(open(sys.argv[2]))["result"] == "ready"
print(f"json logs: {len(logs)} lines, all JSON objects")
PY

# A pod stopped during a rollout: SIGTERM ends the gate at once with 143.
podman run -d --name peaka-wait-sigterm --runtime runc --network host \
  --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  -e PEAKA_API_KEY=demo-key -e PEAKA_BASE_URL="$base_url" -e PEAKA_PROJECT_ID=demo \
  -e PEAKA_CACHE_ID=stuck~container "$image" >/dev/null
sleep 1
start=$(date +%s%N)
podman stop --time 10 peaka-wait-sigterm >/dev/null
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
code=$(podman inspect peaka-wait-sigterm --format '{{.State.ExitCode}}')
[ "$code" = 143 ] || { echo "SIGTERM: exit $code" >&2; exit 1; }
[ "$took_ms" -lt 5000 ] || { echo "SIGTERM took ${took_ms} ms" >&2; exit 1; }
echo "SIGTERM: exit 143 after ${took_ms} ms"
