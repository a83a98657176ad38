#!/usr/bin/env bash
# The GitHub Action's run step: maps the inputs (passed as INPUT_* env vars,
# never interpolated into script text) onto peaka-wait's PEAKA_* variables
# and runs the gate. peaka-wait itself writes the step outputs, the step
# summary and the error annotation; its exit code is the step's.
set -uo pipefail

set_if() { # set_if PEAKA_NAME "value": only inputs that were given
  if [ -n "$2" ]; then export "$1=$2"; fi
}
set_if PEAKA_PROJECT_ID "${INPUT_PROJECT_ID:-}"
# Several caches: commas or newlines (a YAML block), spaces trimmed by peaka-wait.
set_if PEAKA_CACHE_ID "$(printf '%s' "${INPUT_CACHE_ID:-}" | tr '\r\n' ',,')"
set_if PEAKA_TABLE "$(printf '%s' "${INPUT_TABLE:-}" | tr '\r\n' ',,')"
set_if PEAKA_MATERIALIZED_QUERY "$(printf '%s' "${INPUT_MATERIALIZED_QUERY:-}" | tr '\r\n' ',,')"
set_if PEAKA_REFRESH_QUERY "$(printf '%s' "${INPUT_REFRESH_QUERY:-}" | tr '\r\n' ',,')"
set_if PEAKA_CATALOG_ID "${INPUT_CATALOG_ID:-}"
set_if PEAKA_SCHEMA "${INPUT_SCHEMA:-}"
set_if PEAKA_BASE_URL "${INPUT_BASE_URL:-}"
set_if PEAKA_EXECUTION "${INPUT_EXECUTION:-}"
set_if PEAKA_SINCE "${INPUT_SINCE:-}"
set_if PEAKA_STARTED_AFTER "${INPUT_STARTED_AFTER:-}"
set_if PEAKA_TRIGGER "${INPUT_TRIGGER:-}"
set_if PEAKA_RESUME "${INPUT_RESUME:-}"
set_if PEAKA_STALL_TIMEOUT "${INPUT_STALL_TIMEOUT:-}"
set_if PEAKA_PROXY "${INPUT_PROXY:-}"
set_if PEAKA_TIMEOUT "${INPUT_TIMEOUT:-}"
set_if PEAKA_INITIAL_INTERVAL "${INPUT_INITIAL_INTERVAL:-}"
set_if PEAKA_MAX_INTERVAL "${INPUT_MAX_INTERVAL:-}"
set_if PEAKA_SCHEDULE "${INPUT_SCHEDULE:-}"
set_if PEAKA_DETECTION_DELAY "${INPUT_DETECTION_DELAY:-}"
set_if PEAKA_API_KEY_FILE "${INPUT_API_KEY_FILE:-}"
set_if PEAKA_REQUEST_TIMEOUT "${INPUT_REQUEST_TIMEOUT:-}"
set_if PEAKA_LOG_FORMAT "${INPUT_LOG_FORMAT:-}"
set_if PEAKA_LOG_LEVEL "${INPUT_LOG_LEVEL:-}"
set_if PEAKA_OUTPUT "${INPUT_OUTPUT:-}"
# Booleans go through as written: peaka-wait accepts true/false, 1/0,
# yes/no, on/off in any case, and names the input when it cannot.
set_if PEAKA_ALL_CACHES "${INPUT_ALL_CACHES:-}"
set_if PEAKA_QUIET "${INPUT_QUIET:-}"
set_if PEAKA_CANCEL_ON_EXIT "${INPUT_CANCEL_ON_EXIT:-}"
set_if PEAKA_NO_WAIT "${INPUT_NO_WAIT:-}"
set_if PEAKA_CANCEL "${INPUT_CANCEL:-}"
# Tells peaka-wait that PEAKA_* came from inputs, so a message about a bad
# value names the input as well as the variable.
export PEAKA_WAIT_ACTION=1

"${PEAKA_WAIT_BIN:-peaka-wait}"
