"""The query bus has the command bus's shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from eventflux.cqrs import HandlerAlreadyRegisteredError, Next, NoHandlerError, QueryBus
from eventflux.es import current_metadata


@dataclass(frozen=True)
class GetBalance:
    account: str


@dataclass(frozen=True)
class ListAccounts:
    pass


@pytest.mark.asyncio
async def test_queries_route_to_their_one_handler() -> None:
    balances = {"a": 5}
    queries = QueryBus()

    @queries.handler(GetBalance)
    def get_balance(query: GetBalance) -> int | None:
        return balances.get(query.account)

    assert await queries.dispatch(GetBalance("a")) == 5
    assert await queries.dispatch(GetBalance("z")) is None
    with pytest.raises(HandlerAlreadyRegisteredError, match="query handler"):
        queries.register(GetBalance, get_balance)
    with pytest.raises(NoHandlerError, match="no query handler"):
        await queries.dispatch(ListAccounts())


@pytest.mark.asyncio
async def test_query_middleware_sees_the_callers_metadata() -> None:
    seen: list[Any] = []

    async def spy(query: Any, next: Next) -> Any:
        seen.append(current_metadata().get("user"))
        return await next(query)

    queries = QueryBus(middleware=[spy])
    queries.register(ListAccounts, lambda q: ["a"])
    assert await queries.dispatch(ListAccounts(), metadata={"user": "ann"}) == ["a"]
    assert await queries.dispatch(ListAccounts()) == ["a"]
    assert seen == ["ann", None]


def test_both_buses_are_dispatchers_and_no_name_is_shared_with_the_broker() -> None:
    import eventflux
    import eventflux.bus
    import eventflux.cqrs as cqrs
    from eventflux.cqrs import CommandBus, Dispatcher

    assert issubclass(QueryBus, Dispatcher)
    assert issubclass(CommandBus, Dispatcher)
    public = {n for n in cqrs.__all__ if not n.endswith("Error")}  # errors are re-exported
    for other in (eventflux.__all__, eventflux.bus.__all__):
        assert not public & set(other), public & set(other)
    assert not hasattr(cqrs, "MessageBus")
