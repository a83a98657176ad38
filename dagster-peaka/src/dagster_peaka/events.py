"""Turns the single check's per-cache and per-query outcomes into Dagster asset events, once per run.

A completed refresh becomes an AssetMaterialization of the cache's asset
(execution id, kind, records, start and finish times) and a passed
`peaka_refresh` check; a failed or stalled one becomes a failed
`peaka_refresh` check (severity ERROR) with the execution's error. The
cursor maps each cache id to the last execution reported, so a refresh is
reported once however many ticks see it. A materialized query's run is
reported the same way, known by its start time (it has no execution id);
`FAILED` and `CANCELED` fail its check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey, AssetMaterialization, MetadataValue

from dagster_peaka.check import CacheOutcome, QueryOutcome, clean, parse_time

CHECK_NAME = "peaka_refresh"
FAILED_STATES = ("failed", "stalled")
# A query's entry in the cursor: its own name space, so that a cache and a
# query with the same id never hide each other's runs.
QUERY_CURSOR_PREFIX = "materialized-query:"


def _name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def cache_asset_key(cache_id: str) -> AssetKey:
    """`peaka/<cache id>`, with every character Dagster refuses in a name made `_`."""
    return AssetKey(["peaka", _name(cache_id)])


def query_asset_key(query_id: str) -> AssetKey:
    """`peaka/materialized_query/<query id>`, made safe as `cache_asset_key` does."""
    return AssetKey(["peaka", "materialized_query", _name(query_id)])


def read_cursor(cursor: str | None) -> dict[str, str]:
    """The last execution reported per cache; an unreadable cursor is an empty one."""
    try:
        seen = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}
    if not isinstance(seen, dict):
        return {}
    return {k: v for k, v in seen.items() if isinstance(k, str) and isinstance(v, str)}


def new_events(
    outcome: CacheOutcome, key: AssetKey, seen: Mapping[str, str]
) -> list[AssetMaterialization | AssetCheckEvaluation]:
    """The events for this outcome, or none when its execution was reported already."""
    execution_id = outcome.execution_id
    if execution_id is None or seen.get(outcome.cache_id) == execution_id:
        return []
    metadata = _metadata(outcome)
    if outcome.state == "ready":
        return [
            AssetMaterialization(
                asset_key=key,
                description=f"Peaka cache {outcome.cache_id}: refresh {execution_id} completed",
                metadata=metadata,
            ),
            AssetCheckEvaluation(asset_key=key, check_name=CHECK_NAME, passed=True, metadata=metadata),
        ]
    if outcome.state in FAILED_STATES:
        # The summary's `error` is the execution's message (a string); an
        # object with a `message` is read too.
        error = (outcome.execution or {}).get("error")
        message = error.get("message") if isinstance(error, dict) else error
        message = message if isinstance(message, str) and message else None
        status = (outcome.execution or {}).get("status")
        description = f"refresh {execution_id} {clean(status or outcome.state)}"
        if outcome.state == "stalled":
            description += " (stalled: it stopped moving)"
        if message:
            description += f": {clean(message)}"
            metadata["error"] = MetadataValue.text(clean(message))
        return [
            AssetCheckEvaluation(
                asset_key=key,
                check_name=CHECK_NAME,
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                description=description,
                metadata=metadata,
            )
        ]
    return []


def new_query_events(
    outcome: QueryOutcome, key: AssetKey, seen: Mapping[str, str]
) -> list[AssetMaterialization | AssetCheckEvaluation]:
    """The events for this query's run (known by its start time), or none when it was reported already."""
    run = outcome.run_id
    if run is None or seen.get(QUERY_CURSOR_PREFIX + outcome.query_id) == run:
        return []
    metadata: dict[str, MetadataValue] = {
        "query_id": MetadataValue.text(clean(outcome.query_id)),
        "status": MetadataValue.text(clean(outcome.status or "")),
    }
    if outcome.name:
        metadata["query_name"] = MetadataValue.text(outcome.name)
    for name, value in (("started_at", outcome.started_at), ("updated_at", outcome.updated_at)):
        moment = parse_time(value)
        if moment is not None:
            metadata[name] = MetadataValue.timestamp(moment)
    what = f"Peaka materialized query {clean(outcome.query_id)}: the run started {clean(run)}"
    if outcome.state == "ready":
        return [
            AssetMaterialization(asset_key=key, description=f"{what} completed", metadata=metadata),
            AssetCheckEvaluation(asset_key=key, check_name=CHECK_NAME, passed=True, metadata=metadata),
        ]
    if outcome.state in FAILED_STATES:
        return [
            AssetCheckEvaluation(
                asset_key=key,
                check_name=CHECK_NAME,
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                description=f"{what} ended {clean(outcome.status or outcome.state)}",
                metadata=metadata,
            )
        ]
    return []


def _metadata(outcome: CacheOutcome) -> dict[str, MetadataValue]:
    execution = outcome.execution or {}
    metadata: dict[str, MetadataValue] = {
        "cache_id": MetadataValue.text(clean(outcome.cache_id)),
        "execution_id": MetadataValue.text(clean(execution.get("id"))),
        "execution_status": MetadataValue.text(clean(execution.get("status"))),
    }
    if isinstance(execution.get("kind"), str):
        metadata["execution_kind"] = MetadataValue.text(clean(execution["kind"]))
    records = execution.get("records")
    if isinstance(records, int) and not isinstance(records, bool):
        metadata["records"] = MetadataValue.int(records)
    for name, field in (("started_at", "createdAt"), ("finished_at", "finishedAt")):
        moment = parse_time(execution.get(field))
        if moment is not None:
            metadata[name] = MetadataValue.timestamp(moment)
    if outcome.table:
        metadata["table"] = MetadataValue.text(outcome.table)
    return metadata
