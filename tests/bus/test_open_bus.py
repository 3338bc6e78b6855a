"""open_bus: schemes, options, missing backends and extras."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import pytest

from eventflux import BusUnavailableError, ConfigurationError, MissingExtraError
from eventflux.bus import DeadLetter, Message, MessageBus, open_bus
from eventflux.bus.memory import MemoryBusBackend
from eventflux.bus.sqlite import SQLiteBusBackend


@pytest.mark.asyncio
async def test_memory_gives_a_fresh_bus_each_call() -> None:
    a, b = await open_bus("memory://"), await open_bus("memory://")
    assert isinstance(a, MessageBus)
    assert isinstance(a.backend, MemoryBusBackend)
    assert a.backend is not b.backend
    assert a is not b
    seen: list[Message] = []
    b.subscribe("x", seen.append, group="g")
    await a.publish("x", {})
    await a.close()
    await b.close()
    assert seen == []


@pytest.mark.asyncio
async def test_sqlite_urls_are_relative_or_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await open_bus("sqlite:///rel.db?durability=normal") as bus:
        assert isinstance(bus.backend, SQLiteBusBackend)
        assert bus.durable
    assert (tmp_path / "rel.db").exists()
    async with await open_bus(f"sqlite:///{tmp_path}/abs.db") as bus:
        backend = bus.backend
        assert isinstance(backend, SQLiteBusBackend)
        assert backend.path == f"{tmp_path}/abs.db"
    with pytest.raises(ConfigurationError, match="memory://"):
        await open_bus("sqlite:///:memory:")  # the store's rule: use memory:// instead


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url",
    [
        "kafka://localhost",
        "memory://?bogus=1",
        "memory://?dedup_window=0",
        "memory://?dedup_window=soon",
        "sqlite:///x.db?durability=sometimes",
        "sqlite:///x.db?colour=red",
        "sqlite://host/x.db",
        "sqlite://",
        "memory://?dedup_window=1&dedup_window=2",
    ],
)
async def test_bad_urls_raise_configuration_errors(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError):
        await open_bus(url)


@pytest.mark.asyncio
async def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BusUnavailableError, match="cannot open"):
        await open_bus(f"sqlite:///{tmp_path}/no/such/dir/bus.db")


@pytest.mark.asyncio
async def test_nats_without_its_extra_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    real = importlib.import_module

    def without_nats(name: str, package: str | None = None) -> Any:
        if name == "nats":
            raise ModuleNotFoundError("No module named 'nats'", name="nats")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_nats)
    with pytest.raises(MissingExtraError) as info:
        await open_bus("nats://127.0.0.1:4222")
    assert "eventflux[nats]" in str(info.value)
    assert isinstance(info.value, ImportError)


@pytest.mark.asyncio
async def test_an_unavailable_backend_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # the driver is installed but this eventflux has no such backend module
    real = importlib.import_module

    def without_backend(name: str, package: str | None = None) -> Any:
        if name == "eventflux.bus.nats":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_backend)
    with pytest.raises(ConfigurationError, match=r"eventflux\.bus\.nats") as info:
        await open_bus("nats://127.0.0.1:4222")
    assert not isinstance(info.value, MissingExtraError)
    assert "not available in this version of eventflux" in str(info.value)


def test_message_and_dead_letter_fields_follow_the_design() -> None:
    assert [f.name for f in dataclasses.fields(Message)][:7] == [
        "subject",
        "data",
        "msg_id",
        "key",
        "headers",
        "attempt",
        "published_at",
    ]
    assert [f.name for f in dataclasses.fields(DeadLetter)] == [
        "id",
        "group",
        "subject",
        "data",
        "msg_id",
        "key",
        "error",
        "deliveries",
        "dead_at",
    ]


@pytest.mark.asyncio
async def test_subscribe_outside_a_running_loop_is_a_clear_error() -> None:
    bus: MessageBus = await open_bus("memory://")
    await bus.close()
    with pytest.raises(Exception, match="closed"):
        bus.subscribe("x", print, group="g")
