"""PeakaWaitTrigger: serialisable, one event per run, and it stops the binary when cancelled."""

from __future__ import annotations

import asyncio
import importlib

import psutil

from conftest import KEY
from peaka_airflow.triggers import PeakaWaitTrigger


def spec(cache_id: str, **extra) -> dict:
    return {"project_id": "demo", "cache_ids": [cache_id], "timeout": "1m", **extra}


def test_serialize_round_trips_without_the_key():
    trigger = PeakaWaitTrigger(spec=spec("c", trigger="full", since="now"), peaka_conn_id="peaka_eu")
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.spec.trigger == "full" and rebuilt.peaka_conn_id == "peaka_eu"
    assert KEY not in repr(kwargs)


async def first_event(trigger: PeakaWaitTrigger):
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    return events[0].payload


def test_run_fires_one_event_with_the_outcome(connection, binary, unique):
    cache_id = f"completes-after-1s{unique}"
    payload = asyncio.run(first_event(PeakaWaitTrigger(spec=spec(cache_id), binary=binary)))
    assert payload["result"] == "ready"
    assert payload["caches"][cache_id]["execution_id"].startswith("completes-after-1s")


def test_a_connection_without_a_key_is_a_usage_event(connection, binary):
    connection(password="")
    payload = asyncio.run(first_event(PeakaWaitTrigger(spec=spec("c"), binary=binary)))
    assert payload["result"] == "usage"
    assert "'peaka_default' has no password" in payload["message"]


def children_named(name: str) -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.name() == name]


def test_cancellation_stops_the_binary(connection, binary, unique):
    async def cancel_while_waiting():
        run = asyncio.ensure_future(
            first_event(PeakaWaitTrigger(spec=spec(f"stuck{unique}", timeout="10m"), binary=binary))
        )
        for _ in range(100):
            await asyncio.sleep(0.05)
            running = children_named("peaka-wait")
            if running:
                break
        assert running, "peaka-wait never started"
        run.cancel()
        try:
            await run
        except asyncio.CancelledError:
            pass
        return running

    running = asyncio.run(cancel_while_waiting())
    for process in running:
        assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    assert children_named("peaka-wait") == []


def fake_stats(base_url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/_fake/stats", timeout=10) as reply:
        return json.load(reply)


def triggered(binary: str, base_url: str, cache_id: str) -> dict:
    """Start a refresh as the sensor does on the worker; the spec with its resume token."""
    import logging

    from peaka_airflow import gate

    start = gate.GateSpec(project_id="demo", cache_ids=[cache_id], trigger="incremental", timeout="1m")
    event = gate.run_once(
        start, KEY, base_url, logging.getLogger("t"), binary, ("--no-wait",), "triggered", 30
    )
    assert event["result"] == "triggered" and event["resume"], event
    return {**start.to_kwargs(), "resume": event["resume"]}


def test_a_restart_resumes_the_same_run_without_a_trigger_or_a_cancel(connection, binary, base_url, unique):
    spec = triggered(binary, base_url, f"triggered-completes-after-4s{unique}")
    before = fake_stats(base_url)

    async def stopped_then_resumed():
        # The triggerer shuts down: the trigger is cancelled, on_kill is not called.
        first = asyncio.ensure_future(first_event(PeakaWaitTrigger(spec=spec, binary=binary)))
        await asyncio.sleep(1.5)
        first.cancel()
        try:
            await first
        except asyncio.CancelledError:
            pass
        # The restarted triggerer rebuilds the trigger from its kwargs.
        return await first_event(PeakaWaitTrigger(spec=spec, binary=binary))

    payload = asyncio.run(stopped_then_resumed())
    after = fake_stats(base_url)
    assert payload["result"] == "ready"
    assert payload["caches"][f"triggered-completes-after-4s{unique}"]["execution_id"].endswith("-triggered")
    assert after["triggers"] == before["triggers"] and after["cancels"] == before["cancels"]


def test_on_kill_cancels_only_the_run_the_task_triggered(connection, binary, base_url, unique):
    import time

    spec = triggered(binary, base_url, f"triggered-stuck{unique}")
    time.sleep(2.5)  # the triggered record appears
    before = fake_stats(base_url)["cancels"]
    asyncio.run(PeakaWaitTrigger(spec=spec, binary=binary, cancel_on_kill=False).on_kill())
    asyncio.run(PeakaWaitTrigger(spec={**spec, "resume": None}, binary=binary).on_kill())
    assert fake_stats(base_url)["cancels"] == before
    asyncio.run(PeakaWaitTrigger(spec=spec, binary=binary).on_kill())
    assert fake_stats(base_url)["cancels"] == before + 1
    payload = asyncio.run(first_event(PeakaWaitTrigger(spec=spec, binary=binary)))
    assert payload["result"] == "failed" and "CANCELLED" in payload["message"]


def test_a_deadline_in_the_past_checks_once(connection, binary, unique):
    trigger = PeakaWaitTrigger(
        spec=spec(f"stuck{unique}", timeout="10m"), binary=binary, deadline="2026-01-01T00:00:00Z"
    )
    payload = asyncio.run(first_event(trigger))
    assert payload["result"] == "timeout"
