"""Events and a ledger projection shared by the cqrs tests (own codec).

The ledger's SQL is portable (``:name`` placeholders, types both databases
know), so the same classes run on the SQLite and the PostgreSQL read model.
:class:`Ledger` has plain handlers only (its batches run on the read model's
writer thread); :class:`AsyncLedger` the same with ``async def`` handlers and
schema (its batches run on the event loop).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from eventflux import Codec, EventStore, NewEvent, RecordedEvent
from eventflux.cqrs import Projection, Transaction, handles

codec = Codec()


@codec.register("Credited")
@dataclass(frozen=True)
class Credited:
    account: str
    amount: int


@codec.register("Debited")
@dataclass(frozen=True)
class Debited:
    account: str
    amount: int


@codec.register("Renamed")
@dataclass(frozen=True)
class Renamed:
    account: str
    name: str


SCHEMA = """
    CREATE TABLE balances (account TEXT PRIMARY KEY, balance BIGINT NOT NULL, name TEXT);
    CREATE INDEX balances_by_balance ON balances (balance);
    CREATE TABLE applied (position BIGINT NOT NULL, type TEXT NOT NULL);
"""


def add(tx: Transaction, account: str, delta: int) -> None:
    tx.execute(
        "INSERT INTO balances (account, balance) VALUES (:account, :delta) "
        "ON CONFLICT (account) DO UPDATE SET balance = balances.balance + excluded.balance",
        {"account": account, "delta": delta},
    )


def note_applied(tx: Transaction, recorded: RecordedEvent) -> None:
    tx.execute(
        "INSERT INTO applied VALUES (:position, :type)",
        {"position": recorded.position, "type": recorded.type},
    )


class Ledger(Projection):
    """Balances per account, and one row per applied event (to count applications)."""

    name = "ledger"
    batch_size = 50

    def create_schema(self, tx: Transaction) -> None:
        tx.script(SCHEMA)

    @handles
    def credited(self, event: Credited, tx: Transaction, recorded: RecordedEvent) -> None:
        add(tx, event.account, event.amount)
        note_applied(tx, recorded)

    @handles
    def debited(self, event: Debited, tx: Transaction, recorded: RecordedEvent) -> None:
        add(tx, event.account, -event.amount)
        note_applied(tx, recorded)

    @handles("Noted")  # a type without a class: its data is a dict
    def noted(self, event: dict[str, str], tx: Transaction) -> None:
        tx.execute(
            "UPDATE balances SET name = :note WHERE account = :account",
            {"note": event["note"], "account": event["account"]},
        )


class AsyncLedger(Ledger):
    """The same ledger with ``async def`` handlers (and schema); the type-name
    handler stays plain: a projection may mix both."""

    name = "ledger"

    async def create_schema(self, tx: Transaction) -> None:
        await asyncio.sleep(0)
        tx.script(SCHEMA)

    @handles
    async def credited(self, event: Credited, tx: Transaction, recorded: RecordedEvent) -> None:
        await asyncio.sleep(0)  # an async handler awaits what the application awaits
        add(tx, event.account, event.amount)
        note_applied(tx, recorded)

    @handles
    async def debited(self, event: Debited, tx: Transaction, recorded: RecordedEvent) -> None:
        add(tx, event.account, -event.amount)
        note_applied(tx, recorded)


async def fill(store: EventStore, n: int, *, accounts: int = 5) -> int:
    """Append n events (credits, every third a debit); returns the last position."""
    position = 0
    for i in range(n):
        account = f"a{i % accounts}"
        data = Debited(account, 1) if i % 3 == 2 else Credited(account, 10)
        result = await store.append(account, [NewEvent(type(data).__name__, data)])
        position = result.position
    return position


def expected_balances(n: int, *, accounts: int = 5) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in range(n):
        account = f"a{i % accounts}"
        out[account] = out.get(account, 0) + (-1 if i % 3 == 2 else 10)
    return out


def merged(*parts: dict[str, int]) -> dict[str, int]:
    """The sum of several balance dicts."""
    out: dict[str, int] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0) + v
    return out
