"""Updates of one aggregate in one process take turns: no conflict, no read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.es._counting import CountingStore
from tests.es._es_domain import Account

from eventflux import ConcurrencyError, EventStore
from eventflux.es import Repository
from eventflux.es.turns import Turns


@pytest.mark.asyncio
async def test_concurrent_updates_of_one_aggregate_wait_their_turn(store: EventStore) -> None:
    counting = CountingStore(store)
    accounts = Repository(counting, Account, cache_size=10)  # type: ignore[arg-type]
    await accounts.save(Account.open("1", "Ada"))
    before = counting.appends

    async def deposit(a: Account) -> int:
        a.deposit(1)
        await asyncio.sleep(0)  # every update starts before the first one is saved
        return a.version

    versions = await asyncio.gather(*(accounts.update("1", deposit) for _ in range(10)))
    # each ran on the version the one before it saved, in the order they came
    assert versions == list(range(2, 12))
    assert (counting.reads, counting.conflicts, counting.appends - before) == (0, 0, 10)
    assert (await Repository(store, Account).get("1")).balance == 10


@pytest.mark.asyncio
async def test_updates_of_several_aggregates_in_any_order_never_deadlock(
    store: EventStore,
) -> None:
    counting = CountingStore(store)
    accounts = Repository(counting, Account, cache_size=10)  # type: ignore[arg-type]
    for i in "abc":
        await accounts.save(Account.open(i, "Ada"))

    def move(pair: list[Account]) -> None:
        pair[0].withdraw(0)
        pair[1].deposit(1)

    work = []
    for _ in range(5):
        work += [
            accounts.update_all(["a", "b"], move),
            accounts.update_all(["b", "a"], move),
            accounts.update_all(["c", "a"], move),
            accounts.update("b", lambda a: a.deposit(1)),
        ]
    await asyncio.wait_for(asyncio.gather(*work), 10)
    assert (counting.reads, counting.conflicts) == (0, 0)
    fresh = Repository(store, Account)
    balances = [(await fresh.get(i)).balance for i in "abc"]
    assert balances == [10, 10, 0]


@pytest.mark.asyncio
async def test_an_update_nested_in_one_of_the_same_aggregate_does_not_wait_for_itself(
    store: EventStore,
) -> None:
    accounts = Repository(store, Account, cache_size=10, patience=30)
    await accounts.save(Account.open("1", "Ada"))

    async def outer(a: Account) -> None:
        await accounts.update("1", lambda inner: inner.deposit(5))  # saved at once
        a.deposit(1)

    # the outer save is then stale: a conflict, not a wait for itself (on the
    # cached copy, then once more on the stored state: the nested one ran twice)
    with pytest.raises(ConcurrencyError):
        await asyncio.wait_for(accounts.update("1", outer, retries=0), 5)
    assert (await Repository(store, Account).get("1")).balance == 10


@pytest.mark.asyncio
async def test_an_update_waits_no_longer_than_its_patience(store: EventStore) -> None:
    accounts = Repository(store, Account, cache_size=10, patience=0.05)
    await accounts.save(Account.open("1", "Ada"))
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow(a: Account) -> None:
        entered.set()
        await gate.wait()
        a.deposit(1)

    first = asyncio.create_task(accounts.update("1", slow))
    await entered.wait()
    # the first one holds its turn until the second is done: the second goes ahead
    await asyncio.wait_for(accounts.update("1", lambda a: a.deposit(5)), 5)
    gate.set()
    await asyncio.wait_for(first, 5)  # stale now: it runs again on the stored state
    assert (await Repository(store, Account).get("1")).balance == 6


@pytest.mark.asyncio
async def test_a_waiting_update_cancelled_keeps_the_order_of_those_after_it() -> None:
    turns = Turns(patience=30)
    order: list[str] = []
    gate = asyncio.Event()

    async def hold(name: str, until: asyncio.Event | None = None) -> None:
        async with turns.take(["k"]):
            order.append(name)
            if until is not None:
                await until.wait()

    first = asyncio.create_task(hold("first", gate))
    await asyncio.sleep(0)
    second = asyncio.create_task(hold("second"))
    await asyncio.sleep(0)
    third = asyncio.create_task(hold("third"))
    await asyncio.sleep(0)
    second.cancel()
    await asyncio.sleep(0.05)
    assert order == ["first"]  # the third still waits for the first
    gate.set()
    await asyncio.wait_for(asyncio.gather(first, third), 5)
    assert second.cancelled()
    assert order == ["first", "third"]
    assert turns.waiting() == 0


@pytest.mark.parametrize("patience", [-1, "1", True, None])
def test_patience_must_be_a_number_of_seconds(patience: Any) -> None:
    with pytest.raises(ValueError, match="patience"):
        Turns(patience)


def test_turns_on_two_event_loops_do_not_wait_for_each_other() -> None:
    turns = Turns(patience=30)
    gate = asyncio.Event()  # bound to the first loop when first awaited

    async def hold() -> None:
        async with turns.take(["k"]):
            await gate.wait()

    async def other_loop() -> str:
        async with turns.take(["k"]):
            return "ran"

    async def first_loop() -> str:
        holder = asyncio.create_task(hold())
        await asyncio.sleep(0)
        # another thread's loop takes a turn of the same key meanwhile
        result = await asyncio.wait_for(asyncio.to_thread(asyncio.run, other_loop()), 5)
        gate.set()
        await holder
        return result

    assert asyncio.run(first_loop()) == "ran"
