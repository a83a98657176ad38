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
