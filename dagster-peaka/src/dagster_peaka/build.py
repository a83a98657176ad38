"""Definitions for a set of Peaka caches: their external assets, the sensor, the check, the resource."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster import AssetKey, AssetSpec, DefaultSensorStatus, Definitions

from dagster_peaka.events import cache_asset_key
from dagster_peaka.resource import PeakaResource
from dagster_peaka.sensor import build_peaka_checks, build_peaka_sensor


def peaka_cache_keys(cache_ids: Sequence[str] | Mapping[str, AssetKey | str]) -> dict[str, AssetKey]:
    """Cache id -> asset key: given, or `peaka/<cache id>`; two caches may not share a key."""
    if isinstance(cache_ids, Mapping):
        keys = {
            cid: key if isinstance(key, AssetKey) else AssetKey.from_user_string(key)
            for cid, key in cache_ids.items()
        }
    else:
        keys = {cid: cache_asset_key(cid) for cid in cache_ids}
    if not keys:
        raise ValueError("no Peaka cache id given")
    owners: dict[AssetKey, str] = {}
    for cache_id, key in keys.items():
        if key in owners:
            raise ValueError(
                f"caches {owners[key]!r} and {cache_id!r} would share the asset key {key.to_user_string()}: "
                "give them keys of their own (a mapping of cache id to asset key)"
            )
        owners[key] = cache_id
    return keys


def build_peaka_definitions(
    peaka: PeakaResource,
    cache_ids: Sequence[str] | Mapping[str, AssetKey | str],
    minimum_interval_seconds: int = 60,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> Definitions:
    """The caches as external assets (kind `peaka`), `peaka_cache_sensor`, the checks and the resource."""
    keys = peaka_cache_keys(cache_ids)
    specs = [
        AssetSpec(
            key,
            description=f"Peaka cache {cache_id} (project {peaka.project_id}), refreshed by Peaka.",
            metadata={"peaka/cache_id": cache_id, "peaka/project_id": peaka.project_id},
            kinds={"peaka"},
        )
        for cache_id, key in keys.items()
    ]
    return Definitions(
        assets=specs,
        asset_checks=[build_peaka_checks(keys)],
        sensors=[
            build_peaka_sensor(
                keys, minimum_interval_seconds=minimum_interval_seconds, default_status=default_status
            )
        ],
        resources={"peaka": peaka},
    )
