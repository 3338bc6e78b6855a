"""Recording an emitter: each emit and listener call becomes an arrow; nothing
changes for emitters that are not recorded."""

from __future__ import annotations

import asyncio

import pytest

from eventflux import AsyncEventEmitter, EventEmitter
from eventflux.demos.emitter_scenarios import chat_sequence_diagram, run_chat
from eventflux.observability.emitter import record


def test_the_chat_scenario_draws_the_founding_documents_diagram() -> None:
    diagram = chat_sequence_diagram()
    lines = diagram.splitlines()
    assert lines[:5] == [
        "sequenceDiagram",
        "    participant P0 as User",
        "    participant P1 as ChatApp",
        "    participant P2 as EventEmitter",
        "    participant P3 as MessageService",
    ]
    assert lines[5:8] == [
        "    P0->>P1: join",
        "    P1->>P2: emit user.joined",
        "    P2-->>P3: on_join",
    ]
    assert "    P2-->>P3: on_message" in lines
    assert "    P1->>P2: emit error" in lines
    assert run_chat()[2] == "#general <ada> Hello!"  # recording changed nothing


class Shop:
    def __init__(self) -> None:
        self.events = EventEmitter(wildcard=True)

    def order(self, n: int) -> None:
        self.events.emit("order.created", n)
        self.events.emit("order.paid", n)


class Mailer:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def send(self, n: int) -> None:
        self.sent.append(n)


def test_once_wildcard_and_plain_function_listeners_are_drawn_by_owner() -> None:
    shop, mailer = Shop(), Mailer()
    shop.events.once("order.created", mailer.send)
    calls: list[str] = []

    def audit(n: int) -> None:
        calls.append("audit")

    shop.events.on("order.*", audit)
    with record(shop.events, origin="Client", names={shop.events: "bus"}) as rec:
        shop.order(1)
        shop.order(2)
    assert mailer.sent == [1]
    assert calls == ["audit"] * 4
    assert rec.participants() == ["Client", "Shop", "bus", "Mailer", "audit"]
    kinds = [s.kind for s in rec.steps]
    # one call arrow per method call, an emit arrow per emit, one per listener call
    assert kinds.count("call") == 2
    assert kinds.count("emit") == 4
    assert kinds.count("listener") == 5


def test_stopping_restores_the_untraced_emit_and_errors_still_carry_notes() -> None:
    em = EventEmitter()

    def boom() -> None:
        raise ValueError("no")

    em.on("x", boom)
    rec = record(em)
    assert "emit" in vars(em)
    with pytest.raises(ValueError, match="no") as info:
        em.emit("x")
    assert any("raised by listener" in note for note in info.value.__notes__)
    with pytest.raises(ValueError, match="boom"):
        em.emit("error", ValueError("boom"))
    rec.stop()
    assert "emit" not in vars(em)  # no cost once stopped: the class's emit again
    assert [s.label for s in rec.steps if s.kind == "listener"] == ["boom"]
    with pytest.raises(TypeError):
        record(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        record()


@pytest.mark.asyncio
async def test_an_async_emitter_is_recorded_with_its_tasks_scheduled() -> None:
    em = AsyncEventEmitter()
    done: list[int] = []

    async def pay(n: int) -> None:
        await asyncio.sleep(0)
        done.append(n)

    em.on("order", pay)
    with record(em) as rec:
        em.emit("order", 1)
        await em.emit_async("order", 2)
        await em.wait_for_complete()
    assert sorted(done) == [1, 2]
    assert rec.participants() == ["User", "AsyncEventEmitter", "pay"]
    assert "emit_async" not in vars(em)
