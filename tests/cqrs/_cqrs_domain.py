"""Events and a ledger projection shared by the cqrs tests (own codec)."""

from __future__ import annotations

from dataclasses import dataclass

from eventflux import Codec, EventStore, NewEvent, RecordedEvent
from eventflux.cqrs import Projection, SQLiteTransaction, handles

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


class Ledger(Projection[SQLiteTransaction]):
    """Balances per account, and one row per applied event (to count applications)."""

    name = "ledger"
    batch_size = 50

    def create_schema(self, tx: SQLiteTransaction) -> None:
        tx.script(
            """
            CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL,
                                   name TEXT);
            CREATE INDEX balances_by_balance ON balances (balance);
            CREATE TABLE applied (position INTEGER NOT NULL, type TEXT NOT NULL);
            """
        )

    def _add(self, tx: SQLiteTransaction, account: str, delta: int) -> None:
        tx.execute(
            "INSERT INTO balances (account, balance) VALUES (?, ?) "
            "ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance",
            (account, delta),
        )

    @handles
    def credited(self, event: Credited, tx: SQLiteTransaction, recorded: RecordedEvent) -> None:
        self._add(tx, event.account, event.amount)
        tx.execute("INSERT INTO applied VALUES (?, ?)", (recorded.position, recorded.type))

    @handles
    async def debited(self, event: Debited, tx: SQLiteTransaction, recorded: RecordedEvent) -> None:
        self._add(tx, event.account, -event.amount)
        tx.execute("INSERT INTO applied VALUES (?, ?)", (recorded.position, recorded.type))

    @handles("Noted")  # a type without a class: its data is a dict
    def noted(self, event: dict[str, str], tx: SQLiteTransaction) -> None:
        tx.execute(
            "UPDATE balances SET name = ? WHERE account = ?", (event["note"], event["account"])
        )


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
