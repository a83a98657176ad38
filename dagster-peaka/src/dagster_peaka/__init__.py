"""Peaka caches and materialized queries as Dagster external assets, materialized when a refresh ends.

Every readiness rule lives in the peaka-wait binary; this package runs its
single check and reports what it saw. `dagster_peaka.definitions` holds
`defs` built from the PEAKA_* environment.
"""

from dagster_peaka.build import build_peaka_definitions, peaka_cache_keys, peaka_query_keys
from dagster_peaka.check import PeakaCheckError
from dagster_peaka.env import PeakaConfigError, definitions_from_env
from dagster_peaka.events import CHECK_NAME, cache_asset_key, query_asset_key
from dagster_peaka.resource import PeakaResource
from dagster_peaka.sensor import build_peaka_checks, build_peaka_sensor

__all__ = [
    "CHECK_NAME",
    "PeakaCheckError",
    "PeakaConfigError",
    "PeakaResource",
    "build_peaka_checks",
    "build_peaka_definitions",
    "build_peaka_sensor",
    "cache_asset_key",
    "definitions_from_env",
    "peaka_cache_keys",
    "peaka_query_keys",
    "query_asset_key",
]
