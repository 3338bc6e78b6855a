"""The bank demo: its scenario and its behaviour, failure paths included, with
the read model on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.cqrs._places import ReadPlace

from eventflux import App, ConcurrencyError, NewEvent
from eventflux.cqrs import NotAuthorizedError, ValidationError
from eventflux.demos import bank as demo
from eventflux.demos.bank import (
    AccountsView,
    Deposit,
    GetAuditTrail,
    GetBalance,
    ListAccounts,
    OpenAccount,
    Transfer,
    Withdraw,
    make_app,
)
from eventflux.demos.bank.domain import (
    Account,
    InsufficientFunds,
    InvalidAmount,
    MoneyDeposited,
    SameAccountTransfer,
    TransferReceived,
    TransferSent,
)
from eventflux.es import AggregateNotFoundError, Repository

TELLER = {"user": "ann", "roles": ["teller"], "reason": "new customer"}


@pytest_asyncio.fixture
async def bank(tmp_path: Path, place: ReadPlace) -> AsyncIterator[App]:
    app = make_app(
        store=f"sqlite:///{tmp_path}/bank-events.db",
        bus="memory://",
        read_model=place.url,
        snapshot_every=5,
    )
    async with app.running():
        await app.dispatch(OpenAccount("alice", "Alice", 100), metadata=TELLER)
        await app.dispatch(OpenAccount("bob", "Bob", 20), metadata=TELLER)
        yield app


async def _balances(app: App) -> tuple[int, int]:
    accounts = Repository(app.store, Account)  # no cache: read from the store
    return (await accounts.get("alice")).balance, (await accounts.get("bob")).balance


@pytest.mark.asyncio
async def test_the_scenario_tells_what_happened(tmp_path: Path, place: ReadPlace) -> None:
    on_sqlite = place.kind == "sqlite"
    lines = await demo.run(tmp_path, read_url=None if on_sqlite else place.url)
    text = "\n".join(lines)
    assert demo.TITLE
    assert "alice deposited 50 EUR (salary): balance 150 EUR" in text
    assert "withdrawal of 500 EUR was refused: InsufficientFunds" in text
    assert "alice transferred 70 EUR to bob (rent), on both accounts: alice 80 EUR, bob 90" in text
    assert "transfer of 1000 EUR failed: InsufficientFunds" in text
    assert "transfer to carol failed: AggregateNotFoundError" in text
    assert text.count("neither account changed: alice 80 EUR, bob 90 EUR") == 2
    assert "anonymous withdrawal was refused: NotAuthorizedError" in text
    assert "negative deposit was refused: ValidationError" in text
    assert "alice's balance now: 80 EUR" in text
    assert "before the transfer: 150 EUR" in text
    assert "lag 0" in text
    assert "audit trail of alice" in text
    assert "transfer to bob -70 EUR by alice (rent) correlation" in text
    if on_sqlite:  # a second run in the same folder starts afresh
        assert len(await demo.run(tmp_path)) == len(lines)


@pytest.mark.asyncio
async def test_overdrawing_is_refused_and_writes_nothing(bank: App) -> None:
    version = await bank.store.stream_version("account-bob")
    with pytest.raises(InsufficientFunds, match="holds 20 EUR and cannot pay out 21") as info:
        await bank.dispatch(Withdraw("bob", 21), metadata={"user": "bob"})
    assert (info.value.balance, info.value.amount) == (20, 21)
    assert await bank.store.stream_version("account-bob") == version
    assert await bank.dispatch(Withdraw("bob", 20), metadata={"user": "bob"}) == 0
    with pytest.raises(InvalidAmount):
        Account.open("x", "X").deposit(0)


@pytest.mark.asyncio
async def test_a_transfer_happens_on_both_accounts_or_on_neither(
    bank: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    send = bank.dispatch
    await send(Transfer("alice", "bob", 30), metadata={"user": "alice"})
    assert await _balances(bank) == (70, 50)

    for bad, error in (
        (Transfer("bob", "alice", 51), InsufficientFunds),
        (Transfer("alice", "nobody", 1), AggregateNotFoundError),
        (Transfer("nobody", "alice", 1), AggregateNotFoundError),
        (Transfer("alice", "alice", 1), SameAccountTransfer),
    ):
        with pytest.raises(error):
            await send(bad, metadata={"user": "alice"})
        assert await _balances(bank) == (70, 50)

    # someone keeps changing bob between our load and our save: the retries run out
    real_save_all = Repository.save_all
    raced = 0

    async def racing_save_all(self: Repository[Account], aggregates: Any, **kw: Any) -> Any:
        nonlocal raced
        raced += 1  # another writer deposits on bob meanwhile
        await bank.store.append("account-bob", [NewEvent("bank.MoneyDeposited", MoneyDeposited(1))])
        return await real_save_all(self, aggregates, **kw)

    monkeypatch.setattr(Repository, "save_all", racing_save_all)
    with pytest.raises(ConcurrencyError):
        await send(Transfer("alice", "bob", 5), metadata={"user": "alice"})
    monkeypatch.undo()
    assert raced == 1 + 1 + 3  # the try on cached copies, then the first load and 3 retries
    # alice unchanged: nothing of the transfer landed
    assert await _balances(bank) == (70, 50 + raced)
    alice_events = [e.data async for e in bank.store.read("account-alice")]
    assert sum(isinstance(e, TransferSent) for e in alice_events) == 1


@pytest.mark.asyncio
async def test_concurrent_transfers_conserve_money(bank: App) -> None:
    send = bank.dispatch
    await send(Deposit("bob", 80), metadata={"user": "bob"})

    async def transfer(i: int) -> str:
        source, target = ("alice", "bob") if i % 2 else ("bob", "alice")
        try:
            await send(Transfer(source, target, 7), metadata={"user": source})
        except (ConcurrencyError, InsufficientFunds) as e:
            return type(e).__name__
        return "ok"

    outcomes = await asyncio.gather(*(transfer(i) for i in range(20)))
    assert "ok" in outcomes
    alice, bob = await _balances(bank)
    assert alice + bob == 200
    assert min(alice, bob) >= 0
    sent: dict[str, int] = {}
    received: dict[str, int] = {}
    for stream in ("account-alice", "account-bob"):
        async for e in bank.store.read(stream):
            if isinstance(e.data, TransferSent):
                sent[e.data.transfer_id] = e.data.amount
            elif isinstance(e.data, TransferReceived):
                received[e.data.transfer_id] = e.data.amount
    assert sent == received
    # snapshots (every 5 events) do not change what a load returns
    assert (await Repository(bank.store, Account).get("alice")).balance == alice
    assert await bank.store.load_snapshot("account-alice") is not None


@pytest.mark.asyncio
async def test_balance_now_and_as_of_an_earlier_time(bank: App) -> None:
    await asyncio.sleep(0.005)
    early = datetime.now(UTC)
    await asyncio.sleep(0.005)
    await bank.dispatch(Deposit("alice", 25), metadata={"user": "alice"})
    await bank.settle()
    ask = bank.ask
    assert await ask(GetBalance("alice")) == 125
    assert await ask(GetBalance("alice", as_of=early)) == 100
    assert await ask(GetBalance("nobody")) is None
    with pytest.raises(AggregateNotFoundError):
        await ask(GetBalance("alice", as_of=datetime(1999, 1, 1, tzinfo=UTC)))
    assert await ask(ListAccounts()) == [
        {"id": "alice", "owner": "Alice", "balance": 125, "changes": 3},
        {"id": "bob", "owner": "Bob", "balance": 20, "changes": 2},
    ]


@pytest.mark.asyncio
async def test_the_audit_trail_says_who_when_why_and_correlates_transfers(bank: App) -> None:
    await bank.dispatch(Transfer("alice", "bob", 10), metadata={"user": "alice", "reason": "lunch"})
    alice = await bank.ask(GetAuditTrail("alice"))
    bob = await bank.ask(GetAuditTrail("bob"))
    assert [(e.version, e.what, e.amount, e.who, e.why) for e in alice] == [
        (1, "opened for Alice", 0, "ann", "new customer"),
        (2, "deposit", 100, "ann", "new customer"),
        (3, "transfer to bob", -10, "alice", "lunch"),
    ]
    assert alice[0].correlation_id == alice[1].correlation_id  # one command, two events
    assert alice[2].correlation_id == bob[-1].correlation_id  # both sides of the transfer
    assert alice[2].correlation_id != alice[0].correlation_id
    assert alice[0].at <= alice[2].at
    assert bob[-1].what == "transfer from alice"
    assert await bank.ask(GetAuditTrail("nobody")) == []


@pytest.mark.asyncio
async def test_policy_and_validation(bank: App) -> None:
    send = bank.dispatch
    with pytest.raises(NotAuthorizedError, match="bob may not run OpenAccount"):
        await send(OpenAccount("carol", "Carol"), metadata={"user": "bob"})
    with pytest.raises(NotAuthorizedError):
        await send(Deposit("alice", 1))
    with pytest.raises(ValidationError, match="amount"):
        await send(Deposit("alice", 0), metadata={"user": "alice"})
    with pytest.raises(ValidationError, match="owner"):
        await send(OpenAccount("carol", ""), metadata=TELLER)
    with pytest.raises(ConcurrencyError):  # the account exists already
        await send(OpenAccount("alice", "Alice again"), metadata=TELLER)


@pytest.mark.asyncio
async def test_the_apps_projection_rebuilds_the_read_model(
    bank: App, place: ReadPlace, tmp_path: Path
) -> None:
    await bank.settle()
    url = f"sqlite:///{tmp_path}/bank-events.db"
    assert make_app(store=url).read_model_url == f"sqlite:///{tmp_path}/bank-read.db"  # beside it
    projection = AccountsView(place.open())  # the same class, on the test's read model
    assert await projection.rebuild(bank.store) == await bank.store.last_position()
    assert await bank.ask(GetBalance("bob")) == 20
    await projection.model.close()
