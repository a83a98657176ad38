"""definitions_from_env: the PEAKA_* variables, and a clear error for each missing or wrong one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dagster_peaka import (
    PeakaConfigError,
    PeakaResource,
    build_peaka_definitions,
    cache_asset_key,
    definitions_from_env,
)

BASE = {"PEAKA_PROJECT_ID": "p", "PEAKA_CACHE_ID": "c-1, c~2", "PEAKA_API_KEY": "k" * 12}


def test_the_environment_describes_assets_sensor_and_check():
    defs = definitions_from_env(BASE | {"PEAKA_DAGSTER_INTERVAL": "5"})
    keys = {spec.key for spec in defs.resolve_all_asset_specs()}
    assert (
        keys
        == {cache_asset_key("c-1"), cache_asset_key("c~2")}
        == {
            dg.AssetKey(["peaka", "c_1"]),
            dg.AssetKey(["peaka", "c_2"]),
        }
    )
    sensor = defs.resolve_sensor_def("peaka_cache_sensor")
    assert sensor.minimum_interval_seconds == 5
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    dg.Definitions.validate_loadable(defs)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"PEAKA_PROJECT_ID": ""}, "PEAKA_PROJECT_ID is not set"),
        ({"PEAKA_CACHE_ID": " , "}, "PEAKA_CACHE_ID is not set"),
        ({"PEAKA_API_KEY": ""}, "neither PEAKA_API_KEY nor PEAKA_API_KEY_FILE"),
        ({"PEAKA_EXECUTION": "some"}, "PEAKA_EXECUTION='some': use one of any, incremental, full, both"),
        ({"PEAKA_DAGSTER_INTERVAL": "0"}, "PEAKA_DAGSTER_INTERVAL='0'"),
        ({"PEAKA_DAGSTER_INTERVAL": "1m"}, "PEAKA_DAGSTER_INTERVAL='1m'"),
    ],
)
def test_a_wrong_variable_is_named(change: dict[str, str], named: str):
    with pytest.raises(PeakaConfigError) as raised:
        definitions_from_env(BASE | change)
    assert named in str(raised.value)
    assert BASE["PEAKA_API_KEY"] not in str(raised.value)


def test_materialized_queries_come_from_their_variable_alone_or_beside_caches():
    defs = definitions_from_env(BASE | {"PEAKA_MATERIALIZED_QUERY": "q-1, q~2"})
    keys = {spec.key for spec in defs.resolve_all_asset_specs()}
    assert keys == {
        cache_asset_key("c-1"),
        cache_asset_key("c~2"),
        dg.AssetKey(["peaka", "materialized_query", "q_1"]),
        dg.AssetKey(["peaka", "materialized_query", "q_2"]),
    }
    alone = definitions_from_env(BASE | {"PEAKA_CACHE_ID": "", "PEAKA_MATERIALIZED_QUERY": "q-1"})
    assert {spec.key for spec in alone.resolve_all_asset_specs()} == {
        dg.AssetKey(["peaka", "materialized_query", "q_1"])
    }
    dg.Definitions.validate_loadable(alone)
    with pytest.raises(PeakaConfigError, match="or PEAKA_MATERIALIZED_QUERY"):
        definitions_from_env(BASE | {"PEAKA_CACHE_ID": "", "PEAKA_MATERIALIZED_QUERY": " , "})


def test_two_caches_that_would_share_a_key_are_refused():
    with pytest.raises(ValueError, match="would share the asset key peaka/a_b"):
        definitions_from_env(BASE | {"PEAKA_CACHE_ID": "a-b,a~b"})


def test_the_module_loads_from_the_environment_and_names_a_missing_variable(tmp_path: Path):
    dagster = str(Path(sys.executable).parent / "dagster")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEAKA_", "DAGSTER_"))}
    env |= BASE | {"DAGSTER_HOME": str(tmp_path)}
    command = [dagster, "definitions", "validate", "-m", "dagster_peaka.definitions"]
    ok = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    env.pop("PEAKA_CACHE_ID")
    missing = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0
    assert "PEAKA_CACHE_ID is not set" in missing.stdout + missing.stderr


def test_caches_can_be_given_keys_of_their_own():
    peaka = PeakaResource(project_id="p", api_key=dg.EnvVar("PEAKA_API_KEY"))
    defs = build_peaka_definitions(peaka, {"960bd651-7b3c": "orders", "c2": dg.AssetKey(["raw", "c2"])})
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) == {dg.AssetKey("orders"), dg.AssetKey(["raw", "c2"])}
    assert specs[dg.AssetKey("orders")].metadata["peaka/cache_id"] == "960bd651-7b3c"
    assert "peaka" in specs[dg.AssetKey("orders")].kinds
