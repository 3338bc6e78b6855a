"""The repository: load, save with optimistic concurrency, time travel, retries."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from tests.es._es_domain import Account, Deposited, Opened, Overdrawn

from eventflux import ConcurrencyError, EventStore, SerializationError
from eventflux.es import (
    Aggregate,
    AggregateNotFoundError,
    Repository,
    apply,
    metadata_context,
    retry_on_conflict,
)


async def _types(store: EventStore, stream: str) -> list[str]:
    return [e.type async for e in store.read(stream)]


@pytest.mark.asyncio
async def test_save_then_get_rebuilds_the_state(store: EventStore) -> None:
    accounts = Repository(store, Account)
    account = Account.open("1", "Ada")
    account.deposit(30)
    result = await accounts.save(account)
    assert result is not None
    assert (result.first_version, result.last_version) == (1, 2)
    assert account.pending_events == ()
    assert account.saved_version == 2
    assert await accounts.save(account) is None  # nothing pending
    assert accounts.stream_name("1") == "acct-1"
    assert await _types(store, "acct-1") == ["Opened", "Deposited"]
    loaded = await accounts.get("1")
    assert (loaded.owner, loaded.balance, loaded.version, loaded.saved_version) == ("Ada", 30, 2, 2)
    assert await accounts.exists("1")
    assert not await accounts.exists("2")


@pytest.mark.asyncio
async def test_unknown_id_is_a_typed_error(store: EventStore) -> None:
    accounts = Repository(store, Account)
    with pytest.raises(AggregateNotFoundError, match="'nope' not found") as info:
        await accounts.get("nope")
    assert isinstance(info.value, LookupError)
    assert info.value.stream == "acct-nope"


@pytest.mark.asyncio
async def test_default_stream_prefix_is_the_class_name(store: EventStore) -> None:
    class Wallet(Account):
        stream_prefix = None

    wallets = Repository(store, Wallet)
    await wallets.save(Wallet.open("9", "Bo"))
    assert await store.streams() == ["wallet-9"]


@pytest.mark.asyncio
async def test_as_of_and_version_reconstruct_earlier_states(store: EventStore) -> None:
    accounts = Repository(store, Account)
    account = Account.open("1", "Ada")
    await accounts.save(account)
    before_open = datetime.now(UTC) - timedelta(days=1)
    for amount in (10, 20):
        account.deposit(amount)
        await accounts.save(account)
    await asyncio.sleep(0.002)
    middle = datetime.now(UTC)
    await asyncio.sleep(0.002)
    account.deposit(40)
    await accounts.save(account)

    assert (await accounts.get("1", as_of=middle)).balance == 30
    assert (await accounts.get("1", version=2)).balance == 10
    assert (await accounts.get("1", as_of=middle, version=2)).balance == 10
    assert (await accounts.get("1")).balance == 70
    with pytest.raises(AggregateNotFoundError, match="no events as of"):
        await accounts.get("1", as_of=before_open)
    with pytest.raises(AggregateNotFoundError, match="only 4 events"):
        await accounts.get("1", version=5)
    with pytest.raises(ValueError, match="version"):
        await accounts.get("1", version=0)
    with pytest.raises(TypeError):
        await accounts.get("1", as_of=datetime.now())  # naive


@pytest.mark.asyncio
async def test_a_stale_save_raises_and_writes_nothing(store: EventStore) -> None:
    accounts = Repository(store, Account)
    await accounts.save(Account.open("1", "Ada"))
    first, second = await accounts.get("1"), await accounts.get("1")
    first.deposit(5)
    await accounts.save(first)
    second.deposit(7)
    with pytest.raises(ConcurrencyError) as info:
        await accounts.save(second)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert (await accounts.get("1")).balance == 5
    assert len(second.pending_events) == 1  # still pending: reload and retry

    # creating an aggregate that already exists is a conflict too
    with pytest.raises(ConcurrencyError):
        await accounts.save(Account.open("1", "Eve"))


@pytest.mark.asyncio
async def test_update_retries_a_command_on_conflict(store: EventStore) -> None:
    accounts = Repository(store, Account)
    await accounts.save(Account.open("1", "Ada"))
    calls = 0

    def deposit(account: Account) -> int:
        nonlocal calls
        calls += 1
        account.deposit(10)
        if calls == 1:  # a concurrent writer gets in between load and save
            store_task.append(asyncio.ensure_future(accounts.update("1", lambda a: a.deposit(1))))
        return account.balance

    store_task: list[asyncio.Future[None]] = []

    async def racing(account: Account) -> int:
        result = deposit(account)
        if store_task:
            await asyncio.gather(*store_task)
            store_task.clear()
        return result

    assert await accounts.update("1", racing, retries=2) == 11
    assert calls == 2
    assert (await accounts.get("1")).balance == 11

    # many concurrent updates all land
    await asyncio.gather(
        *(accounts.update("1", lambda a: a.deposit(1), retries=50) for _ in range(20))
    )
    assert (await accounts.get("1")).balance == 31


@pytest.mark.asyncio
async def test_update_gives_up_after_its_retries_and_never_retries_domain_errors(
    store: EventStore,
) -> None:
    accounts = Repository(store, Account)
    await accounts.save(Account.open("1", "Ada"))
    attempts = 0

    async def always_conflicting(account: Account) -> None:
        nonlocal attempts
        attempts += 1
        account.deposit(1)
        await store.append("acct-1", [_deposit(1)])  # someone else writes each time

    with pytest.raises(ConcurrencyError):
        await accounts.update("1", always_conflicting, retries=2)
    assert attempts == 3

    attempts = 0

    def overdraw(account: Account) -> None:
        nonlocal attempts
        attempts += 1
        account.withdraw(10_000)

    with pytest.raises(Overdrawn):
        await accounts.update("1", overdraw, retries=5)
    assert attempts == 1
    with pytest.raises(ValueError, match="retries"):
        await retry_on_conflict(lambda: asyncio.sleep(0), retries=-1)


def _deposit(amount: int) -> object:
    from eventflux import NewEvent

    return NewEvent("Deposited", Deposited(amount))


@pytest.mark.asyncio
async def test_save_all_is_all_or_nothing(store: EventStore) -> None:
    accounts = Repository(store, Account)
    await accounts.save_all([Account.open("a", "Ada"), Account.open("b", "Bo")])
    a, b = await accounts.get("a"), await accounts.get("b")
    a.deposit(5)
    b.deposit(6)
    await store.append("acct-b", [_deposit(1)])  # b moved on meanwhile
    with pytest.raises(ConcurrencyError):
        await accounts.save_all([a, b])
    assert (await accounts.get("a")).balance == 0  # neither was written
    assert (await accounts.get("b")).balance == 1
    a, b = await accounts.get("a"), await accounts.get("b")
    a.deposit(5)
    b.deposit(6)
    results = await accounts.save_all([a, b, Account("c")])  # c has nothing pending
    assert sorted(results) == ["a", "b"]
    assert (await accounts.get("b")).balance == 7
    assert await accounts.save_all([]) == {}
    a.deposit(1)
    with pytest.raises(ValueError, match="twice"):
        await accounts.save_all([a, a])


@pytest.mark.asyncio
async def test_metadata_from_the_context_and_the_call(store: EventStore) -> None:
    accounts = Repository(store, Account)
    with metadata_context(user="ann", correlation_id="req-1"):
        with metadata_context({"reason": "opening"}):
            await accounts.save(Account.open("1", "Ada"), metadata={"reason": "new customer"})
        account = await accounts.get("1")
        account.deposit(3)
        await accounts.save(account)
    account.deposit(4)
    await accounts.save(account)
    events = [e async for e in store.read("acct-1")]
    assert events[0].metadata == {
        "user": "ann",
        "correlation_id": "req-1",
        "reason": "new customer",
    }
    assert events[1].metadata == {"user": "ann", "correlation_id": "req-1"}
    assert events[1].correlation_id == "req-1"
    assert events[2].metadata == {}


@pytest.mark.asyncio
async def test_unregistered_event_classes_and_foreign_aggregates_are_refused(
    store: EventStore,
) -> None:
    @dataclass
    class Frozen:
        pass

    class Locker(Aggregate):
        @apply
        def _frozen(self, event: Frozen) -> None:
            pass

    lockers = Repository(store, Locker)
    locker = Locker("l")
    locker.record(Frozen())
    with pytest.raises(SerializationError, match="not registered"):
        await lockers.save(locker)
    with pytest.raises(TypeError, match="holds Locker"):
        await lockers.save(Account.open("x", "y"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an Aggregate"):
        Repository(store, dict)  # type: ignore[type-var]
    # an event stored without a registered class comes back as a dict
    await store.append("acct-raw", [_deposit(1)])
    await store.append("acct-raw", [__import__("eventflux").NewEvent("Mystery", {"x": 1})])
    with pytest.raises(TypeError, match="not registered with the store's codec"):
        await Repository(store, Account).get("raw")
    assert Opened("x") == Opened("x")
