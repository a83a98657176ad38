"""definitions_from_env: the PEAKA_* variables, and a clear error for each missing or wrong one."""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_peaka import PeakaConfigError, cache_asset_key, definitions_from_env

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


def test_two_caches_that_would_share_a_key_are_refused():
    with pytest.raises(ValueError, match="would share the asset key peaka/a_b"):
        definitions_from_env(BASE | {"PEAKA_CACHE_ID": "a-b,a~b"})
