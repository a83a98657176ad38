"""Fixtures: the real peaka-wait binary and the real fake Peaka API.

scripts/airflow-test.sh passes both (PEAKA_WAIT_BIN, PEAKA_FAKE_URL); run
alone, the tests start target/debug/fake-peaka themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = "demo-key"


@pytest.fixture(scope="session")
def binary() -> str:
    return os.environ.get("PEAKA_WAIT_BIN") or str(ROOT / "target" / "debug" / "peaka-wait")


@pytest.fixture(scope="session")
def base_url():
    if os.environ.get("PEAKA_FAKE_URL"):
        yield os.environ["PEAKA_FAKE_URL"]
        return
    fake = subprocess.Popen(
        [str(ROOT / "target" / "debug" / "fake-peaka")], stdout=subprocess.PIPE, text=True
    )
    try:
        yield fake.stdout.readline().strip()
    finally:
        fake.kill()
        fake.wait()


@pytest.fixture
def connection(monkeypatch, base_url):
    """The `peaka_default` connection, as an Airflow deployment would set it from the environment."""

    def set_connection(password: str = KEY, host: str | None = None) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_PEAKA_DEFAULT",
            json.dumps({"conn_type": "peaka", "host": host or base_url, "password": password}),
        )

    set_connection()
    return set_connection


@pytest.fixture
def unique():
    """A ~tag that gives each test its own fake cache clock."""
    return f"~t{time.monotonic_ns()}"
