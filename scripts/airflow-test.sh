#!/usr/bin/env bash
# Proves the Airflow provider under real Airflow (pinned in
# airflow-provider/requirements-ci.txt, SQLite metadata DB): runs its pytest
# suite (also under the oldest supported Airflow, requirements-ci-3.0.txt),
# then DAGs with `airflow dags test` against the fake Peaka API — the
# example for a refresh that completes (deferred to PeakaWaitTrigger,
# resumed by its event, the execution id in XCom) and one that fails (the
# execution's error in the log), a wait on the worker, and the conventions
# DAG (XComArg, .expand, templates, mode="reschedule", default_deferrable,
# the check before deferring, asset events) — and finally
# scripts/airflow-restart-test.py, Airflow's components as separate
# processes. The venvs are cached under ~/.cache/peaka-wait/, keyed by the
# pins and the Python version; a fresh machine builds them.
set -euo pipefail
cd "$(dirname "$0")/.."

# The venvs: scripts/cached-venv.sh builds each once per pin set.
venv=$(./scripts/cached-venv.sh airflow airflow-provider/requirements-ci.txt)
# The oldest supported Airflow: the provider's pytest suite only.
venv30=$(./scripts/cached-venv.sh airflow30 airflow-provider/requirements-ci-3.0.txt)

# The code under test is reinstalled on every run: the manylinux wheel of
# the binary from dist/ (scripts/wheel-build.sh, rebuilt here when the
# sources are newer than it, e.g. when scripts/wheel-test.sh did not just
# run) and the provider from the working tree.
cargo build --locked --quiet -p peaka-wait -p fake-peaka
# Where cargo built them: CARGO_TARGET_DIR when set (relative to the repo root).
bin=$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)
wheel=$(ls dist/peaka_wait-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ] || [ -n "$(find src Cargo.toml Cargo.lock -newer "$wheel" | head -n 1)" ]; then
  ./scripts/wheel-build.sh
  wheel=$(ls dist/peaka_wait-*.whl)
fi
for v in "$venv" "$venv30"; do
  "$v/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall \
    "$wheel" ./airflow-provider
done
rm -rf airflow-provider/build

work=$(mktemp -d)
url_file="$work/fake-url"
"$bin/fake-peaka" >"$url_file" &
fake=$!
trap 'kill "$fake" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$url_file" ] && break; sleep 0.1; done
base_url=$(head -n 1 "$url_file")
[ -n "$base_url" ] || { echo "airflow: the fake API did not start" >&2; exit 1; }

echo "airflow: ruff (lint and format) and pytest"
(cd airflow-provider && "$venv/bin/ruff" check --quiet . && "$venv/bin/ruff" format --check --quiet .)
"$venv/bin/ruff" check --quiet --config airflow-provider/pyproject.toml scripts/airflow-restart-test.py
"$venv/bin/ruff" format --check --quiet --config airflow-provider/pyproject.toml scripts/airflow-restart-test.py
PEAKA_FAKE_URL="$base_url" PEAKA_WAIT_BIN="$bin/peaka-wait" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider airflow-provider/tests
echo "airflow: pytest under Airflow $("$venv30/bin/python" -c 'import airflow; print(airflow.__version__)')"
PEAKA_FAKE_URL="$base_url" PEAKA_WAIT_BIN="$bin/peaka-wait" \
  "$venv30/bin/python" -m pytest -q -p no:cacheprovider airflow-provider/tests

export AIRFLOW_HOME="$work/airflow"
# The example DAG, and a test DAG that waits without deferring.
mkdir "$work/dags"
cp airflow-provider/example_dags/*.py airflow-provider/tests/dags/*.py "$work/dags/"
export AIRFLOW__CORE__DAGS_FOLDER="$work/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW_CONN_PEAKA_DEFAULT="{\"conn_type\": \"peaka\", \"host\": \"$base_url\", \"password\": \"demo-key\"}"
# The binary must come from the wheel installed in the venv, as in a real
# Airflow image, not from PATH.
export PATH=/usr/bin:/bin
"$venv/bin/airflow" db migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; exit 1; }

# dag_test CACHE_ID LOG [DAG]: runs a DAG (the example) for one cache; prints the exit code.
dag_test() {
  local code=0
  "$venv/bin/airflow" dags test "${3:-peaka_example}" -c "{\"cache_id\": \"$1\"}" >"$2" 2>&1 || code=$?
  echo "$code"
}
fail() { echo "airflow: $*" >&2; exit 1; }
# sql QUERY: one query on the metadata DB, rows as text
sql() { "$venv/bin/python" - "$AIRFLOW_HOME/airflow.db" "$1" <<'PY'
import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
PY
}

echo "airflow: dags test, a refresh that completes (deferrable)"
cache="triggered-completes-after-3s~ok"
code=$(dag_test "$cache" "$work/ready.log")
states=$(sql "select task_id, state from task_instance order by task_id")
echo "$states"
[ "$code" -eq 0 ] || { cat "$work/ready.log"; fail "dags test exited $code for $cache"; }
[ "$states" = $'load|success\nreport|success\nwait_for_cache|success' ] || fail "unexpected task states"
# Deferred: the task paused, its trigger was recorded and run, and the task
# resumed in execute_complete with the trigger's event.
for line in "Pausing task as DEFERRED" "running trigger in line" "running peaka-wait in the triggerer" \
  "resumed by the trigger's event: ready" "Trigger completed"; do
  grep -qF "$line" "$work/ready.log" || { cat "$work/ready.log"; fail "no '$line' in the log"; }
done
trigger=$(sql "select t.classpath, t.kwargs from trigger t join task_instance ti on ti.trigger_id = t.id where ti.task_id = 'wait_for_cache'")
echo "trigger: ${trigger%%|*}"
[ "${trigger%%|*}" = peaka_airflow.triggers.PeakaWaitTrigger ] || fail "the task did not defer to PeakaWaitTrigger: $trigger"
case "$trigger" in *demo-key*) fail "the API key is in the stored trigger" ;; esac
if grep -qF demo-key "$work/ready.log"; then fail "the API key is in the log"; fi
xcom=$(sql "select value from xcom where task_id = 'wait_for_cache' and key = 'return_value'")
execution_id=$(printf '%s' "$xcom" | "$venv/bin/python" -c \
  "import json,sys; print(json.load(sys.stdin)['caches']['$cache']['execution_id'])")
echo "XCom execution_id: $execution_id"
[ "$execution_id" = "$cache-triggered" ] || fail "XCom holds execution '$execution_id'"
grep -qF "cache $cache ready: execution $execution_id" "$work/ready.log" || fail "report did not read the XCom"

echo "airflow: dags test, a refresh that fails"
cache="triggered-fails-after-2s~bad"
code=$(dag_test "$cache" "$work/failed.log")
state=$(sql "select state from task_instance where dag_id = 'peaka_example' and task_id = 'wait_for_cache' and run_id = (select max(run_id) from dag_run where dag_id = 'peaka_example')")
report=$(sql "select state from task_instance where dag_id = 'peaka_example' and task_id = 'report' and run_id = (select max(run_id) from dag_run where dag_id = 'peaka_example')")
echo "exit $code; wait_for_cache $state, report $report"
[ "$state" = failed ] || { cat "$work/failed.log"; fail "wait_for_cache is '$state', not failed"; }
[ "$report" = upstream_failed ] || fail "report is '$report', not upstream_failed"
grep -q "Peaka cache refresh failed: .*Source connection refused" "$work/failed.log" \
  || { cat "$work/failed.log"; fail "the execution's error is not in the log"; }
echo "airflow: dags test, waiting on the worker (not deferrable), a time bound from a macro"
cache="completes-after-2s~sync"
code=$(dag_test "$cache" "$work/sync.log" peaka_sync)
state=$(sql "select state from task_instance where dag_id = 'peaka_sync'")
rendered=$(sql "select rendered_fields from rendered_task_instance_fields where dag_id = 'peaka_sync'")
echo "exit $code; wait_for_cache $state; rendered: $rendered"
[ "$code" -eq 0 ] && [ "$state" = success ] || { cat "$work/sync.log"; fail "the synchronous wait did not succeed"; }
# The binary's own log lines reached the task log, and nothing deferred.
grep -qE "peaka-wait: cache $cache: incremental sync [^ ]+ COMPLETED" "$work/sync.log" || { cat "$work/sync.log"; fail "the binary's log is not in the task log"; }
if grep -qF "Pausing task as DEFERRED" "$work/sync.log"; then fail "the synchronous sensor deferred"; fi
grep -qE '"started_after": "20[0-9]{2}-[0-9]{2}-[0-9]{2}[ T][0-9:.]+\+00:00"' <<<"$rendered" \
  || fail "started_after was not rendered from the macro: $rendered"
case "$rendered" in *demo-key*) fail "the API key is in the rendered fields" ;; esac
if grep -qF demo-key "$work/sync.log" "$work/failed.log"; then fail "the API key is in a log"; fi
grep -qE "cache triggered-fails-after-2s~bad: execution [^ ]+ error: .*Source connection refused" "$work/failed.log" \
  || { cat "$work/failed.log"; fail "the failed execution's error is not logged per cache"; }
if grep -qF "finished at None" "$work/failed.log"; then fail "a failure logged 'finished at None'"; fi

echo "airflow: dags test, the conventions (XComArg, expand, templates, reschedule, default_deferrable, assets)"
tag="~c$(date +%s)"
# fake_triggers: how many refreshes the fake API was asked to start so far
fake_triggers() { "$venv/bin/python" -c "import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + '/_fake/stats'))['triggers'])" "$base_url"; }
triggers_before=$(fake_triggers)
code=0
AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=True "$venv/bin/airflow" dags test peaka_conventions \
  -c "{\"tag\": \"$tag\"}" >"$work/conventions.log" 2>&1 || code=$?
states=$(sql "select task_id || coalesce('[' || nullif(map_index, -1) || ']', '') || '=' || state || ':' || (trigger_id is not null) from task_instance where dag_id = 'peaka_conventions' order by task_id, map_index")
echo "$states" | tr '\n' ' '; echo
[ "$code" -eq 0 ] || { cat "$work/conventions.log"; fail "dags test peaka_conventions exited $code"; }
# from_xcom deferred (default_deferrable), ready_at_once did not (checked once first).
expected=$'from_xcom=success:1\nids=success:0\nmapped[0]=success:0\nmapped[1]=success:0\nready_at_once=success:0\nrescheduled=success:0\ntemplated=success:0'
[ "$states" = "$expected" ] || { cat "$work/conventions.log"; fail "unexpected conventions states"; }
reschedules=$(sql "select count(*) from task_reschedule r join task_instance ti on ti.id = r.ti_id where ti.dag_id = 'peaka_conventions' and ti.task_id = 'rescheduled'")
triggers_after=$(fake_triggers)
echo "rescheduled: $reschedules reschedules, $((triggers_after - triggers_before)) trigger"
[ "$reschedules" -ge 1 ] || fail "the rescheduled sensor was never rescheduled"
[ "$((triggers_after - triggers_before))" -eq 1 ] || fail "the rescheduled sensor triggered $((triggers_after - triggers_before)) times, not once"
rendered=$(sql "select rendered_fields from rendered_task_instance_fields where dag_id = 'peaka_conventions' and task_id = 'templated'")
grep -qF '"timeout": "120"' <<<"$rendered" || fail "timeout was not rendered: $rendered"
grep -qF '"peaka_conn_id": "peaka_default"' <<<"$rendered" || fail "peaka_conn_id was not rendered: $rendered"
events=$(sql "select a.uri, e.extra from asset_event e join asset a on a.id = e.asset_id where a.uri like 'peaka://demo/caches/%$tag%' order by a.uri")
echo "$events"
grep -qE "^peaka://demo/caches/completes-after-2s$tag\|.*\"execution_id\": \"completes-after-2s$tag-exec-[0-9]+\"" <<<"$events" \
  || fail "no asset event with the execution for completes-after-2s$tag"
for id in "finished-ago-1m$tag" "completes-after-1s${tag}t" "triggered-completes-after-6s$tag"; do
  grep -qF "peaka://demo/caches/$id|" <<<"$events" || fail "no asset event for $id"
done
grep -qF '"execution_kind": "incremental"' <<<"$events" || fail "no execution_kind in the asset events"
grep -qE '"records": [0-9]+' <<<"$events" || fail "no records in the asset events"
if grep -qF demo-key "$work/conventions.log"; then fail "the API key is in a log"; fi

echo "airflow: the scheduler, dag-processor and triggerer as processes: restarts and clears"
"$venv/bin/python" scripts/airflow-restart-test.py

echo "airflow: ok"
