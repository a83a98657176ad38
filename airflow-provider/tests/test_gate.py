"""The boundary with the binary: command line, environment, reading its output, outcomes."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import pytest

from conftest import KEY
from peaka_airflow import gate
from peaka_airflow.compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from peaka_airflow.gate import GateSpec


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


def logger() -> tuple[logging.Logger, Records]:
    log = logging.getLogger(f"test.{id(object())}")
    log.setLevel(logging.DEBUG)
    handler = Records()
    log.addHandler(handler)
    return log, handler


def test_argv_has_every_flag_once_and_never_the_key():
    spec = GateSpec(
        project_id="p",
        cache_ids=["a", "b", " "],
        since="2026-11-25 00:00:00+00:00",
        started_after="now",
        execution="full",
        trigger="full",
        stall_timeout="5m",
        timeout="60000ms",
    )
    argv = spec.argv("/bin/peaka-wait")
    assert argv == [
        "/bin/peaka-wait",
        "--project-id",
        "p",
        "--output",
        "json",
        "--log-format",
        "json",
        "--cache-id",
        "a",
        "--cache-id",
        "b",
        "--since",
        "2026-11-25 00:00:00+00:00",
        "--started-after",
        "now",
        "--execution",
        "full",
        "--trigger",
        "full",
        "--stall-timeout",
        "5m",
        "--timeout",
        "60000ms",
    ]
    assert all(KEY not in arg for arg in argv)
    assert "--all-caches" in GateSpec(project_id="p", all_caches=True).argv("x")
    assert "--since" not in GateSpec(project_id="p", cache_ids=["a"]).argv("x")


def test_child_env_drops_stray_peaka_variables(monkeypatch):
    monkeypatch.setenv("PEAKA_CACHE_ID", "from-the-worker")
    monkeypatch.setenv("peaka_timeout", "0")
    env = gate.child_env("k", "http://127.0.0.1:1/api/v1")
    assert env["PEAKA_API_KEY"] == "k" and env["PEAKA_BASE_URL"] == "http://127.0.0.1:1/api/v1"
    assert "PEAKA_CACHE_ID" not in env and "peaka_timeout" not in env
    assert "PEAKA_BASE_URL" not in gate.child_env("k", None)


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (GateSpec(project_id=" ", cache_ids=["a"]), "project_id"),
        (GateSpec(project_id="p"), "cache_ids"),
        (GateSpec(project_id="p", cache_ids=["a"], all_caches=True), "all_caches"),
        (GateSpec(project_id="p", cache_ids=["a"], execution="latest"), "execution='latest'"),
        (GateSpec(project_id="p", cache_ids=["a"], trigger="both"), "trigger='both'"),
    ],
)
def test_check_names_the_argument(spec, error):
    with pytest.raises(AirflowFailException, match=error):
        spec.check()


def test_durations_and_times_become_the_binarys_forms():
    assert gate.duration(timedelta(minutes=2), "t") == "120000ms"
    assert gate.duration(1.5, "t") == "1500ms"
    assert gate.duration("10m", "t") == "10m"
    assert gate.duration(0, "t") == "0"
    with pytest.raises(AirflowFailException, match="stall_timeout"):
        gate.duration(-1, "stall_timeout")
    moment = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
    assert gate.moment(moment, "since") == "2026-11-25T10:00:00+00:00"
    assert gate.moment("  ", "since") is None
    with pytest.raises(AirflowFailException, match="no time zone"):
        gate.moment(datetime(2026, 11, 25), "since")


def test_the_exit_code_decides_not_the_text():
    lying = b'{"result":"ready","exitCode":0,"message":"all good","caches":[]}\n'
    assert gate.outcome(lying, 1, KEY)["result"] == "failed"
    assert gate.outcome(b"", 99, KEY)["result"] == "error"
    fallback = gate.outcome(b"not json", 2, KEY, last_error="--since: bad time")
    assert fallback["result"] == "usage" and fallback["message"] == "--since: bad time"


def test_server_text_is_escaped_bounded_and_scrubbed():
    summary = (
        '{"result":"failed","message":"boom \\u001b[31mdemo-key\\nFAKE LINE","caches":[{"cacheId":"c",'
        '"execution":{"id":"e\\u202e1","records":"12","finishedAt":"' + "x" * 10000 + '"}}]}'
    ).encode()
    value = gate.outcome(summary, 1, KEY)
    assert value["message"] == "boom \\u001b[31m***\\u000aFAKE LINE"
    cache = value["caches"]["c"]
    assert cache["execution_id"] == "e\\u202e1"
    assert cache["records"] is None  # a string is not a record count
    assert len(cache["finished_at"]) <= gate.MAX_TEXT_CHARS + 1


@pytest.mark.parametrize(
    ("result", "error"),
    [
        ("timeout", AirflowSensorTimeout),
        ("failed", AirflowException),
        ("stalled", AirflowException),
        ("unauthorized", AirflowFailException),
        ("not_found", AirflowFailException),
        ("api_error", AirflowFailException),
    ],
)
def test_conclude_fails_or_skips(result, error):
    event = {"result": result, "exit_code": 1, "message": "why"}
    with pytest.raises(error, match="why") as raised:
        gate.conclude(event, soft_fail=False)
    assert not isinstance(raised.value, AirflowSkipException)
    with pytest.raises(AirflowSkipException, match="why"):
        gate.conclude(event, soft_fail=True)


@pytest.mark.parametrize("result", ["usage", "interrupted", "error"])
def test_usage_and_signals_fail_even_with_soft_fail(result):
    with pytest.raises(AirflowFailException):
        gate.conclude({"result": result, "exit_code": 2, "message": "m"}, soft_fail=True)


def test_overlong_lines_are_cut():
    async def split(data: bytes) -> list[bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return [line async for line in gate.lines(reader)]

    long = b"x" * (gate.MAX_LINE_BYTES * 3)
    got = asyncio.run(split(b"a\n" + long + b"\nb"))
    assert got[0] == b"a" and got[-1] == b"b"
    assert all(len(line) <= gate.MAX_LINE_BYTES for line in got)


def test_a_summary_written_in_pieces_is_read_whole_and_bounded():
    async def read(pieces: list[bytes]) -> bytes:
        reader = asyncio.StreamReader()
        task = asyncio.ensure_future(gate.read_bounded(reader))
        for piece in pieces:
            reader.feed_data(piece)
            await asyncio.sleep(0.01)
        reader.feed_eof()
        return await task

    assert asyncio.run(read([b'{"result":', b'"ready"}', b"\n"])) == b'{"result":"ready"}\n'
    huge = asyncio.run(read([b"x" * (600 * 1024), b"y" * (600 * 1024)]))
    assert len(huge) == gate.MAX_SUMMARY_BYTES


def test_log_lines_keep_their_level():
    log, records = logger()
    error = gate.log_line(log, b'{"level":"ERROR","message":"it failed: demo-key"}', KEY)
    gate.log_line(log, b'{"level":"WARN","message":"retrying"}', KEY)
    gate.log_line(log, b"plain \x1b[2J text", KEY)
    assert error == "it failed: ***"
    assert [r.levelno for r in records.records] == [logging.ERROR, logging.WARNING, logging.INFO]
    assert "plain \\u001b[2J text" in records.text()


def test_a_refresh_that_completes(binary, base_url, unique):
    log, records = logger()
    spec = GateSpec(project_id="demo", cache_ids=[f"completes-after-1s{unique}"], timeout="1m")
    value = asyncio.run(gate.run_gate(spec, KEY, base_url, log, binary=binary))
    assert value["result"] == "ready" and value["exit_code"] == 0
    cache = value["caches"][f"completes-after-1s{unique}"]
    assert cache["execution_id"].startswith("completes-after-1s")
    assert cache["finished_at"] and cache["records"] > 0
    # The binary's own lines reached the logger (its wording is its own).
    assert f"{cache['execution_id']} COMPLETED" in records.text()
    assert KEY not in records.text()


def test_a_refresh_that_fails(binary, base_url, unique):
    log, records = logger()
    spec = GateSpec(project_id="demo", cache_ids=[f"fails-after-1s{unique}"], timeout="1m")
    value = asyncio.run(gate.run_gate(spec, KEY, base_url, log, binary=binary))
    assert value["result"] == "failed" and value["exit_code"] == 1
    assert "Source connection refused" in value["message"]
    assert any(
        r.levelno == logging.ERROR and "Source connection refused" in r.getMessage() for r in records.records
    )


def test_relative_bounds_are_pinned_to_the_start():
    started = datetime(2026, 11, 25, 23, 42, 10, 500000, tzinfo=timezone.utc)
    assert gate.pin("now", started) == "2026-11-25T23:42:10.500Z"
    assert gate.pin(" NOW ", started) == "2026-11-25T23:42:10.500Z"
    assert gate.pin("15m", started) == "2026-11-25T23:27:10.500Z"
    assert gate.pin("1h 30m", started) == "2026-11-25T22:12:10.500Z"
    assert gate.pin("500ms", started) == "2026-11-25T23:42:10.000Z"
    # Absolute times and what the binary must judge pass as written.
    assert gate.pin("2026-11-24T10:00:00Z", started) == "2026-11-24T10:00:00Z"
    assert gate.pin("15 parsecs", started) == "15 parsecs"
    assert gate.pin("-15m", started) == "-15m"
    assert gate.pin(None, started) is None


def test_cache_ids_from_templates_xcom_and_lists():
    assert gate.cache_id_list("orders") == ["orders"]
    assert gate.cache_id_list(" orders, customers ,") == ["orders", "customers"]
    assert gate.cache_id_list(["a", "b,c", 7]) == ["a", "b", "c", "7"]
    assert gate.cache_id_list(("a",)) == ["a"]
    assert gate.cache_id_list(None) == []
    with pytest.raises(AirflowFailException, match="cache_ids=.*expected a cache id"):
        gate.cache_id_list({"a": 1})
    with pytest.raises(AirflowFailException, match="each cache id must be a string"):
        gate.cache_id_list([None])


def test_seconds_from_numbers_timedeltas_and_rendered_text():
    assert gate.seconds_of(90, "timeout") == 90.0
    assert gate.seconds_of(timedelta(minutes=2), "timeout") == 120.0
    assert gate.seconds_of(" 600 ", "timeout") == 600.0
    assert gate.seconds_of("10m", "timeout") == 600.0
    assert gate.seconds_of("1h 30m", "timeout") == 5400.0
    for bad in ("soon", "-5", -1, None, True):
        with pytest.raises(AirflowFailException, match="timeout="):
            gate.seconds_of(bad, "timeout")


def test_resume_flags_and_tokens():
    spec = GateSpec(project_id="p", cache_ids=["a"], trigger="full", timeout="0", resume="pw1.abc")
    argv = spec.argv("x", "--cancel")
    # The token names the run: the trigger is not sent again.
    assert "--trigger" not in argv
    assert argv[argv.index("--resume") + 1] == "pw1.abc" and argv[-1] == "--cancel"
    assert "--trigger" in GateSpec(project_id="p", cache_ids=["a"], trigger="full").argv("x", "--no-wait")
    triggered = gate.outcome(
        b'{"result":"triggered","resume":"pw1.tok-en_1","caches":[]}', 0, KEY, None, "triggered"
    )
    assert triggered["result"] == "triggered" and triggered["resume"] == "pw1.tok-en_1"
    for bad in ('"has space"', '"demo-key"', "42", '""'):
        value = gate.outcome(b'{"resume":' + bad.encode() + b"}", 0, KEY, None, "triggered")
        assert "resume" not in value
    cancelled = gate.outcome(
        b'{"caches":[{"cacheId":"c","cancel":"accepted","execution":{"error":{"code":7}}}]}',
        0,
        KEY,
        None,
        "cancelled",
    )
    assert cancelled["result"] == "cancelled" and cancelled["caches"]["c"]["cancel"] == "accepted"
    assert cancelled["caches"]["c"]["error"] == '{"code": 7}'
