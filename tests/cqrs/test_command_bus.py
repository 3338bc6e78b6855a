"""The command bus: one handler per type, typed errors, middleware, metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from eventflux import EventfluxError
from eventflux.cqrs import (
    CommandBus,
    HandlerAlreadyRegisteredError,
    Next,
    NoHandlerError,
)
from eventflux.es import current_metadata, metadata_context


@dataclass
class Deposit:
    account: str
    amount: int


@dataclass
class BigDeposit(Deposit):
    pass


@dataclass
class Close:
    account: str


@pytest.mark.asyncio
async def test_sync_and_async_handlers_return_their_results() -> None:
    bus = CommandBus()

    @bus.handler(Deposit)
    async def deposit(command: Deposit) -> str:
        return f"deposited {command.amount}"

    def close(command: Close) -> str:
        return f"closed {command.account}"

    assert bus.register(Close, close) is close
    assert await bus.dispatch(Deposit("a", 5)) == "deposited 5"
    assert await bus.dispatch(Close("a")) == "closed a"
    assert await bus.dispatch(BigDeposit("a", 7)) == "deposited 7"  # nearest base class
    assert bus.message_types == (Deposit, Close)
    assert bus.handles(BigDeposit)
    assert not bus.handles(int)


@pytest.mark.asyncio
async def test_a_second_handler_and_an_unknown_command_are_typed_errors() -> None:
    bus = CommandBus()
    bus.register(Deposit, lambda c: None)
    with pytest.raises(HandlerAlreadyRegisteredError, match="already has a command handler"):
        bus.register(Deposit, lambda c: None)
    with pytest.raises(NoHandlerError, match=r"no command handler .* Close") as info:
        await bus.dispatch(Close("a"))
    assert info.value.message_type is Close
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, EventfluxError)
    with pytest.raises(TypeError):
        bus.register("Deposit", lambda c: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bus.register(Close, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bus.use(42)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_middleware_wraps_every_handler_in_order() -> None:
    trail: list[str] = []

    def tracer(tag: str) -> Any:
        async def mw(command: Any, next: Next) -> Any:
            trail.append(f"{tag}>")
            result = await next(command)
            trail.append(f"<{tag}")
            return f"{tag}({result})"

        return mw

    bus = CommandBus(middleware=[tracer("outer")])
    bus.register(Deposit, lambda c: "ok")
    assert await bus.dispatch(Deposit("a", 1)) == "outer(ok)"
    bus.use(tracer("inner"))  # later dispatches see it too
    assert await bus.dispatch(Deposit("a", 1)) == "outer(inner(ok))"
    assert trail == ["outer>", "<outer", "outer>", "inner>", "<inner", "<outer"]

    async def refuse(command: Any, next: Next) -> Any:
        return "refused"  # a middleware may short-circuit

    short = CommandBus(middleware=[refuse])
    short.register(Deposit, lambda c: pytest.fail("handler must not run"))
    assert await short.dispatch(Deposit("a", 1)) == "refused"


@pytest.mark.asyncio
async def test_dispatch_opens_a_metadata_context_for_the_handler() -> None:
    bus = CommandBus()
    seen: list[dict[str, Any]] = []

    @bus.handler(Deposit)
    async def deposit(command: Deposit) -> None:
        seen.append(dict(current_metadata()))
        if command.amount > 1:  # a nested command keeps the correlation id
            await bus.dispatch(Deposit(command.account, 1))

    await bus.dispatch(Deposit("a", 2), metadata={"user": "ann", "reason": "salary"})
    outer, inner = seen
    assert outer["user"] == "ann"
    assert outer["reason"] == "salary"
    assert outer["command"] == "Deposit"
    assert inner["correlation_id"] == outer["correlation_id"]
    assert inner["causation_id"] != outer["causation_id"]
    assert inner["user"] == "ann"
    assert current_metadata() == {}

    with metadata_context(correlation_id="req-9"):
        await bus.dispatch(Deposit("a", 1))
    assert seen[-1]["correlation_id"] == "req-9"
    await bus.dispatch(Deposit("a", 1), metadata={"correlation_id": "given"})
    assert seen[-1]["correlation_id"] == "given"


@pytest.mark.asyncio
async def test_handler_errors_propagate_unchanged() -> None:
    bus = CommandBus()

    class Boom(EventfluxError):
        pass

    def fail(command: Deposit) -> None:
        raise Boom("no")

    bus.register(Deposit, fail)
    with pytest.raises(Boom, match="no"):
        await bus.dispatch(Deposit("a", 1))
