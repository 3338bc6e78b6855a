"""The bank demo's application: commands, queries, the accounts projection, wiring.

Commands go through a :class:`~eventflux.cqrs.CommandBus` (logging,
authorization and validation middleware), change :class:`Account` aggregates
through a repository, and are stamped with who/why/correlation metadata.
Queries read the ``bank-accounts`` read model, or the event store for time
travel and the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec

from ..cqrs import (
    CommandBus,
    Projection,
    QueryBus,
    SQLiteReadModel,
    SQLiteTransaction,
    authorization_middleware,
    handles,
    logging_middleware,
    validation_middleware,
)
from ..es import Repository, retry_on_conflict
from ..events import RecordedEvent, uuid7
from ..store import EventStore
from ._bank_domain import (
    Account,
    AccountOpened,
    MoneyDeposited,
    MoneyWithdrawn,
    TransferReceived,
    TransferSent,
)

Amount = Annotated[int, msgspec.Meta(gt=0)]
AccountId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


# -- commands ---------------------------------------------------------------------
@dataclass(frozen=True)
class OpenAccount:
    account_id: AccountId
    owner: Annotated[str, msgspec.Meta(min_length=1)]
    initial_deposit: Annotated[int, msgspec.Meta(ge=0)] = 0


@dataclass(frozen=True)
class Deposit:
    account_id: AccountId
    amount: Amount


@dataclass(frozen=True)
class Withdraw:
    account_id: AccountId
    amount: Amount


@dataclass(frozen=True)
class Transfer:
    from_account: AccountId
    to_account: AccountId
    amount: Amount


# -- queries ----------------------------------------------------------------------
@dataclass(frozen=True)
class GetBalance:
    """The balance now (read model), or as of an earlier time (event store)."""

    account_id: str
    as_of: datetime | None = None


@dataclass(frozen=True)
class ListAccounts:
    pass


@dataclass(frozen=True)
class GetAuditTrail:
    account_id: str


@dataclass(frozen=True)
class AuditEntry:
    """One change of an account: what, when, who, why, and its correlation id."""

    version: int
    at: datetime
    what: str
    amount: int
    who: str
    why: str
    correlation_id: str


# -- the read model -----------------------------------------------------------------
class AccountsView(Projection[SQLiteTransaction]):
    """Balances of every account, for fast queries."""

    name = "bank-accounts"

    def create_schema(self, tx: SQLiteTransaction) -> None:
        tx.execute(
            "CREATE TABLE accounts (id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
            "balance INTEGER NOT NULL, changes INTEGER NOT NULL, updated_at TEXT NOT NULL)"
        )

    @handles
    def opened(self, event: AccountOpened, tx: SQLiteTransaction, e: RecordedEvent) -> None:
        tx.execute(
            "INSERT INTO accounts VALUES (?, ?, 0, 1, ?)",
            (_account_id(e), event.owner, e.recorded_at.isoformat()),
        )

    def _change(self, tx: SQLiteTransaction, e: RecordedEvent, delta: int) -> None:
        tx.execute(
            "UPDATE accounts SET balance = balance + ?, changes = changes + 1, updated_at = ? "
            "WHERE id = ?",
            (delta, e.recorded_at.isoformat(), _account_id(e)),
        )

    @handles
    def credited(
        self, event: MoneyDeposited | TransferReceived, tx: SQLiteTransaction, e: RecordedEvent
    ) -> None:
        self._change(tx, e, event.amount)

    @handles
    def debited(
        self, event: MoneyWithdrawn | TransferSent, tx: SQLiteTransaction, e: RecordedEvent
    ) -> None:
        self._change(tx, e, -event.amount)


def _account_id(e: RecordedEvent) -> str:
    return e.stream.removeprefix("account-")


def _describe(e: RecordedEvent) -> tuple[str, int]:
    data = e.data
    if isinstance(data, AccountOpened):
        return f"opened for {data.owner}", 0
    if isinstance(data, MoneyDeposited):
        return "deposit", data.amount
    if isinstance(data, MoneyWithdrawn):
        return "withdrawal", -data.amount
    if isinstance(data, TransferSent):
        return f"transfer to {data.to_account}", -data.amount
    if isinstance(data, TransferReceived):
        return f"transfer from {data.from_account}", data.amount
    return e.type, 0


def may_run(command: Any, meta: Mapping[str, Any]) -> bool:
    """The demo's policy: every command needs a known user; opening needs a teller."""
    if not meta.get("user"):
        return False
    if isinstance(command, OpenAccount):
        return "teller" in meta.get("roles", ())
    return True


class Bank:
    """The bank application: a command bus, a query bus, a repository, a projection."""

    def __init__(
        self,
        store: EventStore,
        model: SQLiteReadModel,
        *,
        snapshot_every: int = 50,
        cache_size: int = 1000,
    ) -> None:
        self.store = store
        self.model = model
        self.accounts = Repository(
            store, Account, snapshot_every=snapshot_every, cache_size=cache_size
        )
        self.view = AccountsView(model)
        self.commands = CommandBus(
            middleware=[
                logging_middleware(),
                authorization_middleware(may_run),
                validation_middleware(),
            ]
        )
        self.queries = QueryBus(middleware=[logging_middleware()])
        c, q = self.commands, self.queries
        c.register(OpenAccount, self.open_account)
        c.register(Deposit, self.deposit)
        c.register(Withdraw, self.withdraw)
        c.register(Transfer, self.transfer)
        q.register(GetBalance, self.balance)
        q.register(ListAccounts, self.list_accounts)
        q.register(GetAuditTrail, self.audit_trail)

    # -- command handlers -----------------------------------------------------------
    async def open_account(self, command: OpenAccount) -> None:
        account = Account.open(command.account_id, command.owner, command.initial_deposit)
        await self.accounts.save(account)

    async def deposit(self, command: Deposit) -> int:
        def deposit(account: Account) -> int:
            account.deposit(command.amount)
            return account.balance

        return await self.accounts.update(command.account_id, deposit)

    async def withdraw(self, command: Withdraw) -> int:
        def withdraw(account: Account) -> int:
            account.withdraw(command.amount)
            return account.balance

        return await self.accounts.update(command.account_id, withdraw)

    async def transfer(self, command: Transfer) -> str:
        """Debit one account and credit the other in one transaction: both or neither."""
        transfer_id = str(uuid7())

        async def attempt() -> None:
            source = await self.accounts.get(command.from_account)
            target = await self.accounts.get(command.to_account)
            source.send(transfer_id, target.id, command.amount)
            target.receive(transfer_id, source.id, command.amount)
            await self.accounts.save_all([source, target])

        await retry_on_conflict(attempt, retries=3)
        return transfer_id

    # -- query handlers -------------------------------------------------------------
    async def balance(self, query: GetBalance) -> int | None:
        if query.as_of is not None:  # time travel: rebuild the account from its events
            return (await self.accounts.get(query.account_id, as_of=query.as_of)).balance
        value = self.model.fetch_value(
            "SELECT balance FROM accounts WHERE id = ?", (query.account_id,)
        )
        return None if value is None else int(value)

    async def list_accounts(self, query: ListAccounts) -> list[dict[str, Any]]:
        return self.model.fetch_all("SELECT id, owner, balance, changes FROM accounts ORDER BY id")

    async def audit_trail(self, query: GetAuditTrail) -> list[AuditEntry]:
        """Every change of an account, read from the event store with its metadata."""
        entries: list[AuditEntry] = []
        async for e in self.store.read(self.accounts.stream_name(query.account_id)):
            what, amount = _describe(e)
            meta = e.metadata
            entries.append(
                AuditEntry(
                    e.version,
                    e.recorded_at,
                    what,
                    amount,
                    str(meta.get("user", "?")),
                    str(meta.get("reason", "")),
                    str(e.correlation_id),
                )
            )
        return entries

    async def settle(self) -> None:
        """Wait until the read model shows every stored event."""
        await self.view.wait_for(await self.store.last_position())
