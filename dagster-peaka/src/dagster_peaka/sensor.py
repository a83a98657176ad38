"""The sensor and the asset check: both ask the binary once and report what it saw.

Each sensor tick runs `peaka-wait --timeout 0` over every cache and reports
the events of `events.py` for the executions it has not reported yet. A
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
from dagster_peaka.events import CHECK_NAME, new_events, read_cursor
from dagster_peaka.resource import PeakaResource


def build_peaka_sensor(
    keys: Mapping[str, AssetKey],
    name: str = "peaka_cache_sensor",
    minimum_interval_seconds: int = 60,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
):
    """A sensor over these caches (cache id -> asset key), using the PeakaResource `peaka`."""
    cache_ids = list(keys)

    @sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Runs peaka-wait's single check; records each completed Peaka cache refresh "
        "as a materialization and each failed one as a failed peaka_refresh check.",
    )
    def _sensor(context: SensorEvaluationContext, peaka: PeakaResource) -> SensorResult:
        summary = _usable(peaka.check(cache_ids))
        seen = read_cursor(context.cursor)
        events = []
        for outcome in summary.caches:
            key = keys.get(outcome.cache_id)
            if key is None:
                continue
            found = new_events(outcome, key, seen)
            if found:
                events += found
                seen[outcome.cache_id] = outcome.execution_id or ""
        if not events:
            return SensorResult(
                skip_reason=f"no new refresh: {summary.message}", cursor=json.dumps(seen, sort_keys=True)
            )
        return SensorResult(asset_events=events, cursor=json.dumps(seen, sort_keys=True))

    return _sensor


def build_peaka_checks(keys: Mapping[str, AssetKey], name: str = "peaka_refresh"):
    """The `peaka_refresh` check of every cache asset, run on demand as one single check.

    The sensor reports the same check after each refresh; run by hand, it
    passes when the binary calls the cache ready now (its last refresh
    completed and none is running), warns while one is running and fails
    when the refresh that counts failed.
    """
    by_key = {key: cache_id for cache_id, key in keys.items()}
    specs = [AssetCheckSpec(CHECK_NAME, asset=key) for key in keys.values()]

    @multi_asset_check(specs=specs, name=name)
    def _checks(peaka: PeakaResource):
        summary = _usable(peaka.check(list(keys)))
        outcomes = {outcome.cache_id: outcome for outcome in summary.caches}
        for key, cache_id in by_key.items():
            outcome = outcomes.get(cache_id)
            state = outcome.state if outcome else "missing from the summary"
            # Still refreshing is a warning; a refresh that failed, or a
            # cache the check could not see, is an error.
            yield AssetCheckResult(
                asset_key=key,
                check_name=CHECK_NAME,
                passed=state == "ready",
                severity=AssetCheckSeverity.WARN if state == "waiting" else AssetCheckSeverity.ERROR,
                description=f"cache {cache_id}: {state}",
                metadata={"state": state, "execution_id": (outcome.execution_id if outcome else None) or ""},
            )

    return _checks


def _usable(summary: Summary) -> Summary:
    if summary.result in SETUP_ERRORS:
        raise PeakaCheckError(f"peaka-wait: {summary.result} (exit {summary.exit_code}): {summary.message}")
    return summary
