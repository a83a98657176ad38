"""PeakaCacheSensor: arguments, synchronous waits against the real binary, deferral, templates."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from conftest import KEY
from peaka_airflow.compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from peaka_airflow.sensors import PeakaCacheSensor
from peaka_airflow.triggers import PeakaWaitTrigger


def sensor(binary: str, **kwargs) -> PeakaCacheSensor:
    kwargs.setdefault("timeout", 60)
    return PeakaCacheSensor(task_id="wait", project_id="demo", binary=binary, **kwargs)


def test_ready_returns_each_caches_execution(connection, binary, unique):
    cache_id = f"completes-after-1s{unique}"
    value = sensor(binary, cache_ids=[cache_id]).execute({})
    assert value["result"] == "ready"
    cache = value["caches"][cache_id]
    assert cache["execution_id"].startswith("completes-after-1s") and cache["records"] > 0
    assert cache["finished_at"].endswith("Z")


def test_failed_names_the_cause_or_skips(connection, binary, unique):
    with pytest.raises(AirflowException, match="refresh failed: .*Source connection refused"):
        sensor(binary, cache_ids=[f"fails-after-1s{unique}"]).execute({})
    with pytest.raises(AirflowSkipException, match="Source connection refused"):
        sensor(binary, cache_ids=[f"fails-after-1s{unique}b"], soft_fail=True).execute({})


def test_timeout_is_the_sensor_timeout(connection, binary, unique):
    with pytest.raises(AirflowSensorTimeout, match="timed out"):
        sensor(binary, cache_ids=[f"stuck{unique}"], timeout=timedelta(seconds=1)).execute({})


def test_api_refusals_fail_without_retry(connection, binary, unique):
    with pytest.raises(AirflowFailException, match="not_found"):
        sensor(binary, cache_ids=[f"no-such-cache{unique}"]).execute({})
    connection(password="wrong-key")
    with pytest.raises(AirflowFailException, match="unauthorized") as raised:
        sensor(binary, cache_ids=[f"completes-after-1s{unique}"]).execute({})
    assert "wrong-key" not in str(raised.value)


def test_a_connection_host_that_is_not_a_url_is_named(connection, binary):
    connection(host="partner.peaka.studio")
    with pytest.raises(AirflowFailException, match="'peaka_default' has host 'partner.peaka.studio'"):
        sensor(binary, cache_ids=["c"]).execute({})


def fake_stats(base_url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/_fake/stats", timeout=10) as reply:
        return json.load(reply)


def test_deferrable_triggers_on_the_worker_and_defers_with_the_token(connection, binary, base_url, unique):
    before = fake_stats(base_url)["triggers"]
    task = sensor(
        binary,
        cache_ids=[f"triggered-completes-after-5s{unique}"],
        trigger="incremental",
        deferrable=True,
        since="now",
    )
    task.timeout = 600
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, PeakaWaitTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=660)
    # One trigger, on the worker; the trigger waits for that run by its token.
    assert fake_stats(base_url)["triggers"] == before + 1
    assert trigger.spec.resume and trigger.spec.resume.isprintable() and " " not in trigger.spec.resume
    assert trigger.spec.since.endswith("Z") and trigger.spec.since[:4].isdigit()
    assert trigger.cancel_on_kill and trigger.deadline.endswith("Z")
    assert "--trigger" not in trigger.spec.argv("x")
    assert KEY not in repr(trigger.serialize())


def test_a_cache_ready_at_the_start_ends_without_a_deferral(connection, binary, unique):
    task = sensor(binary, cache_ids=[f"finished-ago-1m{unique}"], deferrable=True)
    assert task.execute({})["result"] == "ready"


def test_deferrable_defaults_to_airflows_setting(monkeypatch):
    import importlib

    import peaka_airflow.sensors as sensors

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    try:
        assert (
            importlib.reload(sensors).PeakaCacheSensor(task_id="t", project_id="p", cache_ids="c").deferrable
        )
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
        assert (
            not importlib.reload(sensors)
            .PeakaCacheSensor(task_id="t", project_id="p", cache_ids="c")
            .deferrable
        )
    finally:
        monkeypatch.undo()
        importlib.reload(sensors)


def test_execute_complete_ends_like_the_synchronous_wait(binary):
    task = sensor(binary, cache_ids=["c"], deferrable=True)
    ready = {"result": "ready", "exit_code": 0, "message": "ok", "caches": {"c": {"execution_id": "e1"}}}
    assert task.execute_complete({}, ready)["caches"]["c"]["execution_id"] == "e1"
    with pytest.raises(AirflowSensorTimeout):
        task.execute_complete({}, {"result": "timeout", "exit_code": 3, "message": "late"})


def test_time_bounds_are_templated(connection, binary, unique):
    cache_id = f"completes-after-1s{unique}"
    task = sensor(
        binary, cache_ids=["{{ params.cache }}"], since="{{ data_interval_end - macros.timedelta(hours=1) }}"
    )
    end = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    from airflow.sdk.execution_time import macros

    task.render_template_fields({"data_interval_end": end, "macros": macros, "params": {"cache": cache_id}})
    spec = task.gate_spec()
    assert spec.since == "2026-11-25 11:00:00+00:00" and spec.cache_ids == [cache_id]
    # The binary reads the rendered form (finished after 11:00 on that day: any fresh execution).
    assert task.execute({})["result"] == "ready"


def test_wrong_arguments_fail_early(binary):
    with pytest.raises(AirflowFailException, match="each cache id must be a string"):
        sensor(binary, cache_ids=[{"id": "orders"}])
    with pytest.raises(AirflowFailException, match="all_caches"):
        sensor(binary, cache_ids=["a"], all_caches=True).gate_spec()


def test_timeout_zero_checks_once(connection, binary, unique):
    with pytest.raises(AirflowSensorTimeout, match="timed out"):
        sensor(binary, cache_ids=[f"stuck{unique}"], timeout=0).execute({})
    assert sensor(binary, cache_ids=[f"finished-ago-1m{unique}"], timeout=0).execute({})["result"] == "ready"


def test_resuming_keeps_usage_errors_failures_under_soft_fail(binary):
    task = sensor(binary, cache_ids=["c"], deferrable=True, soft_fail=True)
    usage = {"result": "usage", "exit_code": 2, "message": "--since: bad time"}
    with pytest.raises(AirflowFailException, match="bad time") as raised:
        task.resume_execution("execute_complete", {"event": usage}, {})
    assert not isinstance(raised.value, AirflowSkipException)
    failed = {"result": "failed", "exit_code": 1, "message": "FAILED"}
    with pytest.raises(AirflowSkipException):
        task.resume_execution("execute_complete", {"event": failed}, {})
    # The deferral's own timeout keeps Airflow's sensor semantics: a skip under soft_fail.
    with pytest.raises(AirflowSkipException):
        task.resume_execution("__fail__", {"error": "Trigger timeout"}, {})
    task.soft_fail = False
    with pytest.raises(AirflowSensorTimeout):
        task.resume_execution("__fail__", {"error": "Trigger timeout"}, {})


def test_never_fail_skips_every_failure(connection, binary, unique):
    with pytest.raises(AirflowSkipException, match="never_fail: .*Source connection refused"):
        sensor(binary, cache_ids=[f"fails-after-1s{unique}"], never_fail=True).execute({})
    connection(password="wrong-key")
    with pytest.raises(AirflowSkipException, match="never_fail: .*unauthorized"):
        sensor(binary, cache_ids=[f"completes-after-1s{unique}"], never_fail=True).execute({})


def test_cache_ids_accept_one_id_comma_separated_ids_and_xcom_args(connection, binary, unique):
    one, two = f"completes-after-1s{unique}", f"finished-ago-1m{unique}"
    value = sensor(binary, cache_ids=f"{one}, {two}").execute({})
    assert sorted(value["caches"]) == sorted([one, two])
    from airflow.sdk import DAG, task

    with DAG("xcom_ids", schedule=None):

        @task
        def ids() -> list[str]:
            return [one]

        upstream = ids()
        # Once a TypeError at DAG import ('XComArg' object is not iterable).
        waited = PeakaCacheSensor(task_id="wait", project_id="demo", cache_ids=upstream)
        mapped = PeakaCacheSensor.partial(task_id="each", project_id="demo").expand(cache_ids=upstream)
    assert waited.upstream_task_ids == {"ids"} and mapped.upstream_task_ids == {"ids"}


def test_templated_fields_cover_every_argument_a_user_may_render(binary):
    assert set(PeakaCacheSensor.template_fields) >= {
        "project_id",
        "cache_ids",
        "since",
        "started_after",
        "peaka_conn_id",
        "trigger",
        "execution",
        "stall_timeout",
        "timeout",
    }
    task = sensor(binary, cache_ids=["c"], timeout="{{ params.t }}", trigger="{{ params.kind }}")
    task.render_template_fields({"params": {"t": "10m", "kind": "full"}})
    spec = task.gate_spec()
    assert spec.timeout == "600000ms" and spec.trigger == "full" and task.timeout == 600.0


def test_a_failure_logs_the_executions_error_not_nones(connection, binary, unique, caplog):
    task = sensor(binary, cache_ids=[f"fails-after-1s{unique}"])
    lines: list[str] = []
    task.log.info = lambda msg, *args: lines.append(msg % args)
    task.log.error = lambda msg, *args: lines.append(msg % args)
    with pytest.raises(AirflowException):
        task.execute({})
    text = "\n".join(lines)
    assert "Source connection refused" in text and "error:" in text
    assert "None" not in text


def test_provider_info_lists_the_sensor_the_trigger_and_the_hook():
    import importlib

    from peaka_airflow import get_provider_info

    info = get_provider_info()
    modules = {
        m
        for kind in ("sensors", "triggers", "hooks")
        for entry in info[kind]
        for m in entry["python-modules"]
    }
    assert modules == {"peaka_airflow.sensors", "peaka_airflow.triggers", "peaka_airflow.hooks"}
    for module in modules:
        importlib.import_module(module)


def test_hook_test_connection_reads_the_projects_cache_list(monkeypatch, base_url):
    import json

    from peaka_airflow.hooks import PeakaHook

    def connect(password: str = KEY, extra: dict | None = None) -> tuple[bool, str]:
        conn = {"conn_type": "peaka", "host": base_url, "password": password, "extra": extra or {}}
        monkeypatch.setenv("AIRFLOW_CONN_PEAKA_DEFAULT", json.dumps(conn))
        return PeakaHook().test_connection()

    ok, message = connect(extra={"project_id": "demo"})
    assert ok and "project 'demo' has" in message
    ok, message = connect()
    assert not ok and "extra 'project_id'" in message
    ok, message = connect(password="wrong-key", extra={"project_id": "demo"})
    assert not ok and "401" in message and "wrong-key" not in message


class StateStore(dict):
    """The two calls the sensor makes of Airflow 3.3's task state store."""

    def set(self, key, value, **_):
        self[key] = value


def test_a_new_try_cancels_what_the_earlier_try_triggered(connection, binary, base_url, unique):
    import time
    import types

    cache_id = f"triggered-stuck{unique}"
    store = StateStore()
    first = sensor(binary, cache_ids=[cache_id], trigger="incremental", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        first.execute({"task_state_store": store, "ti": types.SimpleNamespace(try_number=1)})
    token = deferred.value.trigger.spec.resume
    assert store["peaka_wait_resume"] == {"try": 1, "resume": token}
    time.sleep(2.5)  # the triggered record appears
    before = fake_stats(base_url)
    # The same try again (a triggerer restart does not re-run execute, but a poke might): no cancel.
    again = sensor(binary, cache_ids=[cache_id], trigger="incremental", deferrable=True, cancel_on_kill=False)
    with pytest.raises(TaskDeferred):
        again.execute({"task_state_store": store, "ti": types.SimpleNamespace(try_number=2)})
    assert fake_stats(base_url)["cancels"] == before["cancels"]
    # A cleared task's next try: the earlier try's refresh is cancelled before the new trigger.
    store["peaka_wait_resume"] = {"try": 1, "resume": token}
    second = sensor(binary, cache_ids=[cache_id], trigger="incremental", deferrable=True)
    with pytest.raises(TaskDeferred):
        second.execute({"task_state_store": store, "ti": types.SimpleNamespace(try_number=2)})
    after = fake_stats(base_url)
    assert after["cancels"] == before["cancels"] + 1
    assert after["triggers"] == before["triggers"] + 2
    assert store["peaka_wait_resume"]["try"] == 2 and store["peaka_wait_resume"]["resume"] != token
