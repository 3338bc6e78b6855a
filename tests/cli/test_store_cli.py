"""`eventflux streams`, `read`, `tail` and `backup` against SQLite and PostgreSQL stores."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from tests.servers.postgres import PostgresServer, pg_server
from typer.testing import CliRunner

from eventflux import NewEvent, open_store
from eventflux.cli.store import register

__all__ = ["pg_server"]  # the PostgreSQL test's fixture

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
    assert empty.exit_code == 1  # a stream that does not exist is not "0 event(s)"
    assert "0 event(s)" not in empty.output
    assert "no stream 'nobody'" in empty.output


def test_errors_are_messages_not_tracebacks(url: str, middle: datetime, tmp_path: Path) -> None:
    bad_time = runner.invoke(APP, ["read", "account-1", "--store", url, "--as-of", "yesterday"])
    assert bad_time.exit_code == 2
    assert "ISO 8601" in bad_time.output
    missing = runner.invoke(APP, ["streams", "--store", f"sqlite:///{tmp_path}/nope.db"])
    assert missing.exit_code == 2
    assert "no event store" in missing.output
    assert not (tmp_path / "nope.db").exists()  # looking did not create a file
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database")
    result = runner.invoke(APP, ["read", "x", "--store", f"sqlite:///{foreign}"])
    assert result.exit_code == 1
    assert "not a SQLite database" in result.output
    scheme = runner.invoke(APP, ["streams", "--store", "nosuch://db"])
    assert scheme.exit_code == 2
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


def test_no_command_creates_a_store(tmp_path: Path) -> None:
    for name in ("missing.db", "empty.db"):
        path = tmp_path / name
        if name == "empty.db":
            path.write_bytes(b"")  # an empty file holds no store: it stays empty
        url = f"sqlite:///{path}"
        for args in (["streams"], ["read", "s"], ["tail", "--max", "1"]):
            result = runner.invoke(APP, [*args, "--store", url])
            assert result.exit_code == 2, (args, result.output)
            assert "no event store" in result.output
            assert "Nothing was created" in result.output
        assert path.exists() == (name == "empty.db")
        if path.exists():
            assert path.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


def test_a_missing_store_suggests_files_with_close_names(url: str, middle: datetime) -> None:
    folder = Path(url.removeprefix("sqlite:///")).parent
    (folder / "notes.txt").write_text("x")
    result = runner.invoke(APP, ["streams", "--store", f"sqlite:///{folder}/cl.db"])
    assert result.exit_code == 2
    assert f"--store sqlite:///{folder}/cli.db" in result.output
    assert "notes.txt" not in result.output
    assert not (folder / "cl.db").exists()


def test_a_missing_stream_says_so_and_names_close_streams(url: str, middle: datetime) -> None:
    result = runner.invoke(APP, ["read", "account", "--store", url])
    assert result.exit_code == 1
    assert "no stream 'account'" in result.output
    assert "account-1" in result.output
    assert "account-2" in result.output
    as_json = runner.invoke(APP, ["read", "acount-1", "--store", url, "--json"])
    assert as_json.exit_code == 1
    assert "account-1" in as_json.output
    # an existing stream whose filters select nothing is no error
    before = runner.invoke(APP, ["read", "account-1", "--store", url, "--from-version", "99"])
    assert before.exit_code == 0
    assert "0 event(s)" in before.output


def test_a_bare_path_as_store_gets_a_hint(url: str, middle: datetime, tmp_path: Path) -> None:
    path = url.removeprefix("sqlite:///")
    result = runner.invoke(APP, ["streams", "--store", path])
    assert result.exit_code == 2
    assert f"sqlite:///{path}" in result.output
    relative = runner.invoke(APP, ["streams", "--store", "bank.db"])
    assert relative.exit_code == 2
    assert "sqlite:///bank.db" in relative.output


def test_version_and_flags_in_help() -> None:
    from eventflux import __version__
    from eventflux.cli import build_app

    app = build_app()
    version = runner.invoke(app, ["--version"])  # type: ignore[arg-type]
    assert version.exit_code == 0
    assert version.output.strip() == f"eventflux {__version__}"
    for command in (["read", "--help"], ["--help"], ["tail", "--help"], ["backup", "--help"]):
        result = runner.invoke(app, command, env={"COLUMNS": "120"})  # type: ignore[arg-type]
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.output
        assert "--help" in result.output


def test_backup_writes_a_new_file_and_refuses_to_replace_one(
    url: str, middle: datetime, tmp_path: Path
) -> None:
    from eventflux.cli import build_app

    app = build_app()
    dest = tmp_path / "copies"
    dest.mkdir()
    result = runner.invoke(app, ["backup", "--store", url, str(dest)])  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    assert (dest / "cli.db").exists()  # a folder gets the store's file name
    again = runner.invoke(app, ["backup", "--store", url, str(dest / "cli.db")])  # type: ignore[arg-type]
    assert again.exit_code == 1
    assert "never replaces" in again.output
    missing = runner.invoke(  # type: ignore[arg-type]
        app, ["backup", "--store", f"sqlite:///{tmp_path}/nope.db", str(tmp_path / "b.db")]
    )
    assert missing.exit_code == 2
    assert not (tmp_path / "nope.db").exists()
    assert not (tmp_path / "b.db").exists()
    memory = runner.invoke(app, ["backup", "--store", "memory://", str(tmp_path / "m.db")])  # type: ignore[arg-type]
    assert memory.exit_code == 2
    read = runner.invoke(
        APP, ["read", "account-1", "--store", f"sqlite:///{dest}/cli.db", "--json"]
    )
    assert len(_json_lines(read.output)) == 3


def test_backup_of_a_postgres_store_shows_pg_dump(tmp_path: Path) -> None:
    from eventflux.cli import build_app

    url = "postgresql://app@db.internal:5433/shop?schema=orders&pool_max=4&sslmode=require"
    result = runner.invoke(  # type: ignore[arg-type]
        build_app(), ["backup", "--store", url, str(tmp_path / "shop.dump")], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert "pg_dump --schema=orders --format=custom" in result.output
    assert "postgresql://app@db.internal:5433/shop?sslmode=require" in result.output
    assert "pool_max" not in result.output
    assert not (tmp_path / "shop.dump").exists()


@pytest.mark.postgres
def test_the_store_commands_on_postgres(pg_server: PostgresServer, tmp_path: Path) -> None:
    import psycopg

    from eventflux.cli import build_app

    schema = "cli_" + uuid.uuid4().hex[:12]
    url = pg_server.url(schema=schema)
    asyncio.run(_fill(url))
    streams = runner.invoke(APP, ["streams", "--store", url, "--json"])
    assert streams.exit_code == 0, streams.output
    assert [s["stream"] for s in _json_lines(streams.output)] == [
        "account-1",
        "account-2",
        "user-1",
    ]
    read = runner.invoke(APP, ["read", "account-1", "--store", url, "--json"])
    assert read.exit_code == 0, read.output
    assert [e["version"] for e in _json_lines(read.output)] == [1, 2, 3]
    missing = runner.invoke(APP, ["read", "account", "--store", url])
    assert missing.exit_code == 1
    assert "account-1" in missing.output
    tail = runner.invoke(APP, ["tail", "--store", url, "--after", "0", "--max", "2", "--json"])
    assert tail.exit_code == 0, tail.output
    assert len(_json_lines(tail.output)) == 2
    backup = runner.invoke(  # type: ignore[arg-type]
        build_app(), ["backup", "--store", url, str(tmp_path / "b.dump")], env={"COLUMNS": "300"}
    )
    assert backup.exit_code == 2
    assert f"pg_dump --schema={schema}" in backup.output
    # a schema that holds no store: an error, and nothing is created
    other = "cli_" + uuid.uuid4().hex[:12]
    none = runner.invoke(APP, ["streams", "--store", pg_server.url(schema=other)])
    assert none.exit_code == 2
    assert "no event store" in none.output
    with psycopg.connect(pg_server.url()) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (other,)
        ).fetchall()
    assert found == [(0,)]
