"""Reads the PEAKA_* environment into Definitions, for `dagster dev -m dagster_peaka.definitions`.

The variables are the binary's where they mean the same thing
(PEAKA_PROJECT_ID, PEAKA_CACHE_ID, PEAKA_MATERIALIZED_QUERY, PEAKA_API_KEY,
PEAKA_API_KEY_FILE, PEAKA_BASE_URL, PEAKA_EXECUTION) plus PEAKA_DAGSTER_INTERVAL, the seconds
between sensor ticks. The key is passed as EnvVar, so Dagster keeps the
variable's name, never its value.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import DefaultSensorStatus, Definitions, EnvVar

from dagster_peaka.build import build_peaka_definitions
from dagster_peaka.resource import PeakaResource

EXECUTIONS = ("any", "incremental", "full", "both")
DEFAULT_INTERVAL_SECONDS = 60


class PeakaConfigError(ValueError):
    """A PEAKA_* variable is missing or wrong; the message names it and says how to fix it."""


def definitions_from_env(env: Mapping[str, str]) -> Definitions:
    """The Definitions the PEAKA_* variables describe; the sensor starts running."""
    project_id = env.get("PEAKA_PROJECT_ID", "").strip()
    if not project_id:
        raise PeakaConfigError(
            "PEAKA_PROJECT_ID is not set: set it to the Peaka project that owns the caches"
        )
    cache_ids = [c.strip() for c in env.get("PEAKA_CACHE_ID", "").split(",") if c.strip()]
    query_ids = [q.strip() for q in env.get("PEAKA_MATERIALIZED_QUERY", "").split(",") if q.strip()]
    if not cache_ids and not query_ids:
        raise PeakaConfigError(
            "PEAKA_CACHE_ID is not set: set it to the cache ids to watch, comma-separated "
            "(`peaka-wait --list-caches` lists them), or PEAKA_MATERIALIZED_QUERY to materialized "
            "query ids (`peaka-wait --list-materialized-queries`)"
        )
    has_key = bool(env.get("PEAKA_API_KEY", "").strip())
    has_file = bool(env.get("PEAKA_API_KEY_FILE", "").strip())
    if not has_key and not has_file:
        raise PeakaConfigError("neither PEAKA_API_KEY nor PEAKA_API_KEY_FILE is set: set one of them")
    execution = env.get("PEAKA_EXECUTION", "").strip() or None
    if execution is not None and execution not in EXECUTIONS:
        raise PeakaConfigError(f"PEAKA_EXECUTION={execution!r}: use one of {', '.join(EXECUTIONS)}")
    interval_text = env.get("PEAKA_DAGSTER_INTERVAL", "").strip() or str(DEFAULT_INTERVAL_SECONDS)
    try:
        interval = int(interval_text)
    except ValueError:
        interval = 0
    if interval < 1:
        raise PeakaConfigError(
            f"PEAKA_DAGSTER_INTERVAL={interval_text!r}: "
            "give the seconds between sensor ticks, a whole number from 1"
        )
    peaka = PeakaResource(
        project_id=project_id,
        api_key=EnvVar("PEAKA_API_KEY") if has_key else None,
        api_key_file=EnvVar("PEAKA_API_KEY_FILE") if has_file and not has_key else None,
        base_url=env.get("PEAKA_BASE_URL", "").strip() or None,
        execution=execution,
    )
    return build_peaka_definitions(
        peaka,
        cache_ids,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
        query_ids=query_ids,
    )
