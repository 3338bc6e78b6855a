"""`eventflux streams`, `read` and `tail` against a SQLite store."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from eventflux import NewEvent, open_store
from eventflux.cli.store import register

runner = CliRunner()
# the three commands on an app of their own (the full CLI adds the other areas)
APP = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(APP)
RUN_CLI = (
    "import typer; from eventflux.cli.store import register; "
    "app = typer.Typer(pretty_exceptions_enable=False); register(app); app()"
)


async def _fill(url: str) -> datetime:
    async with await open_store(url) as store:
        await store.append("account-1", [NewEvent("Opened", {"owner": "u-1"})])
        await store.append(
            "account-1",
            [NewEvent("Deposited", {"amount": 100}, metadata={"correlation_id": "req-1"})],
        )
        await asyncio.sleep(0.01)
        middle = datetime.now(UTC)
        await asyncio.sleep(0.01)
        await store.append("account-1", [NewEvent("Withdrawn", {"amount": 30})])
        await store.append("account-2", [NewEvent("Opened", {"owner": "u-2"})])
        await store.append("user-1", [NewEvent("Registered", {"name": "u-1"})])
    return middle


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.fixture
def middle(url: str) -> datetime:
    return asyncio.run(_fill(url))


def _json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_streams_lists_streams_with_versions(url: str, middle: datetime) -> None:
    result = runner.invoke(APP, ["streams", "--store", url, "--json"])
    assert result.exit_code == 0, result.output
    assert _json_lines(result.output) == [
        {"stream": "account-1", "version": 3},
        {"stream": "account-2", "version": 1},
        {"stream": "user-1", "version": 1},
    ]
    result = runner.invoke(APP, ["streams", "--store", url, "--prefix", "account-"])
    assert result.exit_code == 0, result.output
    assert "account-1" in result.output
    assert "account-2" in result.output
    assert "user-1" not in result.output


def test_streams_uses_the_environment_variable(
    url: str, middle: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTFLUX_STORE", url)
    result = runner.invoke(APP, ["streams", "--json"])
    assert result.exit_code == 0, result.output
    assert len(_json_lines(result.output)) == 3


def test_read_prints_json_lines_with_every_field(url: str, middle: datetime) -> None:
    result = runner.invoke(APP, ["read", "account-1", "--store", url, "--json"])
    assert result.exit_code == 0, result.output
    events = _json_lines(result.output)
    assert [e["type"] for e in events] == ["Opened", "Deposited", "Withdrawn"]
    first = events[1]
    assert set(first) == {
        "id",
        "stream",
        "version",
        "position",
        "type",
        "data",
        "metadata",
        "recorded_at",
    }
    assert first["data"] == {"amount": 100}
    assert first["metadata"] == {"correlation_id": "req-1"}
    assert first["version"] == 2
    recorded = datetime.fromisoformat(str(first["recorded_at"]))
    assert recorded.utcoffset() is not None
    assert recorded <= middle


def test_read_options(url: str, middle: datetime) -> None:
    def versions(*args: str) -> list[object]:
        result = runner.invoke(APP, ["read", "account-1", "--store", url, "--json", *args])
        assert result.exit_code == 0, result.output
        return [e["version"] for e in _json_lines(result.output)]

    assert versions("--as-of", middle.isoformat()) == [1, 2]
    naive = middle.replace(tzinfo=None).isoformat()  # taken as UTC
    assert versions("--as-of", naive) == [1, 2]
    zulu = middle.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert versions("--as-of", zulu) == [1, 2]
    assert versions("--from-version", "2") == [2, 3]
    assert versions("--backwards", "--limit", "2") == [3, 2]
    assert versions("--backwards", "--from-version", "2") == [2, 1]


def test_read_shows_a_table_by_default(url: str, middle: datetime) -> None:
    result = runner.invoke(APP, ["read", "account-1", "--store", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "3 event(s)" in result.output
    assert "Deposited" in result.output
    assert '{"amount":100}' in result.output
    empty = runner.invoke(APP, ["read", "nobody", "--store", url])
    assert empty.exit_code == 0
    assert "0 event(s)" in empty.output


def test_errors_are_messages_not_tracebacks(url: str, middle: datetime, tmp_path: Path) -> None:
    bad_time = runner.invoke(APP, ["read", "account-1", "--store", url, "--as-of", "yesterday"])
    assert bad_time.exit_code == 2
    assert "ISO 8601" in bad_time.output
    missing = runner.invoke(APP, ["streams", "--store", f"sqlite:///{tmp_path}/nope.db"])
    assert missing.exit_code == 1
    assert "no event store" in missing.output
    assert not (tmp_path / "nope.db").exists()  # looking did not create a file
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database")
    result = runner.invoke(APP, ["read", "x", "--store", f"sqlite:///{foreign}"])
    assert result.exit_code == 1
    assert "not a SQLite database" in result.output
    scheme = runner.invoke(APP, ["streams", "--store", "nosuch://db"])
    assert scheme.exit_code == 1
    assert "known schemes" in scheme.output
    bad_name = runner.invoke(APP, ["read", "", "--store", url])
    assert bad_name.exit_code == 1
    for r in (bad_time, missing, result, scheme, bad_name):
        assert r.exception is None or isinstance(r.exception, SystemExit)
        assert "Traceback" not in r.output


def test_tail_with_after_catches_up_then_stops_at_max(url: str, middle: datetime) -> None:
    result = runner.invoke(APP, ["tail", "--store", url, "--after", "0", "--json", "--max", "4"])
    assert result.exit_code == 0, result.output
    events = _json_lines(result.output)
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)  # type: ignore[type-var]
    assert len(events) == 4
    plain = runner.invoke(APP, ["tail", "--store", url, "--after", "0", "--max", "2"])
    assert plain.exit_code == 0, plain.output
    assert "account-1@1" in plain.output
    assert "Opened" in plain.output


def _start_tail(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN_CLI, "tail", "--store", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _append_one(url: str, i: int) -> None:
    async with await open_store(url) as store:
        await store.append("live", [NewEvent("Ticked", {"i": i})])


def test_tail_follows_new_events_live(url: str, middle: datetime) -> None:
    proc = _start_tail(url, "--json", "--max", "3")
    try:
        time.sleep(1.0)  # let it start; events appended before it starts are skipped anyway
        deadline = time.monotonic() + 30
        i = 0
        while proc.poll() is None and time.monotonic() < deadline:
            asyncio.run(_append_one(url, i))
            i += 1
            time.sleep(0.2)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    events = _json_lines(out)
    assert len(events) == 3
    assert {e["stream"] for e in events} == {"live"}  # only events after it started
    assert i >= 3


def test_tail_stops_cleanly_on_ctrl_c(url: str, middle: datetime) -> None:
    proc = _start_tail(url)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()  # printed once it follows the store
        assert "Ctrl-C stops" in ready
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert out == ""
