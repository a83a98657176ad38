#!/usr/bin/env bash
# Runs a job only when its Peaka cache has been refreshed; for cron.
#
#   gated-job.sh COMMAND [ARGS...]
#
# The gate is configured by the environment (PEAKA_PROJECT_ID,
# PEAKA_CACHE_ID, PEAKA_API_KEY or PEAKA_API_KEY_FILE, PEAKA_SINCE, ...);
# PEAKA_TIMEOUT bounds the wait (this script's default: 30m). Exit codes:
#   the job's own   the cache was ready and the job ran
#   75              stale: not refreshed in time; nothing ran, the next run will try again
#   1, 4, 5, 6, 7   broken: the refresh failed, the key or an id is wrong, the
#                   API refused, or the refresh is stuck; someone must look
#   2               this script or the gate is misconfigured (no COMMAND, a bad setting)
set -u

if [ "$#" -eq 0 ] || [ -z "$1" ]; then
  echo "gated-job: no command to run; usage: gated-job.sh COMMAND [ARGS...]" >&2
  exit 2
fi
job=$1
# The user's PEAKA_TIMEOUT wins; peaka-wait reads it itself.
export PEAKA_TIMEOUT="${PEAKA_TIMEOUT:-30m}"

# peaka-wait runs the job itself once ready (`-- COMMAND`), without the API
# key in its environment. The job removes the marker as it starts, which
# tells its own exit code from the gate's (a job may exit 3 too).
not_started=$(mktemp) || exit 2
trap 'rm -f "$not_started"' EXIT
"${PEAKA_WAIT:-peaka-wait}" -- sh -c 'rm -f "$0" && exec "$@"' "$not_started" "$@"
gate=$?
[ -e "$not_started" ] || exit "$gate" # the job ran: its code is the script's
case $gate in
  0)
    echo "gated-job: the gate was ready but '$job' did not start" >&2
    exit 2
    ;;
  3)
    echo "gated-job: the cache was not refreshed within $PEAKA_TIMEOUT; skipping '$job' until the next run" >&2
    exit 75 # EX_TEMPFAIL
    ;;
  1 | 4 | 5 | 6 | 7)
    echo "gated-job: the gate failed with exit $gate (see its message above); '$job' did not run" >&2
    exit "$gate"
    ;;
  *)
    echo "gated-job: the gate ended with exit $gate; '$job' did not run" >&2
    exit "$gate"
    ;;
esac
