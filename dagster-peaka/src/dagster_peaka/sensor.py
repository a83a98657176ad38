"""The sensor and the asset check: both ask the binary once and report what it saw.

Each sensor tick runs `peaka-wait --timeout 0` over every cache (and once
more over every materialized query) and reports the events of `events.py`
for the runs it has not reported yet. A
tick whose check could not say anything about the refreshes (a usage
error, a refused key, an unknown cache id, an API refusal, a missing
binary) fails with the binary's message, so it shows as a failed tick in
Dagster; the cursor does not move, and once the setup is fixed the next
tick reports what was missed. A check that is merely not ready (exit 3) is
a skipped tick naming what each cache waits for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    multi_asset_check,
    sensor,
)

from dagster_peaka.check import SETUP_ERRORS, PeakaCheckError, Summary
from dagster_peaka.events import CHECK_NAME, QUERY_CURSOR_PREFIX, new_events, new_query_events, read_cursor
from dagster_peaka.resource import PeakaResource


def _checks(peaka: PeakaResource, cache_ids: list[str], query_ids: list[str]) -> list[Summary]:
    """One single check for the caches and one for the queries.

    Apart, because beside caches the binary looks at the queries only once
    every cache is ready (the ordered gate): a query run that ends while a
    cache refreshes must still be reported.
    """
    summaries = []
    if cache_ids:
        summaries.append(_usable(peaka.check(cache_ids)))
    if query_ids:
        summaries.append(_usable(peaka.check([], query_ids)))
    return summaries


def build_peaka_sensor(
    keys: Mapping[str, AssetKey],
    name: str = "peaka_cache_sensor",
    minimum_interval_seconds: int = 60,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    query_keys: Mapping[str, AssetKey] | None = None,
):
    """A sensor over these caches (cache id -> asset key) and materialized queries, using `peaka`."""
    cache_ids = list(keys)
    query_keys = dict(query_keys or {})
    query_ids = list(query_keys)

    @sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Runs peaka-wait's single check; records each completed Peaka cache refresh "
        "as a materialization and each failed one as a failed peaka_refresh check.",
    )
    def _sensor(context: SensorEvaluationContext, peaka: PeakaResource) -> SensorResult:
        summaries = _checks(peaka, cache_ids, query_ids)
        seen = read_cursor(context.cursor)
        events = []
        for summary in summaries:
            for outcome in summary.caches:
                key = keys.get(outcome.cache_id)
                if key is None:
                    continue
                found = new_events(outcome, key, seen)
                if found:
                    events += found
                    seen[outcome.cache_id] = outcome.execution_id or ""
            for query in summary.queries:
                key = query_keys.get(query.query_id)
                if key is None:
                    continue
                found = new_query_events(query, key, seen)
                if found:
                    events += found
                    seen[QUERY_CURSOR_PREFIX + query.query_id] = query.run_id or ""
        if not events:
            message = "; ".join(summary.message for summary in summaries)
            return SensorResult(
                skip_reason=f"no new refresh: {message}", cursor=json.dumps(seen, sort_keys=True)
            )
        return SensorResult(asset_events=events, cursor=json.dumps(seen, sort_keys=True))

    return _sensor


def build_peaka_checks(
    keys: Mapping[str, AssetKey],
    name: str = "peaka_refresh",
    query_keys: Mapping[str, AssetKey] | None = None,
):
    """The `peaka_refresh` check of every cache and query asset, run on demand as single checks.

    The sensor reports the same check after each refresh; run by hand, it
    passes when the binary calls the cache (or query) ready now (its last
    refresh completed and none is running), warns while one is running and
    fails when the refresh that counts failed.
    """
    query_keys = dict(query_keys or {})
    specs = [AssetCheckSpec(CHECK_NAME, asset=key) for key in [*keys.values(), *query_keys.values()]]

    @multi_asset_check(specs=specs, name=name)
    def _checks_now(peaka: PeakaResource):
        summaries = _checks(peaka, list(keys), list(query_keys))
        caches = {o.cache_id: (o.state, o.execution_id) for s in summaries for o in s.caches}
        queries = {o.query_id: (o.state, o.run_id) for s in summaries for o in s.queries}
        for what, ids, found, run_name in (
            ("cache", keys, caches, "execution_id"),
            ("materialized query", query_keys, queries, "started_at"),
        ):
            for item_id, key in ids.items():
                state, run = found.get(item_id, ("missing from the summary", None))
                # Still refreshing is a warning; a refresh that failed, or
                # one the check could not see, is an error.
                yield AssetCheckResult(
                    asset_key=key,
                    check_name=CHECK_NAME,
                    passed=state == "ready",
                    severity=AssetCheckSeverity.WARN if state == "waiting" else AssetCheckSeverity.ERROR,
                    description=f"{what} {item_id}: {state}",
                    metadata={"state": state, run_name: run or ""},
                )

    return _checks_now


def _usable(summary: Summary) -> Summary:
    if summary.result in SETUP_ERRORS:
        raise PeakaCheckError(f"peaka-wait: {summary.result} (exit {summary.exit_code}): {summary.message}")
    return summary
