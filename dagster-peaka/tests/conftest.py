"""The fake Peaka API and the binary under test, from the paths scripts/dagster-test.sh exports.

PEAKA_FAKE_BIN and PEAKA_WAIT_BIN are the fake-peaka and peaka-wait built
from this checkout. The fake accepts one key of this session's own, so a
scan for it anywhere Dagster writes cannot match anything else.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
import uuid

import pytest

from dagster_peaka import PeakaResource


def _path(name: str) -> str:
    value = os.environ.get(name)
    if not value or not os.access(value, os.X_OK):
        pytest.fail(
            f"{name} must name the executable built from this checkout (scripts/dagster-test.sh sets it)"
        )
    return value


@pytest.fixture(scope="session")
def api_key() -> str:
    return f"dagster-secret-{secrets.token_hex(12)}"


@pytest.fixture(scope="session")
def wait_bin() -> str:
    return _path("PEAKA_WAIT_BIN")


@pytest.fixture(scope="session")
def fake_url(api_key: str):
    proc = subprocess.Popen(
        [_path("PEAKA_FAKE_BIN"), "--api-key", api_key], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        if not url.startswith("http://127.0.0.1:"):
            pytest.fail(f"fake-peaka did not print its base URL: {url!r}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def tag() -> str:
    """A suffix that gives each test's scenarios a fresh timeline in the shared fake."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def peaka(fake_url: str, api_key: str, wait_bin: str) -> PeakaResource:
    return PeakaResource(project_id="p", api_key=api_key, base_url=fake_url, binary=wait_bin)


def wait_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))
