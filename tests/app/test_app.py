"""The App (DESIGN 3.5): registration, dispatch, defaults, running, and the
metadata every hop carries without user code."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eventflux import (
    App,
    AppNotRunningError,
    ConfigurationError,
    Context,
    Message,
    NewEvent,
    NoHandlerError,
    open_bus,
    open_store,
)
from eventflux.testing.bus_contract import eventually


@dataclass(frozen=True)
class Deposit:
    account: str
    amount: int


@dataclass(frozen=True)
class Balance:
    account: str


@dataclass(frozen=True)
class Audit:
    account: str


def memory_app(name: str = "bank") -> App:
    return App(name, store="memory://", bus="memory://")


async def _all(app: App) -> list[Any]:
    return [e async for e in app.store.read_all()]


@pytest.mark.asyncio
async def test_commands_and_queries_dispatch_in_process() -> None:
    app = memory_app()

    @app.command(Deposit)
    async def deposit(cmd: Deposit, ctx: Context) -> int:
        r = await ctx.store.append(
            f"account-{cmd.account}", [NewEvent("Deposited", {"n": cmd.amount})]
        )
        return r.position

    @app.query(Balance)
    async def balance(q: Balance, ctx: Context) -> int:
        return sum([e.data["n"] async for e in ctx.store.read(f"account-{q.account}")])

    async with app.running():
        assert await app.dispatch(Deposit("a", 5)) == 1
        assert await app.dispatch(Deposit("a", 7)) == 2
        assert await app.ask(Balance("a")) == 12
        with pytest.raises(NoHandlerError):
            await app.dispatch(Audit("a"))
        with pytest.raises(NoHandlerError):
            await app.ask(Audit("a"))


def test_a_second_handler_for_a_type_is_a_configuration_error() -> None:
    app = memory_app()

    @app.command(Deposit)
    async def one(cmd: Deposit, ctx: Context) -> None: ...

    with pytest.raises(ConfigurationError):

        @app.command(Deposit)
        async def two(cmd: Deposit, ctx: Context) -> None: ...

    @app.query(Balance)
    def q1(q: Balance) -> int:
        return 0

    with pytest.raises(ConfigurationError):
        app.query(Balance)(q1)


def test_bad_names_and_urls_are_refused() -> None:
    for bad in ("", "has space", "dot.ted", 3):
        with pytest.raises(ConfigurationError):
            App(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        App("x", store=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        memory_app().subscribe("a.b", group="bad group")


@pytest.mark.asyncio
async def test_without_urls_the_files_are_sqlite_files_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVENTFLUX_STORE", raising=False)
    monkeypatch.delenv("EVENTFLUX_BUS", raising=False)
    app = App("orders")
    assert app.store_url.startswith("sqlite:///")
    async with app.running():
        await app.store.append("s", [NewEvent("E", {})])
        await app.bus.publish("x.y", {})
    assert (tmp_path / "eventflux.db").exists()
    assert (tmp_path / "eventflux-bus.db").exists()


@pytest.mark.asyncio
async def test_the_environment_names_the_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTFLUX_STORE", f"sqlite:///{tmp_path}/s.db")
    monkeypatch.setenv("EVENTFLUX_BUS", "memory://")
    app = App("orders")
    async with app.running():
        await app.store.append("s", [NewEvent("E", {})])
    assert (tmp_path / "s.db").exists()
    # a URL given in code wins
    assert App("o", store="memory://").store_url == "memory://"


@pytest.mark.asyncio
async def test_store_and_bus_exist_only_while_running() -> None:
    app = memory_app()
    with pytest.raises(AppNotRunningError):
        _ = app.store
    with pytest.raises(AppNotRunningError):
        _ = app.bus
    async with app.running():
        assert app.store is not None
        with pytest.raises(ConfigurationError):
            async with app.running():
                pass
    with pytest.raises(AppNotRunningError):
        _ = app.bus


@pytest.mark.asyncio
async def test_appends_in_a_command_carry_correlation_causation_and_dispatch_keys() -> None:
    app = memory_app()
    seen: dict[str, Any] = {}

    @app.command(Deposit)
    async def deposit(cmd: Deposit, ctx: Context) -> None:
        seen["metadata"] = dict(ctx.metadata)
        await ctx.store.append(
            "account-a",
            [
                NewEvent("Deposited", {"n": cmd.amount}),
                NewEvent("Noted", {}, metadata={"actor": "system", "note": "own keys win"}),
            ],
        )

    async with app.running():
        await app.dispatch(Deposit("a", 5), metadata={"actor": "ann", "reason": "salary"})
        first, second = await _all(app)
    command_id = seen["metadata"]["causation_id"]
    assert first.metadata == {
        "correlation_id": command_id,  # a new conversation: the command's own id
        "causation_id": command_id,
        "command": "Deposit",
        "actor": "ann",
        "reason": "salary",
    }
    assert second.metadata["actor"] == "system"
    assert second.metadata["note"] == "own keys win"
    assert second.metadata["correlation_id"] == command_id


@pytest.mark.asyncio
async def test_a_given_or_ambient_correlation_id_is_kept_and_each_command_has_its_own_id() -> None:
    app = memory_app()
    ids: list[dict[str, Any]] = []

    @app.command(Deposit)
    async def deposit(cmd: Deposit, ctx: Context) -> None:
        ids.append(dict(ctx.metadata))
        await ctx.store.append("account-a", [NewEvent("Deposited", {})])
        if cmd.amount > 1:
            await ctx.dispatch(Deposit("a", cmd.amount - 1))

    async with app.running():
        await app.dispatch(Deposit("a", 3), metadata={"correlation_id": "req-9", "actor": "ann"})
        events = await _all(app)
    assert [e.metadata["correlation_id"] for e in events] == ["req-9"] * 3
    causes = [e.metadata["causation_id"] for e in events]
    assert len(set(causes)) == 3  # one command id per dispatch
    assert causes == [m["causation_id"] for m in ids]
    assert all(e.metadata["actor"] == "ann" for e in events)  # carried by nested dispatches
    # a nested command keeps the link to what caused it: the outer command
    assert "command_causation_id" not in events[0].metadata
    assert events[1].metadata["command_causation_id"] == causes[0]
    assert events[2].metadata["command_causation_id"] == causes[1]


@pytest.mark.asyncio
async def test_publishes_in_a_command_carry_the_ids_in_headers() -> None:
    app = memory_app()
    got: list[Message] = []

    @app.command(Deposit)
    async def deposit(cmd: Deposit, ctx: Context) -> None:
        await ctx.bus.publish("bank.deposited", {"n": cmd.amount}, headers={"x": "1"})

    async with app.running():
        app.bus.subscribe("bank.*", got.append, group="watch")
        await app.dispatch(Deposit("a", 5), metadata={"correlation_id": "c-1", "actor": "ann"})
        await eventually(lambda: len(got) == 1)
    headers = got[0].headers
    assert headers["correlation_id"] == "c-1"
    assert headers["actor"] == "ann"
    assert headers["x"] == "1"
    assert headers["causation_id"] not in ("c-1", "")


@pytest.mark.asyncio
async def test_a_subscriber_continues_the_message_correlation() -> None:
    app = memory_app()
    contexts: list[dict[str, Any]] = []
    forwarded: list[Message] = []

    @app.command(Deposit)
    async def deposit(cmd: Deposit, ctx: Context) -> None:
        await ctx.store.append("account-a", [NewEvent("Deposited", {})])

    @app.subscribe("payments.received", group="bank")
    async def received(msg: Message, ctx: Context) -> None:
        contexts.append(dict(ctx.metadata))
        assert ctx.message is msg
        await ctx.store.append("ledger", [NewEvent("Received", {})])
        await ctx.bus.publish("payments.booked", {})
        await ctx.dispatch(Deposit("a", 1))

    async with app.running():
        app.bus.subscribe("payments.booked", forwarded.append, group="watch")
        await app.bus.publish(
            "payments.received", {}, msg_id="m-1", headers={"correlation_id": "c-7", "actor": "bob"}
        )
        await app.bus.publish("payments.received", {}, msg_id="m-2")  # no correlation header
        await eventually(lambda: len(forwarded) == 2 and len(contexts) == 2)
        events = await _all(app)
    assert contexts[0] == {"correlation_id": "c-7", "causation_id": "m-1", "actor": "bob"}
    assert contexts[1] == {"correlation_id": "m-2", "causation_id": "m-2"}
    by_cause = {m.headers["causation_id"]: m.headers for m in forwarded}
    assert by_cause["m-1"]["correlation_id"] == "c-7"
    assert by_cause["m-1"]["actor"] == "bob"
    assert by_cause["m-2"]["correlation_id"] == "m-2"
    received_events = [e for e in events if e.type == "Received"]
    assert {e.metadata["causation_id"] for e in received_events} == {"m-1", "m-2"}
    deposits = [e for e in events if e.type == "Deposited"]
    assert {e.metadata["correlation_id"] for e in deposits} == {"c-7", "m-2"}
    assert {e.metadata.get("actor") for e in deposits} == {"bob", None}


@pytest.mark.asyncio
async def test_plain_and_one_argument_handlers_work_too() -> None:
    app = memory_app()
    got: list[str] = []

    @app.command(Deposit)
    def deposit(cmd: Deposit) -> str:
        return f"plain {cmd.amount}"

    @app.query(Balance)
    async def balance(q: Balance) -> str:
        return "async one-arg"

    @app.subscribe("a.b")
    def on_message(msg: Message) -> None:
        got.append(msg.subject)

    assert app.subscriptions[0].group == "bank-on_message"
    async with app.running():
        assert await app.dispatch(Deposit("a", 1)) == "plain 1"
        assert await app.ask(Balance("a")) == "async one-arg"
        await app.bus.publish("a.b", {})
        await eventually(lambda: got == ["a.b"])


@pytest.mark.asyncio
async def test_a_handler_error_propagates_and_writes_only_what_it_wrote() -> None:
    app = memory_app()

    @app.command(Deposit)
    async def deposit(cmd: Deposit, ctx: Context) -> None:
        raise ValueError("no")

    async with app.running():
        with pytest.raises(ValueError, match="no"):
            await app.dispatch(Deposit("a", 1))
        assert await _all(app) == []


@pytest.mark.asyncio
async def test_background_tasks_run_while_the_app_runs_and_stop_with_it() -> None:
    app = memory_app()
    ticks: list[int] = []
    cancelled = asyncio.Event()

    @app.task
    async def ticker(ctx: Context) -> None:
        try:
            while True:
                ticks.append(len(ticks))
                await ctx.bus.publish("ticks", {"n": len(ticks)})
                await asyncio.sleep(0.001)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with app.running():
        await eventually(lambda: len(ticks) >= 3)
    assert cancelled.is_set()


@pytest.mark.asyncio
async def test_a_background_task_that_raises_is_logged_and_runs_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import eventflux.app.app as app_module

    monkeypatch.setattr(app_module, "TASK_RESTART_FIRST", 0.01)
    app = memory_app()
    runs: list[int] = []
    done = asyncio.Event()

    @app.task
    async def flaky(ctx: Context) -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError(f"run {len(runs)} failed")
        done.set()  # the third run returns: the task is done, not run again

    caplog.set_level(logging.ERROR, logger="eventflux.app")
    async with app.running():
        await asyncio.wait_for(done.wait(), 5)
        await asyncio.sleep(0.1)
    assert runs == [0, 1, 2]
    failed = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "eventflux.app" and "task failed" in r.getMessage()
    ]
    assert [(x["task"], x["error"], x["restart_in"]) for x in failed] == [
        ("flaky", "RuntimeError: run 1 failed", 0.01),
        ("flaky", "RuntimeError: run 2 failed", 0.02),
    ]
    assert all(x["level"] == "error" and x["app"] == "bank" for x in failed)


@pytest.mark.asyncio
async def test_apps_can_share_one_store_and_bus() -> None:
    store = await open_store("memory://")
    bus = await open_bus("memory://")
    a, b = memory_app("a"), memory_app("b")
    got: list[str] = []

    @a.subscribe("x", group="a-x")
    async def on_a(msg: Message) -> None:
        got.append("a")

    @b.subscribe("x", group="b-x")
    async def on_b(msg: Message) -> None:
        got.append("b")

    async with a.running(store=store, bus=bus), b.running(store=store, bus=bus):
        assert a.store is b.store is store
        await bus.publish("x", {})
        await eventually(lambda: sorted(got) == ["a", "b"])
        del got[:]
    # both stopped: their members left the shared bus, which stays open
    assert not bus.closed
    assert bus.subscriptions == []
    await bus.close()
    await store.close()
