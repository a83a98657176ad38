"""Definitions for a set of Peaka caches: their external assets, the sensor, the check, the resource."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster import AssetKey, AssetSpec, DefaultSensorStatus, Definitions

from dagster_peaka.events import cache_asset_key, query_asset_key
from dagster_peaka.resource import PeakaResource
from dagster_peaka.sensor import build_peaka_checks, build_peaka_sensor

Ids = Sequence[str] | Mapping[str, AssetKey | str]


def _keys(ids: Ids, default) -> dict[str, AssetKey]:
    if isinstance(ids, Mapping):
        return {
            i: key if isinstance(key, AssetKey) else AssetKey.from_user_string(key) for i, key in ids.items()
        }
    return {i: default(i) for i in ids}


def peaka_cache_keys(cache_ids: Ids) -> dict[str, AssetKey]:
    """Cache id -> asset key: given, or `peaka/<cache id>`; two caches may not share a key."""
    keys = _keys(cache_ids, cache_asset_key)
    if not keys:
        raise ValueError("no Peaka cache id given")
    _distinct(keys, {})
    return keys


def peaka_query_keys(query_ids: Ids) -> dict[str, AssetKey]:
    """Materialized query id -> asset key: given, or `peaka/materialized_query/<query id>`."""
    keys = _keys(query_ids, query_asset_key)
    _distinct(keys, {})
    return keys


def _distinct(keys: Mapping[str, AssetKey], owners: dict[AssetKey, str]) -> None:
    for item_id, key in keys.items():
        if key in owners:
            raise ValueError(
                f"{owners[key]!r} and {item_id!r} would share the asset key {key.to_user_string()}: "
                "give them keys of their own (a mapping of id to asset key)"
            )
        owners[key] = item_id


def build_peaka_definitions(
    peaka: PeakaResource,
    cache_ids: Ids = (),
    minimum_interval_seconds: int = 60,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    query_ids: Ids = (),
) -> Definitions:
    """The caches and materialized queries as external assets (kind `peaka`), the sensor, checks, resource."""
    keys = _keys(cache_ids, cache_asset_key)
    query_keys = _keys(query_ids, query_asset_key)
    if not keys and not query_keys:
        raise ValueError("no Peaka cache id or materialized query id given")
    _distinct(query_keys, _owners(keys))
    specs = [
        AssetSpec(
            key,
            description=f"Peaka cache {cache_id} (project {peaka.project_id}), refreshed by Peaka.",
            metadata={"peaka/cache_id": cache_id, "peaka/project_id": peaka.project_id},
            kinds={"peaka"},
        )
        for cache_id, key in keys.items()
    ] + [
        AssetSpec(
            key,
            description=f"Peaka materialized query {query_id} (project {peaka.project_id}), run by Peaka.",
            metadata={"peaka/materialized_query_id": query_id, "peaka/project_id": peaka.project_id},
            kinds={"peaka"},
        )
        for query_id, key in query_keys.items()
    ]
    return Definitions(
        assets=specs,
        asset_checks=[build_peaka_checks(keys, query_keys=query_keys)],
        sensors=[
            build_peaka_sensor(
                keys,
                minimum_interval_seconds=minimum_interval_seconds,
                default_status=default_status,
                query_keys=query_keys,
            )
        ],
        resources={"peaka": peaka},
    )


def _owners(keys: Mapping[str, AssetKey]) -> dict[AssetKey, str]:
    owners: dict[AssetKey, str] = {}
    _distinct(keys, owners)
    return owners
