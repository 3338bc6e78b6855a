"""The projection registry and the in-process runner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.cqrs._crash_app import TickCounter, counter

from eventflux import ConfigurationError, NewEvent, open_store
from eventflux.cqrs import (
    UnknownProjectionError,
    get_projection,
    load_apps,
    projection_entry,
    register_projection,
    registered_projections,
    run_projection,
)
from eventflux.cqrs.runner import main


def test_register_and_look_up() -> None:
    load_apps(["tests.cqrs._crash_app"])
    assert register_projection("tick-counter", counter) is counter  # same factory: fine
    with pytest.raises(ConfigurationError, match="already registered"):
        register_projection("tick-counter", lambda url: counter(url))
    with pytest.raises(ValueError, match="non-empty"):
        register_projection("", counter)
    entry = registered_projections()["tick-counter"]
    assert entry.description == "counts Tick events, slowly"
    assert projection_entry("tick-counter") is entry
    projection = get_projection("tick-counter", "sqlite:///data/x-events.db")
    assert isinstance(projection, TickCounter)
    assert projection.model.url == "sqlite:///data/crash-read.db"  # beside the store
    on_postgres = get_projection("tick-counter", "postgresql://app@db/shop?schema=events")
    assert on_postgres.model.url == "postgresql://app@db:5432/shop?schema=crash_read"
    with pytest.raises(UnknownProjectionError, match="no projection named 'nope'"):
        get_projection("nope", "memory://")
    assert list(registered_projections()) == sorted(registered_projections())


def test_load_apps_reports_modules_that_cannot_be_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigurationError, match="cannot import the app module 'no_such_mod'"):
        load_apps(["no_such_mod"], defaults=False)
    monkeypatch.setenv("EVENTFLUX_APP", " , other_missing_mod")
    with pytest.raises(ConfigurationError, match="other_missing_mod"):
        load_apps(defaults=False)


@pytest.mark.asyncio
async def test_run_projection_in_process_until_cancelled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/events.db"
    async with await open_store(url) as store:
        await store.append("ticks", [NewEvent("Tick", {"n": n}) for n in range(10)])
    load_apps(["tests.cqrs._crash_app"])
    for target in ("tick-counter", counter, counter(url)):
        task = asyncio.create_task(run_projection(target, url))
        reader = counter(url)
        async with asyncio.timeout(10):
            await reader.wait_for(10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert await reader.model.fetch_value("SELECT count FROM totals") == 10
        await reader.model.close()


def test_main_reports_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope", "--store", "memory://"]) == 1
    assert "no projection named 'nope'" in capsys.readouterr().err
