"""PeakaCacheSensor: arguments, synchronous waits against the real binary, deferral, templates."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from conftest import KEY
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


def test_deferrable_defers_to_the_trigger_without_the_key(connection, binary):
    task = sensor(binary, cache_ids=["c"], trigger="incremental", deferrable=True, timeout=600)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, PeakaWaitTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=660)
    assert trigger.spec.trigger == "incremental" and trigger.spec.timeout == "600000ms"
    assert KEY not in repr(trigger.serialize())


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
    with pytest.raises(ValueError, match="list of cache ids"):
        sensor(binary, cache_ids="orders")
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
