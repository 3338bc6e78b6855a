"""Snapshots: taken every N events, loaded first, versioned, ignored when unreadable."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.es._es_domain import Account, AccountState, Deposited, Opened, Withdrawn

from eventflux import Codec, EventStore, open_store
from eventflux.es import Aggregate, Repository, apply


async def _account_with(repo: Repository[Account], deposits: int) -> Account:
    account = repo.aggregate_type.open("1", "Ada")
    await repo.save(account)
    for _ in range(deposits):
        account.deposit(1)
        await repo.save(account)
    return account


async def _tamper(store: EventStore, version: int, balance: int) -> None:
    """Overwrite the snapshot with a recognisable balance, to see whether get() uses it."""
    await store.save_snapshot("acct-1", version, AccountState("Ada", balance))


@pytest.mark.asyncio
async def test_a_snapshot_is_taken_every_n_events_and_loaded_first(store: EventStore) -> None:
    accounts = Repository(store, Account, snapshot_every=3)
    await _account_with(accounts, 4)  # versions 1..5: a snapshot at 3
    snap = await store.load_snapshot("acct-1")
    assert snap is not None
    assert (snap.version, snap.type, snap.data) == (3, "AccountState", AccountState("Ada", 2))
    await _tamper(store, 3, 100)
    assert (await accounts.get("1")).balance == 102  # snapshot + versions 4 and 5
    assert (await accounts.get("1", version=4)).balance == 101
    assert (await accounts.get("1", version=3)).balance == 100
    assert (await accounts.get("1", version=2)).balance == 1  # before it: full replay
    # a repository without snapshot_every never reads them
    assert (await Repository(store, Account).get("1")).balance == 4


@pytest.mark.asyncio
async def test_saves_that_cross_a_multiple_snapshot_once(store: EventStore) -> None:
    accounts = Repository(store, Account, snapshot_every=2)
    account = Account.open("1", "Ada")
    for _ in range(4):
        account.deposit(5)
    await accounts.save(account)  # 1 -> 5 in one save
    snap = await store.load_snapshot("acct-1")
    assert snap is not None
    assert snap.version == 5
    account.deposit(1)  # 6: crosses 6
    await accounts.save(account)
    snap = await store.load_snapshot("acct-1")
    assert snap is not None
    assert snap.version == 6
    account.deposit(1)  # 7: no new multiple
    await accounts.save(account)
    snap = await store.load_snapshot("acct-1")
    assert snap is not None
    assert snap.version == 6


@pytest.mark.asyncio
async def test_as_of_uses_the_snapshot_only_when_it_is_not_later(store: EventStore) -> None:
    accounts = Repository(store, Account, snapshot_every=3)
    account = Account.open("1", "Ada")
    account.deposit(10)
    await accounts.save(account)
    await asyncio.sleep(0.002)
    early = datetime.now(UTC)
    await asyncio.sleep(0.002)
    account.deposit(20)
    account.deposit(30)
    await accounts.save(account)  # snapshot at 4
    await _tamper(store, 4, 1000)
    await asyncio.sleep(0.002)
    late = datetime.now(UTC)
    assert (await accounts.get("1", as_of=early)).balance == 10  # replayed: snapshot is later
    assert (await accounts.get("1", as_of=late)).balance == 1000  # the snapshot fits


@pytest.mark.asyncio
async def test_snapshots_upcast_like_events() -> None:
    old, new = Codec(), Codec()
    for c in (old, new):
        c.register("Opened")(Opened)
        c.register("Deposited")(Deposited)
        c.register("Withdrawn")(Withdrawn)

    @old.register("AccountState", version=1)
    @dataclass
    class StateV1:
        owner: str
        balance: int

    @new.register("AccountState", version=2)
    @dataclass
    class StateV2:
        owner: str
        balance: int
        currency: str

    @new.upcaster("AccountState", from_version=1)
    def add_currency(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "balance": data["balance"] * 100, "currency": "EUR"}

    class AccountV1(Account):
        snapshot_type = StateV1
        stream_prefix = "acct"

    class AccountV2(Account):
        snapshot_type = StateV2
        stream_prefix = "acct"

        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.currency = "EUR"

    async with await open_store("memory://", codec=old) as store:
        await _account_with(Repository(store, AccountV1, snapshot_every=2), 4)
        await store.save_snapshot("acct-1", 4, StateV1("Ada", 7))
        store.codec = new  # the next release reads the same storage
        v2 = await Repository(store, AccountV2, snapshot_every=2).get("1")
        assert (v2.balance, v2.currency) == (701, "EUR")  # upcast snapshot + event 5


@pytest.mark.asyncio
async def test_unreadable_snapshots_are_ignored_and_the_stream_replayed() -> None:
    c = Codec()
    for cls in (Opened, Deposited, Withdrawn):
        c.register(cls.__name__)(cls)

    @c.register("AccountState", version=3)
    @dataclass
    class StateV3:
        owner: str
        balance: int

    class AccountV3(Account):
        snapshot_type = StateV3

    async with await open_store("memory://", codec=c) as store:
        accounts = Repository(store, AccountV3, snapshot_every=2)
        await _account_with(accounts, 2)
        # 1. an older schema with no upcaster: DeserializationError -> replay
        await store.backend.save_snapshot("acct-1", 3, "AccountState", b'{"owner":"A"}', 1)
        assert (await accounts.get("1")).balance == 2
        # 2. a newer schema than this code knows: ignored
        await store.backend.save_snapshot(
            "acct-1", 3, "AccountState", b'{"owner":"A","balance":9}', 4
        )
        assert (await accounts.get("1")).balance == 2
        # 3. bytes that are not JSON
        await store.backend.save_snapshot("acct-1", 3, "AccountState", b"\x00garbage", 3)
        assert (await accounts.get("1")).balance == 2
        # 4. another type's state
        await store.save_snapshot("acct-1", 3, {"balance": 9}, type="Other")
        assert (await accounts.get("1")).balance == 2
        # 5. a snapshot whose stream has lost the events after it: replay
        await store.save_snapshot("acct-1", 9, StateV3("A", 9))
        assert (await accounts.get("1")).balance == 2


@pytest.mark.asyncio
async def test_a_snapshot_that_cannot_be_restored_falls_back_to_replay(store: EventStore) -> None:
    class Fragile(Account):
        stream_prefix = "acct"

        def restore(self, state: Any) -> None:
            raise RuntimeError("state shape changed")

    accounts = Repository(store, Fragile, snapshot_every=2)
    await _account_with(accounts, 3)
    assert (await accounts.get("1")).balance == 3


@pytest.mark.asyncio
async def test_snapshot_every_needs_a_state_class(store: EventStore) -> None:
    class Plain(Aggregate):
        @apply
        def _opened(self, event: Opened) -> None:
            pass

    with pytest.raises(TypeError, match="snapshot_type"):
        Repository(store, Plain, snapshot_every=10)
    with pytest.raises(ValueError, match=">= 1"):
        Repository(store, Account, snapshot_every=0)
    with pytest.raises(TypeError, match="int or None"):
        Repository(store, Account, snapshot_every=True)


@pytest.mark.asyncio
async def test_a_failing_snapshot_never_fails_the_save(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    class Unserializable(Account):
        stream_prefix = "acct"

        def snapshot(self) -> Any:
            return object()

    accounts = Repository(store, Unserializable, snapshot_every=1)
    account = await _account_with(accounts, 1)
    assert account.saved_version == 2
    assert await store.load_snapshot("acct-1") is None
    assert "could not snapshot" in caplog.text
