"""The repository's aggregate cache: fewer reads, never stale results."""

from __future__ import annotations

from typing import Any

import pytest
from tests.es._counting import CountingStore
from tests.es._es_domain import Account, Overdrawn

from eventflux import AggregateNotFoundError, EventStore, StoreUnavailableError
from eventflux.es import Repository
from eventflux.es.cache import AggregateCache


@pytest.mark.asyncio
async def test_get_reads_only_what_came_after_the_cached_version(store: EventStore) -> None:
    counting = CountingStore(store)
    accounts = Repository(counting, Account, cache_size=10)  # type: ignore[arg-type]
    other = Repository(store, Account)  # another process, say
    account = Account.open("1", "Ada")
    account.deposit(10)
    await accounts.save(account)
    assert (await accounts.get("1")).balance == 10
    loaded = await other.get("1")
    loaded.deposit(5)
    await other.save(loaded)
    reads = counting.reads
    fresh = await accounts.get("1")
    assert (fresh.balance, fresh.version) == (15, 3)  # the cached copy, caught up
    assert counting.reads == reads + 1
    # what a caller does with its copy never reaches the cache
    fresh.deposit(1000)
    assert (await accounts.get("1")).balance == 15
    # time travel bypasses the cache
    assert (await accounts.get("1", version=2)).balance == 10


@pytest.mark.asyncio
async def test_update_decides_on_the_cache_without_reading(store: EventStore) -> None:
    counting = CountingStore(store)
    accounts = Repository(counting, Account, cache_size=10)  # type: ignore[arg-type]
    await accounts.save(Account.open("1", "Ada"))
    reads = counting.reads
    for _ in range(5):
        await accounts.update("1", lambda a: a.deposit(2))
    assert counting.reads == reads  # no reads at all
    assert (await Repository(store, Account).get("1")).balance == 10


@pytest.mark.asyncio
async def test_a_stale_cache_never_changes_the_outcome(store: EventStore) -> None:
    accounts = Repository(store, Account, cache_size=10)
    other = Repository(store, Account)
    await accounts.save(Account.open("1", "Ada"))
    await accounts.get("1")  # cached at balance 0

    loaded = await other.get("1")
    loaded.deposit(100)
    await other.save(loaded)
    # refused on the stale copy (balance 0), allowed on the stored state (100)
    calls: list[int] = []

    def withdraw(account: Account) -> int:
        calls.append(account.balance)
        account.withdraw(60)
        return account.balance

    assert await accounts.update("1", withdraw, retries=0) == 40
    assert calls == [0, 100]

    loaded = await other.get("1")
    loaded.deposit(1)
    await other.save(loaded)
    # a stale copy that allows the command: the save conflicts, then it runs again
    calls.clear()

    def deposit(account: Account) -> int:
        calls.append(account.balance)
        account.deposit(5)
        return account.balance

    assert await accounts.update("1", deposit, retries=0) == 46
    assert calls == [40, 41]
    assert (await other.get("1")).balance == 46
    with pytest.raises(Overdrawn):  # a refusal on the stored state still propagates
        await accounts.update("1", lambda a: a.withdraw(10_000))


@pytest.mark.asyncio
async def test_a_failure_after_the_append_never_runs_the_command_twice(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = Repository(store, Account, snapshot_every=1, cache_size=10)
    await accounts.save(Account.open("1", "Ada"))

    async def broken(*args: Any, **kw: Any) -> None:
        raise StoreUnavailableError("snapshot table is gone")

    monkeypatch.setattr(store, "save_snapshot", broken)
    calls = 0

    def deposit(account: Account) -> None:
        nonlocal calls
        calls += 1
        account.deposit(5)

    await accounts.update("1", deposit)  # the snapshot fails quietly after the append
    assert calls == 1
    assert (await Repository(store, Account).get("1")).balance == 5


def test_the_cache_is_bounded_and_private() -> None:
    cache: AggregateCache[Account] = AggregateCache(2)
    accounts = [Account.open(str(i), "x") for i in range(3)]
    for a in accounts:
        a.collect_events()  # stored, say
        cache.put(a)
    assert len(cache) == 2
    assert cache.take("0") is None  # the least recently used went first
    copy = cache.take("1")
    assert copy is not None
    assert copy is not accounts[1]
    assert copy.owner == "x"
    pending = Account.open("9", "y")
    cache.put(pending)  # has pending events: not cached
    assert cache.take("9") is None
    cache.drop("1")
    assert cache.take("1") is None
    with pytest.raises(ValueError, match="cache_size"):
        AggregateCache(-1)
    assert len(AggregateCache[Account](0)) == 0


def _move(amount: int) -> Any:
    """A command for update_all: move ``amount`` from the first account to the second."""

    def move(pair: list[Account]) -> int:
        source, target = pair
        source.withdraw(amount)
        target.deposit(amount)
        return source.balance

    return move


@pytest.mark.asyncio
async def test_update_all_decides_on_the_cached_copies_without_reading(store: EventStore) -> None:
    counting = CountingStore(store)
    accounts = Repository(counting, Account, cache_size=10)  # type: ignore[arg-type]
    ada = Account.open("1", "Ada")
    ada.deposit(50)
    await accounts.save(ada)
    await accounts.save(Account.open("2", "Bob"))
    reads = counting.reads
    for _ in range(5):
        await accounts.update_all(["1", "2"], _move(10))
    assert counting.reads == reads  # no reads at all
    stored = Repository(store, Account)
    assert [(await stored.get(i)).balance for i in ("1", "2")] == [0, 50]
    with pytest.raises(Overdrawn):  # refused on the copies, then on the stored state
        await accounts.update_all(["1", "2"], _move(1))
    assert [(await stored.get(i)).balance for i in ("1", "2")] == [0, 50]


@pytest.mark.asyncio
async def test_update_all_with_a_stale_copy_runs_again_on_the_stored_state(
    store: EventStore,
) -> None:
    accounts = Repository(store, Account, cache_size=10)
    other = Repository(store, Account)  # another process, say
    await accounts.save(Account.open("1", "Ada"))
    await accounts.save(Account.open("2", "Bob"))
    loaded = await other.get("1")
    loaded.deposit(100)
    await other.save(loaded)  # the cached "1" is stale now (balance 0)
    calls: list[int] = []

    def move(pair: list[Account]) -> None:
        calls.append(pair[0].balance)
        _move(30)(pair)

    await accounts.update_all(["1", "2"], move, retries=0)  # refused on the stale copy
    assert calls == [0, 100]
    loaded = await other.get("2")
    loaded.deposit(1)
    await other.save(loaded)  # "2" is stale: the save of the copies conflicts
    calls.clear()
    await accounts.update_all(["1", "2"], move, retries=0)
    assert calls == [70, 70]
    assert [(await other.get(i)).balance for i in ("1", "2")] == [40, 61]


@pytest.mark.asyncio
async def test_update_all_saves_all_or_nothing_and_refuses_bad_ids(store: EventStore) -> None:
    accounts = Repository(store, Account, cache_size=10)
    await accounts.save(Account.open("1", "Ada"))
    with pytest.raises(AggregateNotFoundError):
        await accounts.update_all(["1", "nobody"], _move(0))
    with pytest.raises(ValueError, match="must differ"):
        await accounts.update_all(["1", "1"], _move(0))
    with pytest.raises(ValueError, match="at least one"):
        await accounts.update_all([], _move(0))
    assert (await accounts.get("1")).version == 1  # nothing was written
