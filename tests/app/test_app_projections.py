"""Projections owned by an App: kept up to date while it runs, on the App's read
model (beside the store by default), read by its query handlers."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eventflux import (
    App,
    ConfigurationError,
    Context,
    NewEvent,
    ProjectionError,
    StoreUnavailableError,
    UnknownProjectionError,
    open_bus,
    open_store,
)
from eventflux.cqrs import Projection, Transaction, handles
from eventflux.events import RecordedEvent


@dataclass(frozen=True)
class Deposit:
    account: str
    amount: int


@dataclass(frozen=True)
class Balance:
    account: str


class Balances(Projection):
    name = "balances"

    def create_schema(self, tx: Transaction) -> None:
        tx.execute("CREATE TABLE balances (account TEXT PRIMARY KEY, amount INT NOT NULL)")

    @handles("Deposited")
    def deposited(self, data: dict[str, int], tx: Transaction, event: RecordedEvent) -> None:
        tx.execute(
            "INSERT INTO balances VALUES (:a, :n) "
            "ON CONFLICT (account) DO UPDATE SET amount = balances.amount + :n",
            {"a": event.stream.removeprefix("account-"), "n": data["amount"]},
        )


def bank(**urls: str) -> App:
    app = App("bank", **urls)
    app.projection(Balances)

    @app.command(Deposit)
    async def deposit(cmd: Deposit, ctx: Context) -> None:
        event = NewEvent("Deposited", {"amount": cmd.amount})
        await ctx.store.append(f"account-{cmd.account}", [event])

    @app.query(Balance)
    async def balance(q: Balance, ctx: Context) -> int:
        value = await ctx.read_model.fetch_value(
            "SELECT amount FROM balances WHERE account = :a", {"a": q.account}
        )
        return int(value or 0)

    return app


@pytest.mark.asyncio
async def test_projections_run_with_the_app_and_queries_read_them() -> None:
    app = bank(store="memory://", bus="memory://")
    assert [p.name for p in app.projections] == ["balances"]
    async with app.running():
        await app.dispatch(Deposit("a", 5))
        await app.dispatch(Deposit("a", 7))
        await app.settle()
        assert await app.ask(Balance("a")) == 12
        status = await app.projection_instance("balances").status(app.store)
        assert status.lag == 0
        with pytest.raises(UnknownProjectionError):
            app.projection_instance("nope")


@pytest.mark.asyncio
async def test_the_read_model_sits_beside_a_sqlite_store_and_keeps_its_checkpoint(
    tmp_path: Path,
) -> None:
    urls = {"store": f"sqlite:///{tmp_path}/bank.db", "bus": "memory://"}
    app = bank(**urls)
    assert app.read_model_url == f"sqlite:///{tmp_path}/bank-read.db"
    async with app.running():
        await app.dispatch(Deposit("a", 5))
        await app.settle()
    assert (tmp_path / "bank-read.db").exists()
    again = bank(**urls)
    async with again.running():
        await again.dispatch(Deposit("a", 1))
        await again.settle()
        assert await again.ask(Balance("a")) == 6  # each event applied once, across runs
        assert await again.read_model.checkpoint("balances") == 2


def test_a_projection_is_registered_once() -> None:
    app = App("x", store="memory://")
    app.projection(Balances)
    with pytest.raises(ConfigurationError):
        app.projection(Balances)
    with pytest.raises(TypeError):
        app.projection(Deposit)  # type: ignore[arg-type]


class Broken(Projection):
    name = "broken"

    @handles("Deposited")
    def deposited(self, data: dict[str, int], tx: Transaction) -> None:
        raise ValueError("cannot")


@pytest.mark.asyncio
async def test_settle_reports_a_projection_that_stopped() -> None:
    app = bank(store="memory://", bus="memory://")
    app.projection(Broken)
    async with app.running():
        await app.dispatch(Deposit("a", 5))
        with pytest.raises(ProjectionError, match="cannot"):
            await app.settle()


@pytest.mark.asyncio
async def test_a_projection_waits_out_an_outage_of_its_store(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import eventflux.app.app as app_module

    monkeypatch.setattr(app_module, "TASK_RESTART_FIRST", 0.01)
    store = await open_store("memory://")
    real = store.subscribe
    failures: list[int] = []

    def subscribe(**kwargs: Any) -> AsyncIterator[RecordedEvent]:
        if len(failures) < 2:  # a database restarting: the first two runs fail
            failures.append(kwargs.get("after", 0))
            raise StoreUnavailableError("the database could not be reached")
        return real(**kwargs)

    monkeypatch.setattr(store, "subscribe", subscribe)
    caplog.set_level(logging.WARNING, logger="eventflux.app")
    app = bank(store="memory://", bus="memory://")  # its read model in a temporary folder
    try:
        async with app.running(store=store, bus=await open_bus("memory://")):
            await app.dispatch(Deposit("a", 5))
            await app.settle()
            assert await app.ask(Balance("a")) == 5
            assert not app._running.runners["balances"].done()  # type: ignore[union-attr]
    finally:
        await store.close()
    assert len(failures) == 2
    waits = [
        json.loads(r.getMessage())
        for r in caplog.records
        if "projection waits out an outage" in r.getMessage()
    ]
    assert [(w["projection"], w["level"], w["restart_in"]) for w in waits] == [
        ("balances", "warning", 0.01),
        ("balances", "warning", 0.02),
    ]
    assert not [r for r in caplog.records if "projection stopped" in r.getMessage()]
