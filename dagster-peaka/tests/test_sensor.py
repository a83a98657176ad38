"""The sensor evaluated by Dagster (build_sensor_context, a real on-disk instance) against fake-peaka."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import pytest

from conftest import wait_until
from dagster_peaka import (
    CHECK_NAME,
    PeakaCheckError,
    PeakaResource,
    build_peaka_definitions,
    cache_asset_key,
    query_asset_key,
)


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=dict(defs.resources or {})
    )
    result = defs.resolve_sensor_def("peaka_cache_sensor")(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_a_completed_refresh_is_materialized_once_and_a_failed_one_fails_its_check(
    peaka: PeakaResource, tag: str, tmp_path: Path, api_key: str
):
    done, bad = f"completes-after-3s~{tag}", f"fails-after-3s~{tag}"
    defs = build_peaka_definitions(peaka, [done, bad], minimum_interval_seconds=1)
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        started = time.monotonic()
        first = tick(defs, instance, None)
        # Both refreshes are RUNNING: nothing to report, and the tick says why.
        assert not first.asset_events
        assert first.skip_reason is not None and "RUNNING" in first.skip_reason.skip_message
        assert json.loads(first.cursor or "{}") == {}

        wait_until(started + 3.5)
        second = tick(defs, instance, first.cursor)
        by_kind = {(type(e).__name__, e.asset_key.path[-1]): e for e in second.asset_events}
        done_key, bad_key = cache_asset_key(done), cache_asset_key(bad)
        assert set(by_kind) == {
            ("AssetMaterialization", done_key.path[-1]),
            ("AssetCheckEvaluation", done_key.path[-1]),
            ("AssetCheckEvaluation", bad_key.path[-1]),
        }
        materialization = by_kind[("AssetMaterialization", done_key.path[-1])]
        assert materialization.asset_key == done_key
        meta = materialization.metadata
        assert meta["execution_id"].value == f"{done}-exec-2"
        assert meta["execution_status"].value == "COMPLETED"
        assert meta["execution_kind"].value == "incremental"
        assert meta["records"].value == 1300
        assert meta["finished_at"].value - meta["started_at"].value == pytest.approx(3.0, abs=0.01)
        assert meta["table"].value == f"fake-catalog.public.{done}"
        passed = by_kind[("AssetCheckEvaluation", done_key.path[-1])]
        assert passed.passed and passed.check_name == CHECK_NAME
        failed = by_kind[("AssetCheckEvaluation", bad_key.path[-1])]
        assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
        assert failed.description == f"refresh {bad}-exec-2 FAILED: Source connection refused"
        assert failed.metadata["error"].value == "Source connection refused"
        assert json.loads(second.cursor or "") == {done: f"{done}-exec-2", bad: f"{bad}-exec-2"}

        # The same executions on the next tick: reported once only.
        third = tick(defs, instance, second.cursor)
        assert not third.asset_events
        assert json.loads(third.cursor or "") == json.loads(second.cursor or "")
        # A lost cursor reports the latest executions again rather than never.
        assert len(tick(defs, instance, "not json").asset_events) == 3
        assert api_key not in repr([first, second, third])


def test_materialized_query_runs_are_reported_once_even_while_a_cache_refreshes(
    peaka: PeakaResource, tag: str, tmp_path: Path, api_key: str
):
    done, bad, new = f"mq-completes-after-3s~{tag}", f"mq-fails-after-3s~{tag}", f"mq-new~{tag}"
    # The cache refreshes all along: beside it the binary looks at queries
    # only once it is ready, so the sensor asks about them apart.
    cache = f"stuck~{tag}"
    defs = build_peaka_definitions(peaka, [cache], minimum_interval_seconds=1, query_ids=[done, bad, new])
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        started = time.monotonic()
        first = tick(defs, instance, None)
        # RUNNING, and a new query's COMPLETED with no start time: nothing
        # has been materialized, so nothing is reported.
        assert not first.asset_events
        assert json.loads(first.cursor or "{}") == {}

        wait_until(started + 3.5)
        second = tick(defs, instance, first.cursor)
        by_kind = {(type(e).__name__, e.asset_key): e for e in second.asset_events}
        done_key, bad_key = query_asset_key(done), query_asset_key(bad)
        assert done_key == dg.AssetKey(["peaka", "materialized_query", f"mq_completes_after_3s_{tag}"])
        assert set(by_kind) == {
            ("AssetMaterialization", done_key),
            ("AssetCheckEvaluation", done_key),
            ("AssetCheckEvaluation", bad_key),
        }
        meta = by_kind[("AssetMaterialization", done_key)].metadata
        assert meta["query_id"].value == done
        assert meta["status"].value == "COMPLETED"
        assert meta["updated_at"].value - meta["started_at"].value == pytest.approx(3.0, abs=0.01)
        assert by_kind[("AssetCheckEvaluation", done_key)].passed
        failed = by_kind[("AssetCheckEvaluation", bad_key)]
        assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
        assert failed.description.endswith("ended FAILED"), failed.description
        cursor = json.loads(second.cursor or "")
        assert set(cursor) == {f"materialized-query:{done}", f"materialized-query:{bad}"}

        # Reported once: the next tick sees the same runs.
        third = tick(defs, instance, second.cursor)
        assert not third.asset_events
        assert api_key not in repr([first, second, third])


def test_a_new_execution_is_reported_after_an_old_one(peaka: PeakaResource, tag: str, tmp_path: Path):
    cache = f"completes-after-1s~{tag}"
    defs = build_peaka_definitions(peaka, [cache])
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        first = tick(defs, instance, json.dumps({cache: "an-older-execution"}))
        assert not first.asset_events  # still RUNNING
        time.sleep(1.5)
        second = tick(defs, instance, first.cursor)
        assert [type(e).__name__ for e in second.asset_events] == [
            "AssetMaterialization",
            "AssetCheckEvaluation",
        ]


@pytest.mark.parametrize(
    ("cache", "key", "result"),
    [("no-such-scenario", None, "not_found"), ("completes-after-1s", "wrong-key-123456", "unauthorized")],
)
def test_a_setup_error_fails_the_tick_with_the_binarys_message(
    peaka: PeakaResource, tmp_path: Path, api_key: str, cache: str, key: str | None, result: str
):
    if key is not None:
        peaka = PeakaResource(project_id="p", api_key=key, base_url=peaka.base_url, binary=peaka.binary)
    defs = build_peaka_definitions(peaka, [cache])
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        with pytest.raises(Exception) as raised:
            tick(defs, instance, None)
    text = str(raised.value)
    assert f"peaka-wait: {result}" in text, text
    assert api_key not in text and (key or api_key) not in text


def test_a_missing_binary_is_named(fake_url: str, api_key: str, tmp_path: Path):
    peaka = PeakaResource(project_id="p", api_key=api_key, base_url=fake_url, binary="no-such-peaka-wait")
    defs = build_peaka_definitions(peaka, ["completes-after-1s"])
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        with pytest.raises(Exception, match="peaka-wait binary was not found"):
            tick(defs, instance, None)
    assert issubclass(PeakaCheckError, Exception)


def test_the_check_runs_on_demand(peaka: PeakaResource, tag: str, tmp_path: Path):
    done, bad = f"completes-after-1s~{tag}", f"fails-after-1s~{tag}"
    defs = build_peaka_definitions(peaka, [done, bad])
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        running = job.execute_in_process(instance=instance, raise_on_error=False)
        time.sleep(1.5)
        finished = job.execute_in_process(instance=instance, raise_on_error=False)

    def outcome(result) -> dict[str, tuple[bool, str]]:
        return {
            e.asset_key.path[-1]: (e.passed, e.severity.value) for e in result.get_asset_check_evaluations()
        }

    done_key, bad_key = cache_asset_key(done).path[-1], cache_asset_key(bad).path[-1]
    assert outcome(running) == {done_key: (False, "WARN"), bad_key: (False, "WARN")}
    assert outcome(finished) == {done_key: (True, "ERROR"), bad_key: (False, "ERROR")}
